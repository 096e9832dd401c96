/* SPDX-License-Identifier: MIT */
/* Workload (e): request/response over loopback TCP: a server thread echoes a
 * 32-byte request, the client sends and waits, 100,000 round trips.
 * Prints ns per round trip. Both threads share one CPU: a round trip is then
 * two plain context switches, not cross-CPU wake-ups of idle vCPUs, whose cost
 * on a VM swamps everything else. */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"

#define MSG 32

static int full(int fd, char *buf, int out)
{
	for (int got = 0; got < MSG;) {
		ssize_t r = out ? send(fd, buf + got, MSG - got, 0) : recv(fd, buf + got, MSG - got, 0);
		if (r <= 0)
			return -1;
		got += (int)r;
	}
	return 0;
}

static void *server(void *arg)
{
	int lfd = (int)(long)arg, fd = accept(lfd, NULL, NULL), one = 1;
	char buf[MSG];

	if (fd < 0)
		return NULL;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	while (full(fd, buf, 0) == 0 && full(fd, buf, 1) == 0)
		;
	close(fd);
	return NULL;
}

int main(int argc, char **argv)
{
	long n = bench_iters(argc, argv, 100000);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	int lfd = socket(AF_INET, SOCK_STREAM, 0), fd, one = 1;
	char buf[MSG];
	pthread_t th;
	double t0;

	cpu_set_t one_cpu;

	CPU_ZERO(&one_cpu);
	CPU_SET(sched_getcpu() < 0 ? 0 : sched_getcpu(), &one_cpu);
	sched_setaffinity(0, sizeof(one_cpu), &one_cpu); /* inherited by the server */
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(lfd, 1) != 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &alen) != 0)
		return 1;
	if (pthread_create(&th, NULL, server, (void *)(long)lfd) != 0)
		return 1;
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
		return 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	memset(buf, 'q', sizeof(buf));
	t0 = bench_now();
	for (long i = 0; i < n; i++)
		if (full(fd, buf, 1) != 0 || full(fd, buf, 0) != 0)
			return 1;
	bench_report(bench_now() - t0, n);
	close(fd);
	pthread_join(th, NULL);
	close(lfd);
	return 0;
}
