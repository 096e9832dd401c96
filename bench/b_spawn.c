/* SPDX-License-Identifier: MIT */
/* Workload (f): process start. Runs argv[3..] (e.g. /bin/true) argv[1] times
 * for each preload of argv[2], a comma list ("-" for none), with posix_spawn
 * and LD_PRELOAD in the child's environment only. The variants take turns
 * start by start, so a machine that speeds up or slows down over the run
 * moves them all alike. Prints, one line per variant in argv[2]'s order, the
 * median ns per start-to-exit and the count. */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "bench.h"

#define VARIANTS 8

extern char **environ;

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	long n = bench_iters(argc, argv, 200);
	static char pre[VARIANTS][4096], list[4096];
	static char *env[VARIANTS][1024];
	double *t[VARIANTS];
	int k = 0, nv = 0;
	char *save = NULL;

	if (argc < 4 || n <= 0)
		return 2;
	for (char **e = environ; *e && k < 1000; e++)
		if (strncmp(*e, "LD_PRELOAD=", 11) != 0)
			env[0][k++] = *e;
	snprintf(list, sizeof(list), "%s", argv[2]);
	for (char *v = strtok_r(list, ",", &save); v && nv < VARIANTS;
	     v = strtok_r(NULL, ",", &save), nv++) {
		int j = k;
		memcpy(env[nv], env[0], sizeof(env[0][0]) * (size_t)k);
		if (strcmp(v, "-") != 0) {
			snprintf(pre[nv], sizeof(pre[nv]), "LD_PRELOAD=%s", v);
			env[nv][j++] = pre[nv];
		}
		env[nv][j] = NULL;
		if (!(t[nv] = calloc((size_t)n, sizeof(double))))
			return 2;
	}
	for (long i = 0; i < n; i++)
		for (int r = 0; r < nv; r++) {
			/* rotate which variant goes first: none always follows another */
			int v = (int)((r + i) % nv);
			pid_t pid;
			int st;
			double t0 = bench_now();
			if (posix_spawn(&pid, argv[3], NULL, NULL, argv + 3, env[v]) != 0)
				return 1;
			if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
				return 1;
			t[v][i] = bench_now() - t0;
		}
	for (int v = 0; v < nv; v++) {
		qsort(t[v], (size_t)n, sizeof(double), cmp);
		printf("%.3f %ld\n", t[v][n / 2], n);
	}
	return 0;
}
