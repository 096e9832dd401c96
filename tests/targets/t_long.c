/* SPDX-License-Identifier: MIT */
/* A long-running process for periodic flushes and dumps: it burns CPU in
 * long_spin() in slices, writes one byte to /dev/null and polls stdin after
 * each slice, and ends when stdin closes (or after 120 s, so a lost test never
 * leaves it behind). "t_long fork": a child does the same in child_spin().
 * Prints "pid N" (and "child N") first, one line each, flushed. */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile unsigned long sink;

__attribute__((noinline)) void long_spin(long n)
{
	for (long i = 0; i < n; i++)
		sink += (unsigned long)i;
}

__attribute__((noinline)) void child_spin(long n)
{
	for (long i = 0; i < n; i++)
		sink += (unsigned long)i;
}

/* Slices until stdin says EOF; returns the number of slices. */
static long run(void (*spin)(long))
{
	int null = open("/dev/null", O_WRONLY);
	time_t end = time(NULL) + 120;
	long slices = 0;

	while (time(NULL) < end) {
		struct pollfd p = {.fd = 0, .events = POLLIN};
		spin(2000000);
		if (write(null, "x", 1) != 1)
			break;
		slices++;
		if (poll(&p, 1, 0) > 0) {
			char buf[64];
			if (read(0, buf, sizeof(buf)) <= 0)
				break;
		}
	}
	close(null);
	return slices;
}

int main(int argc, char **argv)
{
	int fork_mode = argc > 1 && strcmp(argv[1], "fork") == 0;
	pid_t child = -1;

	printf("pid %d\n", (int)getpid());
	fflush(stdout);
	if (fork_mode) {
		child = fork();
		if (child < 0)
			return 1;
		if (child == 0) {
			printf("child %d\n", (int)getpid());
			fflush(stdout);
			run(child_spin);
			return 0;
		}
	}
	run(long_spin);
	if (child > 0) {
		int st;
		waitpid(child, &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
			return 1;
	}
	return 0;
}
