// SPDX-License-Identifier: MIT
// Heap profile target: leak_here() leaks a known number of bytes (128 blocks
// of 1 MiB and 2048 of 8 KiB, never touched past their first byte), churn()
// allocates, grows and frees about 400 MiB in mixed sizes and frees all of
// it. Prints "leaked <bytes>". argv[1] scales churn (default 1; 0 = none).
#include <stdio.h>
#include <stdlib.h>

#define BIG_N 128
#define BIG_SZ (1024 * 1024)
#define SMALL_N 2048
#define SMALL_SZ 8192

static void *volatile kept[BIG_N + SMALL_N];
static volatile unsigned char sink;

static unsigned long leak_here(void)
{
	unsigned long total = 0;

	for (int i = 0; i < BIG_N; i++) {
		unsigned char *p = malloc(BIG_SZ);
		p[0] = (unsigned char)i;
		kept[i] = p;
		total += BIG_SZ;
	}
	for (int i = 0; i < SMALL_N; i++) {
		unsigned char *p = malloc(SMALL_SZ);
		p[0] = (unsigned char)i;
		kept[BIG_N + i] = p;
		total += SMALL_SZ;
	}
	return total;
}

static void churn(long rounds)
{
	void *live[64] = {0};
	unsigned x = 12345;

	for (long i = 0; i < rounds * 200000; i++) {
		unsigned k;
		size_t sz;
		x = x * 1103515245u + 12345u;
		k = (x >> 8) % 64;
		sz = 16 + (x >> 12) % 4000;
		if (live[k] && (x & 1)) {
			live[k] = realloc(live[k], sz);
		} else {
			free(live[k]);
			live[k] = calloc(1, sz);
		}
		sink += ((unsigned char *)live[k])[0];
	}
	for (int k = 0; k < 64; k++)
		free(live[k]);
}

int main(int argc, char **argv)
{
	long rounds = argc > 1 ? strtol(argv[1], NULL, 10) : 1;
	unsigned long leaked;

	churn(rounds);
	leaked = leak_here();
	churn(rounds);
	printf("leaked %lu\n", leaked);
	return 0;
}
