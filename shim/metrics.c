/* SPDX-License-Identifier: MIT */
/* GET /metrics over HTTP/1.1 on the worker thread. One connection at a time:
 * read the request within READ_MS, build the counts model, render it, write
 * it within WRITE_MS, close. A client that never sends or never reads costs
 * the worker at most those bounds and the target nothing: the target's threads
 * never wait on this file, and every call here passes through the hooks. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../export/export.h"
#include "clock.h"
#include "config.h"
#include "log.h"
#include "metrics.h"
#include "model.h"
#include "output.h"
#include "sink.h"
#include "worker.h"

#define READ_MS 500	  /* for the whole request head */
#define WRITE_MS 2000	  /* for the whole response */
#define REQ_MAX 4096	  /* request head bytes kept; more is ignored */
#define ACCEPTS_A_WAKE 16 /* connections served before the worker looks at its jobs */
#define SNDBUF (128 * 1024) /* kernel memory a client that does not read can pin */

static int listen_fd = -1;
static int bound_port;

int shim_metrics_port(void)
{
	return bound_port;
}

static const char *addr_text(char *buf, size_t size)
{
	const struct sockaddr_storage *ss = &shim_config.metrics_addr;
	char ip[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)ss;
		inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
		snprintf(buf, size, "[%s]:%d", ip, ntohs(a->sin6_port));
	} else {
		const struct sockaddr_in *a = (const void *)ss;
		inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
		snprintf(buf, size, "%s:%d", ip, ntohs(a->sin_port));
	}
	return buf;
}

/* Milliseconds left until deadline (monotonic ns), 0 when past. */
static int left_ms(uint64_t deadline)
{
	uint64_t now = shim_clock_mono_ns();
	return now >= deadline ? 0 : (int)((deadline - now + 999999) / 1000000);
}

/* The request head, up to the blank line, within READ_MS. Returns its length
 * or -1 (timeout, closed, error). */
static int read_head(int c, char *buf, size_t size)
{
	uint64_t deadline = shim_clock_mono_ns() + READ_MS * 1000000ull;
	size_t n = 0;

	while (n + 1 < size) {
		struct pollfd p = {.fd = c, .events = POLLIN};
		ssize_t r;
		int ms = left_ms(deadline);
		if (ms == 0 || poll(&p, 1, ms) <= 0)
			return -1;
		r = recv(c, buf + n, size - 1 - n, 0);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r <= 0)
			return -1;
		n += (size_t)r;
		buf[n] = '\0';
		if (strstr(buf, "\r\n\r\n") || strstr(buf, "\n\n"))
			return (int)n;
	}
	return (int)n; /* a head longer than we keep: the request line is in it */
}

/* Everything within deadline, or give up (a client that does not read). */
static int write_all(int c, const char *p, size_t n, uint64_t deadline)
{
	while (n) {
		struct pollfd pf = {.fd = c, .events = POLLOUT};
		ssize_t w = send(c, p, n, MSG_NOSIGNAL);
		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		if (w < 0 && errno != EINTR && errno != EAGAIN)
			return -1;
		if (left_ms(deadline) == 0 || poll(&pf, 1, left_ms(deadline)) <= 0)
			return -1;
	}
	return 0;
}

static void respond(int c, const char *status, const char *type, const char *body, size_t len,
		    int head_only)
{
	uint64_t deadline = shim_clock_mono_ns() + WRITE_MS * 1000000ull;
	char h[256];
	int n = snprintf(h, sizeof(h),
			 "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			 "Connection: close\r\n\r\n",
			 status, type, len);

	if (write_all(c, h, (size_t)n, deadline) != 0 ||
	    (!head_only && write_all(c, body, len, deadline) != 0))
		shim_debug("metrics: a client did not take the response in %d ms: dropped",
			   WRITE_MS);
}

static void serve(int c)
{
	static const char text[] = "text/plain; charset=utf-8";
	char req[REQ_MAX], *path, *end;
	int head_only;

	if (read_head(c, req, sizeof(req)) <= 0) {
		shim_debug("metrics: no request within %d ms: dropped", READ_MS);
		return;
	}
	head_only = strncmp(req, "HEAD ", 5) == 0;
	if (strncmp(req, "GET ", 4) != 0 && !head_only) {
		respond(c, "405 Method Not Allowed", text, "GET /metrics\n", 13, 0);
		return;
	}
	path = req + (head_only ? 5 : 4);
	end = path + strcspn(path, " ?\r\n");
	*end = '\0';
	if (strcmp(path, "/metrics") != 0 && strcmp(path, "/") != 0) {
		respond(c, "404 Not Found", text, "GET /metrics\n", 13, head_only);
		return;
	}
	{
		struct shim_model m;
		struct shim_sink s;
		shim_sink_init(&s);
		if (shim_model_build_counts(&m) != 0) {
			respond(c, "503 Service Unavailable", text, "out of memory\n", 14, head_only);
		} else {
			if (shim_export_prom(&m, &s) != 0 || s.failed)
				respond(c, "503 Service Unavailable", text, "out of memory\n", 14,
					head_only);
			else
				respond(c, "200 OK", "text/plain; version=0.0.4; charset=utf-8",
					s.buf ? s.buf : "", s.len, head_only);
			shim_model_free(&m);
		}
		shim_sink_free(&s);
	}
}

/* The worker's watch: the listener is readable. */
static void on_accept(int fd, void *arg)
{
	(void)arg;
	for (int i = 0; i < ACCEPTS_A_WAKE; i++) {
		int c = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (c < 0)
			return; /* EAGAIN: no one left; anything else: next wake-up */
		/* far from the target's fd numbers while we hold it */
		c = shim_worker_high_fd(c);
		setsockopt(c, SOL_SOCKET, SO_SNDBUF, &(int){SNDBUF}, sizeof(int));
		serve(c);
		close(c);
	}
}

static void write_port_file(void)
{
	char dir[4096], tmp[4200], dst[4200], line[16];
	int fd, n;

	if (shim_output_make_dir() != 0)
		return; /* output.c said why */
	snprintf(dir, sizeof(dir), "%s", shim_output_dir());
	snprintf(tmp, sizeof(tmp), "%s/.%s.%d.tmp", dir, SHIM_METRICS_PORT_FILE, getpid());
	snprintf(dst, sizeof(dst), "%s/%s", dir, SHIM_METRICS_PORT_FILE);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	n = snprintf(line, sizeof(line), "%d\n", bound_port);
	if (fd < 0 || write(fd, line, (size_t)n) != n || close(fd) != 0 ||
	    rename(tmp, dst) != 0) {
		shim_err("cannot write %s: %s", dst, strerror(errno));
		if (fd >= 0)
			unlink(tmp);
	}
}

void shim_metrics_init(void)
{
	const struct sockaddr_storage *ss = &shim_config.metrics_addr;
	struct sockaddr_storage got;
	socklen_t glen = sizeof(got);
	char addr[80];
	int one = 1, fd;

	if (!shim_config.metrics_addrlen)
		return;
	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		goto fail;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)ss, shim_config.metrics_addrlen) != 0 ||
	    listen(fd, 128) != 0 || getsockname(fd, (struct sockaddr *)&got, &glen) != 0)
		goto fail;
	bound_port = ntohs(got.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&got)->sin6_port
						      : ((struct sockaddr_in *)&got)->sin_port);
	fd = shim_worker_high_fd(fd);
	if (shim_worker_watch(fd, on_accept, NULL) != 0) {
		errno = ENOSPC;
		goto fail;
	}
	listen_fd = fd;
	write_port_file();
	shim_info("metrics on http://%s/metrics (port %d)", addr_text(addr, sizeof(addr)),
		  bound_port);
	return;
fail:
	one = errno;
	shim_err("SHIMMER_METRICS_ADDR=%s: %s; no /metrics endpoint, the rest runs",
		 addr_text(addr, sizeof(addr)), strerror(one));
	if (fd >= 0)
		close(fd);
	bound_port = 0;
}

void shim_metrics_fork_child(void)
{
	if (listen_fd < 0)
		return;
	shim_worker_unwatch(listen_fd);
	close(listen_fd);
	listen_fd = -1;
	bound_port = 0;
}
