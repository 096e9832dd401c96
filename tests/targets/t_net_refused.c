/* SPDX-License-Identifier: MIT */
/* Exactly 3 connects to a closed TCP port on 127.0.0.1 (bound, never
 * listening, so the kernel refuses), all from connect_closed(). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile int nconnects = 3;

int connect_closed(const struct sockaddr_in *to)
{
	int refused = 0;
	for (int i = 0; i < nconnects; i++) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0)
			return -1;
		errno = 0;
		if (connect(fd, (const struct sockaddr *)to, sizeof(*to)) < 0 &&
		    errno == ECONNREFUSED)
			refused++;
		close(fd);
	}
	return refused;
}

int main(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int holder = socket(AF_INET, SOCK_STREAM, 0);

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* hold a port nobody listens on: connects to it are refused */
	if (holder < 0 || bind(holder, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    getsockname(holder, (struct sockaddr *)&a, &len) < 0)
		return 1;
	printf("refused: %d\n", connect_closed(&a));
	close(holder);
	return 0;
}
