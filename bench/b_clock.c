/* SPDX-License-Identifier: MIT */
/* What one clock reading costs on this machine: the TSC (rdtsc) and
 * clock_gettime(CLOCK_MONOTONIC), back to back, best of BENCH_BATCHES
 * batches each. Every exactly timed call pays two readings, so these bound
 * from below what timing a call can cost. Prints "tsc_ns X clock_gettime_ns Y". */
#include <stdint.h>
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

#include "bench.h"

static volatile uint64_t sink;

static double tsc_batch(long n)
{
#if defined(__x86_64__) || defined(__i386__)
	double t0 = bench_now();
	uint64_t s = 0;

	for (long i = 0; i < n; i++)
		s += __rdtsc();
	sink = s;
	return (bench_now() - t0) / (double)n;
#else
	(void)n;
	return 0;
#endif
}

static double mono_batch(long n)
{
	double t0 = bench_now();
	uint64_t s = 0;

	for (long i = 0; i < n; i++) {
		struct timespec ts;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		s += (uint64_t)ts.tv_nsec;
	}
	sink = s;
	return (bench_now() - t0) / (double)n;
}

int main(int argc, char **argv)
{
	long n = bench_iters(argc, argv, 4000000) / BENCH_BATCHES;
	double tsc = 1e300, mono = 1e300;

	for (int b = 0; b < BENCH_BATCHES; b++) {
		double t = tsc_batch(n), m = mono_batch(n);
		tsc = t < tsc ? t : tsc;
		mono = m < mono ? m : mono;
	}
	printf("tsc_ns %.2f clock_gettime_ns %.2f\n", tsc, mono);
	return 0;
}
