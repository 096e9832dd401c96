/* SPDX-License-Identifier: MIT */
/* TSC detection (CPUID invariant-TSC bit, as the loader cached it) and
 * run-long calibration against CLOCK_MONOTONIC: no start-up spin and no
 * CPUID trap, so short processes pay nothing. */
#include <stdint.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#if defined(__GLIBC__) && __GLIBC_PREREQ(2, 33)
#include <sys/platform/x86.h>
#define HAVE_GLIBC_CPU_FEATURES 1
#endif
#endif

#include "clock.h"

/* first in the hooks' hot line (clock.o is the first object that has one) */
int shim_clock_tsc SHIM_HOT __attribute__((aligned(64)));
static uint64_t base_tsc, base_ns, start_unix_ns, start_mono_ns;

/* A (tsc, mono) pair read close together: retried when preempted between. */
static void pair(uint64_t *tsc, uint64_t *ns)
{
	uint64_t best = UINT64_MAX;
	for (int i = 0; i < 5; i++) {
		uint64_t a = shim_clock_mono_ns(), t = shim_clock_now(), b = shim_clock_mono_ns();
		if (b - a < best) {
			best = b - a;
			*tsc = t;
			*ns = a + (b - a) / 2;
		}
		if (best < 2000)
			break;
	}
}

void shim_clock_init(void)
{
	struct timespec rt;
#if defined(HAVE_GLIBC_CPU_FEATURES)
	/* invariant TSC (constant rate, runs in C-states), from the CPUID leaves
	 * the loader already read: a CPUID instruction traps to the hypervisor
	 * in a VM and costs about 20 us a piece here, on every process start */
	shim_clock_tsc = CPU_FEATURE_PRESENT(INVARIANT_TSC);
#elif defined(__x86_64__) || defined(__i386__)
	unsigned a, b, c, d;
	/* CPUID 0x80000007 EDX bit 8: invariant TSC (constant rate, runs in C-states) */
	shim_clock_tsc = __get_cpuid(0x80000007, &a, &b, &c, &d) && (d & (1u << 8));
#endif
	if (shim_clock_tsc)
		pair(&base_tsc, &base_ns);
	start_mono_ns = shim_clock_mono_ns();
	clock_gettime(CLOCK_REALTIME, &rt);
	start_unix_ns = (uint64_t)rt.tv_sec * 1000000000ull + (uint64_t)rt.tv_nsec;
}

double shim_clock_ns_per_tick(void)
{
	uint64_t tsc, ns;

	if (!shim_clock_tsc)
		return 1.0;
	pair(&tsc, &ns);
	if (tsc <= base_tsc || ns <= base_ns)
		return 1.0 / 2.5; /* no interval to measure: assume 2.5 GHz */
	return (double)(ns - base_ns) / (double)(tsc - base_tsc);
}

double shim_clock_seconds(uint64_t ticks)
{
	return (double)ticks * shim_clock_ns_per_tick() * 1e-9;
}

uint64_t shim_clock_start_unix_ns(void)
{
	return start_unix_ns;
}

double shim_clock_run_seconds(void)
{
	return (double)(shim_clock_mono_ns() - start_mono_ns) * 1e-9;
}
