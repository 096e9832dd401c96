/* SPDX-License-Identifier: MIT */
/* Loopback TCP with exact byte counts: the client (main thread) sends 3 x 1000
 * bytes with send(), peeks once (MSG_PEEK, not counted as bytes), then reads
 * 5000 bytes with recv(); the server thread reads the 3000 with __recv_chk
 * and answers 5 x 1000 with send(). The listening port goes to argv[1]. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

extern ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags);

static volatile int chunk = 1000, nup = 3, ndown = 5;
static int lfd;

int recv_all(int fd, size_t total, int chk)
{
	char buf[700];
	size_t got = 0;
	while (got < total) {
		size_t want = total - got < sizeof(buf) ? total - got : sizeof(buf);
		ssize_t r = chk ? __recv_chk(fd, buf, want, sizeof(buf), 0) : recv(fd, buf, want, 0);
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

int send_chunks(int fd, int n)
{
	char buf[1000];
	memset(buf, 'z', sizeof(buf));
	for (int i = 0; i < n; i++)
		if (send(fd, buf, (size_t)chunk, 0) != chunk)
			return -1;
	return 0;
}

static void *server(void *arg)
{
	int fd = accept(lfd, NULL, NULL);
	(void)arg;
	if (fd < 0 || recv_all(fd, (size_t)(nup * chunk), 1) || send_chunks(fd, ndown))
		return (void *)1;
	close(fd);
	return NULL;
}

int peek_once(int fd)
{
	char buf[100];
	return recv(fd, buf, sizeof(buf), MSG_PEEK) > 0 ? 0 : -1;
}

int client(const struct sockaddr_in *to)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (const struct sockaddr *)to, sizeof(*to)) < 0)
		return -1;
	if (send_chunks(fd, nup) || peek_once(fd) || recv_all(fd, (size_t)(ndown * chunk), 0))
		return -1;
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	pthread_t th;
	void *ret;
	FILE *f;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 4) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &len) < 0)
		return 1;
	if (argc > 1 && (f = fopen(argv[1], "w"))) {
		fprintf(f, "%d\n", ntohs(a.sin_port));
		fclose(f);
	}
	if (pthread_create(&th, NULL, server, NULL))
		return 1;
	if (client(&a))
		return 2;
	if (pthread_join(th, &ret) || ret)
		return 3;
	close(lfd);
	printf("sent %d received %d\n", nup * chunk, ndown * chunk);
	return 0;
}
