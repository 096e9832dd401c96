/* SPDX-License-Identifier: MIT */
/* A single-threaded program that relies on the lowest-free-fd rule, as shells
 * and daemons do when they redirect (close(1); open(...) is the new stdout):
 * for argv[1] seconds (default 3) it closes its lowest fd k and opens
 * /dev/null again, expecting k back each time, with some CPU work in between.
 * Prints "moved N": how many opens returned another number (0 when nothing
 * else in the process took fd k meanwhile), and "stdout ok" when fd 1 is still
 * its own. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static volatile unsigned long sink;

__attribute__((noinline)) void fds_spin(long n)
{
	for (long i = 0; i < n; i++)
		sink += (unsigned long)i;
}

int main(int argc, char **argv)
{
	int secs = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 3;
	struct stat before, after;
	time_t end = time(NULL) + secs;
	long moved = 0, rounds = 0;
	int k = open("/dev/null", O_RDONLY), fd;

	if (k < 0 || fstat(1, &before) != 0)
		return 2;
	while (time(NULL) < end) {
		close(k);
		fds_spin(20000);
		fd = open("/dev/null", O_RDONLY);
		if (fd != k) {
			moved++;
			if (fd >= 0)
				close(fd);
			/* a stranger holds k now: wait for it to go */
			while ((fd = open("/dev/null", O_RDONLY)) != k && fd >= 0)
				close(fd);
		}
		rounds++;
	}
	if (fstat(1, &after) != 0)
		return 2;
	printf("moved %ld\n", moved);
	printf("stdout %s\n", before.st_ino == after.st_ino && before.st_dev == after.st_dev
				      ? "ok" : "changed");
	return rounds > 0 ? 0 : 1;
}
