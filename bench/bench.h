/* SPDX-License-Identifier: MIT */
/* Shared by the bench workloads: a monotonic clock and the one-line result
 * every workload prints ("<ns per op> <ops>"), read by bench/run.py. */
#ifndef SHIM_BENCH_H
#define SHIM_BENCH_H

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static inline double bench_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Iterations: argv[1] when given, else the default. */
static inline long bench_iters(int argc, char **argv, long dflt)
{
	return argc > 1 ? strtol(argv[1], NULL, 10) : dflt;
}

/* Batches for the per-call workloads: the best batch's ns per op is the
 * figure, which keeps a neighbour's burst on a shared machine out of it. */
#define BENCH_BATCHES 25

/* Print the workload's result: nanoseconds per op and the op count. */
static inline void bench_report(double ns, long ops)
{
	printf("%.3f %ld\n", ns / (double)ops, ops);
}

#endif
