/* SPDX-License-Identifier: MIT */
/* Unix sockets with exact bytes: a socketpair carrying 7 bytes one way, and a
 * listening socket at argv[1] whose client sends 5 bytes to the accepted end. */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int pair_bytes(void)
{
	char buf[16];
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 || send(sv[0], "seven!!", 7, 0) != 7 ||
	    recv(sv[1], buf, sizeof(buf), 0) != 7)
		return -1;
	close(sv[0]);
	close(sv[1]);
	return 7;
}

int path_bytes(const char *path)
{
	struct sockaddr_un a;
	char buf[16];
	int l, c, s, n = 0;

	memset(&a, 0, sizeof(a));
	a.sun_family = AF_UNIX;
	strncpy(a.sun_path, path, sizeof(a.sun_path) - 1);
	l = socket(AF_UNIX, SOCK_STREAM, 0);
	c = socket(AF_UNIX, SOCK_STREAM, 0);
	if (l < 0 || c < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 1) < 0 ||
	    connect(c, (struct sockaddr *)&a, sizeof(a)) < 0 || (s = accept(l, NULL, NULL)) < 0)
		return -1;
	if (send(c, "five!", 5, 0) != 5)
		return -1;
	while (n < 5) {
		ssize_t r = recv(s, buf, sizeof(buf), 0);
		if (r <= 0)
			return -1;
		n += (int)r;
	}
	close(s);
	close(c);
	close(l);
	unlink(path);
	return n;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 1;
	printf("pair %d path %d\n", pair_bytes(), path_bytes(argv[1]));
	return 0;
}
