/* SPDX-License-Identifier: MIT */
/* Workload (c): two threads, each keeping a window of live blocks that it
 * mallocs, grows with realloc and frees, with a little work per block (a
 * program that is allocation-heavy, not an allocator loop). Prints ns per op,
 * best of three passes. */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "bench.h"

#define WINDOW 256

static long iters;
static volatile unsigned seed0 = 12345;

static void *worker(void *arg)
{
	void *live[WINDOW] = {0};
	uint32_t x = seed0 + (uint32_t)(uintptr_t)arg;
	unsigned long sum = 0;

	for (long i = 0; i < iters; i++) {
		unsigned k;
		size_t sz;
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		k = x % WINDOW;
		sz = 16 + (x >> 8) % 512;
		if (!live[k]) {
			live[k] = malloc(sz);
			memset(live[k], (int)i, sz);
		} else if (x & 0x100) {
			live[k] = realloc(live[k], sz * 2);
			((unsigned char *)live[k])[sz] = (unsigned char)i;
		} else {
			sum += ((unsigned char *)live[k])[0];
			free(live[k]);
			live[k] = NULL;
		}
	}
	for (unsigned k = 0; k < WINDOW; k++)
		free(live[k]);
	return (void *)(uintptr_t)sum;
}

int main(int argc, char **argv)
{
	double best = 1e300;

	iters = bench_iters(argc, argv, 3000000);
	/* best of 3 passes: two threads on a shared 2-CPU machine */
	for (int k = 0; k < 3; k++) {
		pthread_t t[2];
		double t0 = bench_now(), dt;
		for (int i = 0; i < 2; i++)
			if (pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)i) != 0)
				return 1;
		for (int i = 0; i < 2; i++)
			pthread_join(t[i], NULL);
		dt = bench_now() - t0;
		best = dt < best ? dt : best;
	}
	bench_report(best, 2 * iters);
	return 0;
}
