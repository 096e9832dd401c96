// SPDX-License-Identifier: MIT
// Heap profile target with threads: 4 workers each leak 100 blocks of 4 KiB
// from leak_in_thread() and allocate 20,000 blocks that another worker frees
// (cross-thread frees must clear the sample). Prints "leaked <bytes>".
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define WORKERS 4
#define LEAKS 100
#define LEAK_SZ 4096
#define SHARED 20000

static void *volatile kept[WORKERS][LEAKS];
static void *volatile shared[WORKERS][SHARED];
static pthread_barrier_t bar;

static void leak_in_thread(int w)
{
	for (int i = 0; i < LEAKS; i++)
		kept[w][i] = malloc(LEAK_SZ);
}

static void make_shared(int w)
{
	for (int i = 0; i < SHARED; i++)
		shared[w][i] = malloc(32 + (size_t)(i % 200));
}

static void free_other(int w)
{
	int o = (w + 1) % WORKERS;
	for (int i = 0; i < SHARED; i++)
		free(shared[o][i]);
}

static void *worker(void *arg)
{
	int w = (int)(long)arg;

	make_shared(w);
	leak_in_thread(w);
	pthread_barrier_wait(&bar);
	free_other(w);
	return NULL;
}

int main(void)
{
	pthread_t t[WORKERS];

	pthread_barrier_init(&bar, NULL, WORKERS);
	for (long i = 0; i < WORKERS; i++)
		if (pthread_create(&t[i], NULL, worker, (void *)i) != 0)
			return 1;
	for (int i = 0; i < WORKERS; i++)
		pthread_join(t[i], NULL);
	printf("leaked %d\n", WORKERS * LEAKS * LEAK_SZ);
	return 0;
}
