/* SPDX-License-Identifier: MIT */
/* Workload (a): malloc+free pairs of small, varying sizes in one thread.
 * Prints ns per pair (best of BENCH_BATCHES batches). The pointer escapes
 * through a volatile so the compiler cannot fold the pair away. */
#include <stdlib.h>

#include "bench.h"

static void *volatile sink;
static volatile size_t base = 16;

int main(int argc, char **argv)
{
	long n = bench_iters(argc, argv, 20000000) / BENCH_BATCHES;
	size_t b = base;
	double best = 1e300;

	for (long i = 0; i < 100000; i++) { /* warm the heap and the shim's slot */
		sink = malloc(b + (size_t)(i & 63));
		free(sink);
	}
	for (int k = 0; k < BENCH_BATCHES; k++) {
		double t0 = bench_now(), t;
		for (long i = 0; i < n; i++) {
			sink = malloc(b + (size_t)(i & 63));
			free(sink);
		}
		t = bench_now() - t0;
		best = t < best ? t : best;
	}
	bench_report(best, n);
	return 0;
}
