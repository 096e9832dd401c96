/* SPDX-License-Identifier: MIT */
/* Files and slow calls with known spans: one file held open 20 ms with 3
 * writes of 100 bytes and 2 reads (a span), one opened and closed at once (too
 * short for a span), two failed opens (spans with ENOENT), and one poll that
 * waits 300 ms (a slow-call span). argv[1] is a scratch folder. */
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile int nwrites = 3, nreads = 2, chunk = 100;

static void hold(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

int long_file(const char *dir)
{
	char path[512], buf[100];
	int fd;

	snprintf(path, sizeof(path), "%s/long.txt", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return -1;
	memset(buf, 'x', sizeof(buf));
	for (int i = 0; i < nwrites; i++)
		if (write(fd, buf, (size_t)chunk) != chunk)
			return -1;
	lseek(fd, 0, SEEK_SET);
	for (int i = 0; i < nreads; i++)
		if (read(fd, buf, (size_t)chunk) != chunk)
			return -1;
	hold(20);
	return close(fd);
}

int short_file(const char *dir)
{
	char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/short.txt", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	return fd < 0 ? -1 : close(fd);
}

int missing(const char *dir)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/no/such/file", dir);
	return open(path, O_RDONLY) + openat(AT_FDCWD, path, O_RDONLY);
}

int slow_poll(void)
{
	return poll(NULL, 0, 300);
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	if (long_file(argv[1]) || short_file(argv[1]) || missing(argv[1]) != -2 || slow_poll())
		return 1;
	puts("ok");
	return 3; /* a non-zero exit: the root span says ERROR */
}
