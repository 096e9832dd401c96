/* SPDX-License-Identifier: MIT */
/* Four named threads, each burning about 0.5 s of CPU in spin(), then the
 * process's own CPU time from getrusage on stdout ("cpu_us N"), so a test can
 * compare the sampled total with what the kernel counted. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>

#define NTHREADS 4
static volatile unsigned long sink[NTHREADS * 8];
static volatile long iters = 50000000;

__attribute__((noinline)) void spin(int id, long n)
{
	for (long i = 0; i < n; i++)
		sink[id * 8] += (unsigned long)i;
}

static void *worker(void *arg)
{
	int id = (int)(long)arg;
	char name[16];

	snprintf(name, sizeof(name), "worker%d", id);
	pthread_setname_np(pthread_self(), name);
	spin(id, iters);
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t th[NTHREADS];
	struct rusage ru;
	double scale = argc > 1 ? strtod(argv[1], NULL) : 1.0;

	iters = (long)(iters * scale);
	for (long i = 0; i < NTHREADS; i++)
		if (pthread_create(&th[i], NULL, worker, (void *)i) != 0)
			return 1;
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	getrusage(RUSAGE_SELF, &ru);
	printf("cpu_us %ld\n", (long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000L +
				   ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
	return 0;
}
