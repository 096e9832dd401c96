/* SPDX-License-Identifier: MIT */
/* Stress for the sampler: four threads allocate, write to a pipe, check errno
 * after failing calls and hash what they did; in the middle the main thread
 * forks a child that works too and then execs argv[0] "child". Prints one
 * checksum and the number of errno surprises (must be 0). argv[1] scales.
 * argv[2] "calm": the threads only compute until the fork is made (they are
 * started and sampled, but none is inside malloc or libc when the child is
 * made), for allocators that are not fork-safe (ASan's in GCC 12). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NTHREADS 4
static long rounds = 20000;
static uint64_t sums[NTHREADS];
static int surprises[NTHREADS];
static int pipefd[2];
static int calm;
static atomic_int ready, forked;
static volatile uint64_t spun;

__attribute__((noinline)) uint64_t mix(uint64_t h, const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 0x100000001b3ull;
	return h;
}

static void *worker(void *arg)
{
	int id = (int)(long)arg;
	uint64_t h = 0xcbf29ce484222325ull + (uint64_t)id;

	if (calm) {
		unsigned char buf[64];
		memset(buf, id, sizeof(buf));
		atomic_fetch_add(&ready, 1);
		while (!atomic_load(&forked))
			spun = mix(spun, buf, sizeof(buf));
	}
	for (long r = 0; r < rounds; r++) {
		size_t n = 64 + (size_t)((r * 7 + id) % 512);
		unsigned char *p = malloc(n);
		if (!p)
			abort();
		memset(p, (int)(r + id), n);
		h = mix(h, p, n);
		if (write(pipefd[1], p, 16) != 16)
			surprises[id]++;
		free(p);
		if (r % 64 == 0) {
			errno = 0;
			if (open("/nonexistent/shimmer/stress", O_RDONLY) >= 0 || errno != ENOENT)
				surprises[id]++;
		}
	}
	sums[id] = h;
	return NULL;
}

static void *drain(void *arg)
{
	char buf[4096];
	(void)arg;
	atomic_fetch_add(&ready, 1);
	while (read(pipefd[0], buf, sizeof(buf)) > 0)
		;
	return NULL;
}

int main(int argc, char **argv)
{
	pthread_t th[NTHREADS], dr;
	uint64_t total = 0;
	int bad = 0, status = 0;
	pid_t pid;

	if (argc > 1 && strcmp(argv[1], "child") == 0) {
		printf("child exec ok\n");
		return 0;
	}
	if (argc > 1)
		rounds = (long)(rounds * strtod(argv[1], NULL));
	calm = argc > 2 && strcmp(argv[2], "calm") == 0;
	if (pipe(pipefd) != 0 || pthread_create(&dr, NULL, drain, NULL) != 0)
		return 1;
	for (long i = 0; i < NTHREADS; i++)
		if (pthread_create(&th[i], NULL, worker, (void *)i) != 0)
			return 1;
	while (calm && atomic_load(&ready) < NTHREADS + 1)
		sched_yield();
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		uint64_t h = 0;
		unsigned char buf[256];
		memset(buf, 7, sizeof(buf));
		for (long r = 0; r < rounds; r++)
			h = mix(h, buf, sizeof(buf));
		if (h == 42)
			_exit(3);
		execl(argv[0], argv[0], "child", (char *)NULL);
		_exit(2);
	}
	atomic_store(&forked, 1);
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	close(pipefd[1]);
	pthread_join(dr, NULL);
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return 1;
	for (int i = 0; i < NTHREADS; i++) {
		total ^= sums[i];
		bad += surprises[i];
	}
	printf("checksum %016llx surprises %d child %d\n", (unsigned long long)total, bad,
	       WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	return 0;
}
