/* SPDX-License-Identifier: MIT */
/* Workload (e): request/response over loopback TCP: a server thread echoes a
 * 32-byte request, the client sends and waits, 100,000 round trips (argv[1]);
 * argv[2] > 0: a new connection every argv[2] round trips (spans to export).
 * Prints the slowest single round trip and the 99.9th percentile ("max_ns N
 * p999_ns N"), then ns per round trip. Both threads share one CPU: a round
 * trip is then two plain context switches, not cross-CPU wake-ups of idle
 * vCPUs, whose cost on a VM swamps everything else. */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
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

/* Serves connections one after the other until a zero-byte request message
 * (the client's "done") or an accept error. */
static void *server(void *arg)
{
	int lfd = (int)(long)arg, one = 1;
	char buf[MSG];

	for (;;) {
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			return NULL;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		while (full(fd, buf, 0) == 0 && full(fd, buf, 1) == 0)
			;
		close(fd);
		if (buf[0] == 'x')
			return NULL;
	}
}

static int dial(const struct sockaddr_in *a)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	if (fd < 0 || connect(fd, (const struct sockaddr *)a, sizeof(*a)) != 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* Slowest round trips: latency buckets of 1 us up to 100 ms (then one). */
#define LAT_BUCKETS 100001
static uint32_t lat[LAT_BUCKETS];

static double pct(long n, double q)
{
	long want = (long)((double)n * q), seen = 0;

	for (long b = 0; b < LAT_BUCKETS; b++) {
		seen += lat[b];
		if (seen > want)
			return (double)b * 1000.0;
	}
	return 1e8;
}

int main(int argc, char **argv)
{
	long n = bench_iters(argc, argv, 100000), every = argc > 2 ? strtol(argv[2], NULL, 10) : 0;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t alen = sizeof(a);
	int lfd = socket(AF_INET, SOCK_STREAM, 0), fd;
	char buf[MSG];
	pthread_t th;
	double t0, t, worst = 0;

	cpu_set_t one_cpu;

	CPU_ZERO(&one_cpu);
	CPU_SET(sched_getcpu() < 0 ? 0 : sched_getcpu(), &one_cpu);
	sched_setaffinity(0, sizeof(one_cpu), &one_cpu); /* inherited by the server */
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(lfd, 1) != 0 ||
	    getsockname(lfd, (struct sockaddr *)&a, &alen) != 0)
		return 1;
	if (pthread_create(&th, NULL, server, (void *)(long)lfd) != 0)
		return 1;
	if ((fd = dial(&a)) < 0)
		return 1;
	memset(buf, 'q', sizeof(buf));
	t0 = t = bench_now();
	for (long i = 0; i < n; i++) {
		double now, d;
		if (every > 0 && i > 0 && i % every == 0) {
			close(fd);
			if ((fd = dial(&a)) < 0)
				return 1;
		}
		if (full(fd, buf, 1) != 0 || full(fd, buf, 0) != 0)
			return 1;
		now = bench_now();
		d = now - t; /* with the reconnect, when there was one */
		t = now;
		if (d > worst)
			worst = d;
		lat[d < 1e8 ? (long)(d / 1000.0) : LAT_BUCKETS - 1]++;
	}
	t = bench_now() - t0;
	printf("max_ns %.0f p999_ns %.0f\n", worst, pct(n, 0.999));
	bench_report(t, n);
	buf[0] = 'x'; /* done: the server returns after echoing this */
	if (full(fd, buf, 1) != 0 || full(fd, buf, 0) != 0)
		return 1;
	close(fd);
	pthread_join(th, NULL);
	close(lfd);
	return 0;
}
