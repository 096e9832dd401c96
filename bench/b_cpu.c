/* SPDX-License-Identifier: MIT */
/* Workload (CPU profiling): pure computation, no libc call in the loop. Each op
 * descends a 24-deep recursion (so a sampler has real stacks to unwind) and
 * spends its time in one of three leaf functions (integer hashing, a float
 * series, a small insertion sort). Deterministic; prints the best batch's ns
 * per op (a neighbour's burst on a shared machine stays out of the figure)
 * and a checksum. */
#include <stdint.h>
#include <stdio.h>

#include "bench.h"

#define DEPTH 24

static volatile uint64_t sink;

__attribute__((noinline)) static uint64_t leaf_hash(uint64_t x)
{
	for (int i = 0; i < 600; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		x += 0x9e3779b97f4a7c15ull;
	}
	return x;
}

__attribute__((noinline)) static uint64_t leaf_series(uint64_t x)
{
	double s = 0, k = (double)(x & 1023) + 1;

	for (int i = 1; i < 300; i++)
		s += k / ((double)i * (double)i + k);
	return x + (uint64_t)(s * 1e6);
}

__attribute__((noinline)) static uint64_t leaf_sort(uint64_t x)
{
	uint32_t a[48];

	for (int i = 0; i < 48; i++) {
		x = x * 6364136223846793005ull + 1442695040888963407ull;
		a[i] = (uint32_t)(x >> 33);
	}
	for (int i = 1; i < 48; i++) {
		uint32_t v = a[i];
		int j = i - 1;
		while (j >= 0 && a[j] > v) {
			a[j + 1] = a[j];
			j--;
		}
		a[j + 1] = v;
	}
	return x ^ a[0] ^ a[47];
}

__attribute__((noinline)) static uint64_t descend(int depth, uint64_t x)
{
	uint64_t r;

	if (depth == 0) {
		switch (x % 3) {
		case 0:
			return leaf_hash(x);
		case 1:
			return leaf_series(x);
		default:
			return leaf_sort(x);
		}
	}
	r = descend(depth - 1, x * 31 + (uint64_t)depth);
	return r ^ (uint64_t)depth; /* not a tail call: every level stays on the stack */
}

int main(int argc, char **argv)
{
	long n = bench_iters(argc, argv, 1500000), per = n / BENCH_BATCHES;
	double best = 0;
	uint64_t sum = 0;

	if (per <= 0)
		return 2;
	for (int b = 0; b < BENCH_BATCHES; b++) {
		double t0 = bench_now(), t;
		for (long i = 0; i < per; i++)
			sum += descend(DEPTH, (uint64_t)(b * per + i));
		t = bench_now() - t0;
		if (b == 0 || t < best)
			best = t;
	}
	sink = sum;
	printf("checksum %016llx\n", (unsigned long long)sum);
	bench_report(best, per);
	return 0;
}
