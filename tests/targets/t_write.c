/* SPDX-License-Identifier: MIT */
/* 1,000 writes of 100 bytes from do_writes(), 17 failed opens from
 * fail_opens(): the counts the table must report exactly. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile int nwrites = 1000, nfails = 17;

void do_writes(int fd)
{
	char buf[100];
	memset(buf, 'x', sizeof(buf));
	for (int i = 0; i < nwrites; i++)
		if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
			exit(2);
}

int fail_opens(void)
{
	int bad = 0;
	for (int i = 0; i < nfails; i++)
		if (open("/nonexistent/shimmer/file", O_RDONLY) < 0 && errno == ENOENT)
			bad++;
	return bad;
}

int main(int argc, char **argv)
{
	const char *path = argc > 1 ? argv[1] : "/dev/null";
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		return 1;
	do_writes(fd);
	close(fd);
	printf("failed opens: %d\n", fail_opens());
	return 0;
}
