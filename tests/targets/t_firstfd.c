/* SPDX-License-Identifier: MIT */
/* Prints the fd numbers its first open and first pipe get: programs rely on
 * the lowest free number, so Shimmer's own fds must never take one. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(void)
{
	int p[2];
	int fd = open("/dev/null", O_RDONLY);
	void *m = malloc(1 << 20); /* a heap sample at the default rate */

	if (fd < 0 || pipe(p) != 0)
		return 1;
	printf("open %d pipe %d %d\n", fd, p[0], p[1]);
	free(m);
	return 0;
}
