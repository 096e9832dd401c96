/* SPDX-License-Identifier: MIT */
/* Allocation counts the table must report exactly: argv[1] iterations in
 * each of 8 threads of malloc/calloc/realloc/posix_memalign/aligned_alloc/
 * free of fixed sizes, the same count of reallocarray/memalign/valloc/pvalloc
 * and mmap/munmap in main, and one failure each (malloc of a huge size,
 * posix_memalign with a bad alignment, mmap of a bad fd) whose result and
 * errno are printed, so a bare run and a run under the shim can be compared. */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define THREADS 8

static long iters;
static volatile size_t huge = SIZE_MAX / 2;

static void *worker(void *arg)
{
	(void)arg;
	for (long i = 0; i < iters; i++) {
		void *a = NULL;
		char *p = malloc(24), *q = calloc(3, 40), *r, *b;
		if (!p || !q)
			exit(2);
		memset(p, 1, 24);
		r = realloc(p, 200);
		if (!r || posix_memalign(&a, 64, 100) != 0)
			exit(2);
		b = aligned_alloc(64, 128);
		if (!b || ((uintptr_t)a & 63) || ((uintptr_t)b & 63))
			exit(2);
		free(q);
		free(r);
		free(a);
		free(b);
	}
	return NULL;
}

/* Before main: the first call of each entry point resolves it (dlsym, whose
 * own calloc comes from the shim's arena) and must simply work. */
__attribute__((constructor)) static void early(void)
{
	void *a = NULL, *b, *c, *d, *e, *f;

	if (posix_memalign(&a, 128, 10) != 0 || ((uintptr_t)a & 127))
		exit(3);
	b = aligned_alloc(256, 256);
	c = memalign(64, 8);
	d = valloc(10);
	e = pvalloc(10);
	f = reallocarray(NULL, 2, 8);
	if (!b || !c || !d || !e || !f || ((uintptr_t)d & 4095))
		exit(3);
	f = realloc(f, 64);
	free(a);
	free(b);
	free(c);
	free(d);
	free(e);
	free(f);
}

static void main_thread_calls(void)
{
	for (long i = 0; i < iters; i++) {
		void *a = reallocarray(NULL, 10, 16), *b = memalign(32, 50), *c = valloc(64),
		     *d = pvalloc(100);
		void *m = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (!a || !b || !c || !d || m == MAP_FAILED || munmap(m, 8192) != 0)
			exit(2);
		free(a);
		free(b);
		free(c);
		free(d);
	}
}

static void failures(void)
{
	void *p, *a = NULL;
	int r;

	errno = 0;
	p = malloc(huge);
	printf("malloc(huge): %s errno=%d\n", p ? "ok" : "NULL", errno);
	errno = 1234;
	r = posix_memalign(&a, 3, 64);
	printf("posix_memalign(align 3): %d errno=%d\n", r, errno);
	errno = 0;
	p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, 1000000, 0);
	printf("mmap(bad fd): %s errno=%d\n", p == MAP_FAILED ? "MAP_FAILED" : "ok", errno);
}

int main(int argc, char **argv)
{
	pthread_t t[THREADS];

	iters = argc > 1 ? strtol(argv[1], NULL, 10) : 1000;
	for (int i = 0; i < THREADS; i++)
		if (pthread_create(&t[i], NULL, worker, NULL) != 0)
			return 1;
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	main_thread_calls();
	failures();
	return 0;
}
