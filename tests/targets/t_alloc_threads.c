/* SPDX-License-Identifier: MIT */
/* argv[1] short-lived threads one after another (more than the shim has
 * slots), each making one malloc(10) and one free: every one must be counted,
 * including what a thread allocates while it exits. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static void *worker(void *arg)
{
	(void)arg;
	free(malloc(10));
	return NULL;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 2000;

	for (long i = 0; i < n; i++) {
		pthread_t t;
		if (pthread_create(&t, NULL, worker, NULL) != 0 || pthread_join(t, NULL) != 0)
			return 1;
	}
	printf("threads: %ld\n", n);
	return 0;
}
