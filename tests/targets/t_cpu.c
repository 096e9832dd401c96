/* SPDX-License-Identifier: MIT */
/* A known split of CPU time: func_a 60 %, func_b 30 %, func_c 10 %, each a
 * contiguous run of the same loop, so a sampler's shares are exact to a few
 * samples. argv[1] scales the work (default 1: about 1.5 s). */
#include <stdio.h>
#include <stdlib.h>

static volatile unsigned long sink;
static volatile long unit = 60000000;

__attribute__((noinline)) void func_a(long n)
{
	for (long i = 0; i < n; i++)
		sink += (unsigned long)i;
}

__attribute__((noinline)) void func_b(long n)
{
	for (long i = 0; i < n; i++)
		sink += (unsigned long)i;
}

__attribute__((noinline)) void func_c(long n)
{
	for (long i = 0; i < n; i++)
		sink += (unsigned long)i;
}

__attribute__((noinline)) void work(long u)
{
	func_a(6 * u);
	func_b(3 * u);
	func_c(u);
}

int main(int argc, char **argv)
{
	double scale = argc > 1 ? strtod(argv[1], NULL) : 1.0;
	work((long)(unit * scale));
	printf("done %d\n", sink != 0);
	return 0;
}
