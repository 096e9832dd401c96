/* SPDX-License-Identifier: MIT */
/* Workload (f): process start. Runs argv[3..] (e.g. /bin/true) argv[1] times
 * with posix_spawn, LD_PRELOAD=argv[2] in the child's environment only ("-"
 * for none), and prints the median ns per start-to-exit. */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "bench.h"

extern char **environ;

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	long n = bench_iters(argc, argv, 200);
	static char pre[4096];
	char *env[1024];
	double *t;
	int k = 0;

	if (argc < 4 || n <= 0 || !(t = calloc((size_t)n, sizeof(*t))))
		return 2;
	for (char **e = environ; *e && k < 1000; e++)
		if (strncmp(*e, "LD_PRELOAD=", 11) != 0)
			env[k++] = *e;
	if (strcmp(argv[2], "-") != 0) {
		snprintf(pre, sizeof(pre), "LD_PRELOAD=%s", argv[2]);
		env[k++] = pre;
	}
	env[k] = NULL;
	for (long i = 0; i < n; i++) {
		pid_t pid;
		int st;
		double t0 = bench_now();
		if (posix_spawn(&pid, argv[3], NULL, NULL, argv + 3, env) != 0)
			return 1;
		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
			return 1;
		t[i] = bench_now() - t0;
	}
	qsort(t, (size_t)n, sizeof(*t), cmp);
	printf("%.3f %ld\n", t[n / 2], n);
	return 0;
}
