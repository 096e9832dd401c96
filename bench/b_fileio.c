/* SPDX-License-Identifier: MIT */
/* Workload (d): 64 MiB written and read back in 4 KiB calls on a file in
 * argv[2] (a folder; page cache, no fsync), then 20,000 open/stat/close on it.
 * Prints ns per op (one op = one read, write, open, stat or close). */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"

#define CHUNK 4096
#define TOTAL (64L << 20)

int main(int argc, char **argv)
{
	long nmeta = bench_iters(argc, argv, 20000), ops = 0;
	const char *dir = argc > 2 ? argv[2] : "/tmp";
	static char buf[CHUNK];
	char path[4096];
	struct stat st;
	double t0;
	int fd;

	snprintf(path, sizeof(path), "%s/b_fileio.%d", dir, (int)getpid());
	memset(buf, 'x', sizeof(buf));
	t0 = bench_now();
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return 1;
	for (long off = 0; off < TOTAL; off += CHUNK, ops++)
		if (write(fd, buf, CHUNK) != CHUNK)
			return 1;
	if (lseek(fd, 0, SEEK_SET) != 0)
		return 1;
	for (long off = 0; off < TOTAL; off += CHUNK, ops++)
		if (read(fd, buf, CHUNK) != CHUNK)
			return 1;
	close(fd);
	for (long i = 0; i < nmeta; i++, ops += 3) {
		fd = open(path, O_RDONLY);
		if (fd < 0 || stat(path, &st) != 0)
			return 1;
		close(fd);
	}
	bench_report(bench_now() - t0, ops);
	unlink(path);
	return 0;
}
