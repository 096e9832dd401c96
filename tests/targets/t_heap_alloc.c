// SPDX-License-Identifier: MIT
// Heap profile target: three functions allocate known totals and free every
// block at once: alloc_big 1 GiB in 16 KiB blocks, alloc_mixed 1088 MiB in
// sizes 256..4096, alloc_small 1 GiB in 128-byte blocks. Prints each total.
// argv[1] divides the work (default 1), so the exact mode runs quickly.
#include <stdio.h>
#include <stdlib.h>

static volatile unsigned char sink;
static long div_by = 1;

static unsigned long alloc_big(void)
{
	unsigned long total = 0;

	for (long i = 0; i < 65536 / div_by; i++) {
		unsigned char *p = malloc(16384);
		p[0] = (unsigned char)i;
		sink += p[0];
		free(p);
		total += 16384;
	}
	return total;
}

static unsigned long alloc_mixed(void)
{
	unsigned long total = 0;

	for (long i = 0; i < 524288 / div_by; i++) {
		size_t sz = 256 * (size_t)(1 + i % 16);
		unsigned char *p = malloc(sz);
		p[0] = (unsigned char)i;
		sink += p[0];
		free(p);
		total += sz;
	}
	return total;
}

static unsigned long alloc_small(void)
{
	unsigned long total = 0;

	for (long i = 0; i < 8388608 / div_by; i++) {
		unsigned char *p = malloc(128);
		p[0] = (unsigned char)i;
		sink += p[0];
		free(p);
		total += 128;
	}
	return total;
}

int main(int argc, char **argv)
{
	unsigned long a, b, c;

	if (argc > 1)
		div_by = strtol(argv[1], NULL, 10);
	if (div_by < 1)
		div_by = 1;
	a = alloc_big();
	b = alloc_mixed();
	c = alloc_small();
	printf("alloc_big %lu\nalloc_mixed %lu\nalloc_small %lu\n", a, b, c);
	return 0;
}
