/* SPDX-License-Identifier: MIT */
/* The hooks' clock: the invariant TSC where the CPU has one (about 10 ns a
 * reading here, against 23 ns for clock_gettime), else CLOCK_MONOTONIC in ns.
 * Ticks become nanoseconds only at export, calibrated over the whole run. */
#ifndef SHIM_CLOCK_H
#define SHIM_CLOCK_H

#include <stdint.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

extern int shim_clock_tsc; /* 1: ticks are TSC cycles; 0: ticks are ns */

/* The globals every hooked call reads, defined together: one cache line the
 * hooks' calls keep warm (shim/clock.c aligns its start), not one line each
 * across .data and .bss. Globals only some calls read (an open's, a close's)
 * live elsewhere, grouped by the call that reads them. */
#define SHIM_HOT __attribute__((section("shim_hot")))

static inline uint64_t shim_clock_mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A reading in ticks. Async-signal-safe: yes. */
static inline uint64_t shim_clock_now(void)
{
#if defined(__x86_64__) || defined(__i386__)
	if (__builtin_expect(shim_clock_tsc, 1))
		return __rdtsc();
#endif
	return shim_clock_mono_ns();
}

/* A TSC reading, for code that tested shim_clock_tsc itself (0 where the
 * CPU has none: shim_clock_tsc is then never set). */
static inline uint64_t shim_clock_tsc_read(void)
{
#if defined(__x86_64__) || defined(__i386__)
	return __rdtsc();
#else
	return 0;
#endif
}

/* Choose the clock and take the calibration base (constructor). */
void shim_clock_init(void);

/* Nanoseconds per tick, measured from init to now (1.0 without a TSC). */
double shim_clock_ns_per_tick(void);

/* Ticks to seconds / nanoseconds with the current calibration. */
double shim_clock_seconds(uint64_t ticks);

/* Wall-clock nanoseconds since the epoch when the process (image) started. */
uint64_t shim_clock_start_unix_ns(void);

/* Seconds since shim_clock_init (process image start). */
double shim_clock_run_seconds(void);

#endif
