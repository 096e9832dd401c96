/* SPDX-License-Identifier: MIT */
/* Two busy threads for the profile writers: main spins in main_spin(), a
 * thread named "wr-worker" spins in worker_spin(), and write_lines() makes
 * exactly 200 write() calls. argv[1] is the output file, argv[2] scales the
 * spinning (default 1: about 0.4 s of CPU a thread). */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile unsigned long sink;
static volatile long unit = 100000000;
static double scale = 1.0;

__attribute__((noinline)) void main_spin(long n)
{
	for (long i = 0; i < n; i++)
		sink += (unsigned long)i;
}

__attribute__((noinline)) void worker_spin(long n)
{
	for (long i = 0; i < n; i++)
		sink ^= (unsigned long)i;
}

static void *worker(void *arg)
{
	(void)arg;
	worker_spin((long)(unit * scale));
	return NULL;
}

__attribute__((noinline)) int write_lines(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	char line[] = "shimmer writers line\n";

	if (fd < 0)
		return -1;
	for (int i = 0; i < 200; i++)
		if (write(fd, line, strlen(line)) != (ssize_t)strlen(line))
			return -1;
	return close(fd);
}

int main(int argc, char **argv)
{
	pthread_t t;

	if (argc < 2)
		return 2;
	if (argc > 2)
		scale = strtod(argv[2], NULL);
	if (pthread_create(&t, NULL, worker, NULL) != 0)
		return 1;
	pthread_setname_np(t, "wr-worker");
	main_spin((long)(unit * scale));
	pthread_join(t, NULL);
	if (write_lines(argv[1]) != 0)
		return 1;
	printf("ok\n");
	return 0;
}
