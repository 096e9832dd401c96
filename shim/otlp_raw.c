/* SPDX-License-Identifier: MIT */
/* A minimal HTTP/1.1 POST over a plain socket, for the exit flush of http://
 * endpoints when libcurl was not initialized before exit: by then the
 * program's own atexit handlers may have torn down the OpenSSL that a fresh
 * curl_global_init would touch (curl, python, git... crash in ENGINE_*).
 * Bounded by a deadline through poll; fds high and close-on-exec. */
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "clock.h"
#include "otlp.h"
#include "worker.h"

struct hdrbuf {
	char *p;
	size_t len, cap;
};

static void put(struct hdrbuf *h, const char *s)
{
	size_t n = strlen(s);
	if (h->len + n + 1 > h->cap)
		n = h->cap > h->len + 1 ? h->cap - h->len - 1 : 0;
	memcpy(h->p + h->len, s, n);
	h->len += n;
	h->p[h->len] = '\0';
}

static void put_line(const char *line, void *arg)
{
	put(arg, line);
	put(arg, "\r\n");
}

static int wait_fd(int fd, short ev, uint64_t deadline)
{
	struct pollfd p = {.fd = fd, .events = ev};
	uint64_t now = shim_clock_mono_ns();
	int ms;

	if (now >= deadline)
		return -1;
	ms = (int)((deadline - now + 999999) / 1000000);
	return poll(&p, 1, ms) == 1 ? 0 : -1;
}

/* Headers and body in one sendmsg (one segment on loopback), the rest as
 * the socket takes it. */
static int send_all(int fd, const char *h, size_t hn, const char *b, size_t bn, uint64_t deadline)
{
	struct iovec iov[2] = {{(void *)h, hn}, {(void *)b, bn}};
	struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2};

	while (iov[0].iov_len + iov[1].iov_len) {
		ssize_t w = sendmsg(fd, &m, MSG_NOSIGNAL);
		if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (wait_fd(fd, POLLOUT, deadline) != 0)
				return -1;
			continue;
		}
		if (w <= 0)
			return -1;
		for (int i = 0; i < 2 && w > 0; i++) {
			size_t k = (size_t)w < iov[i].iov_len ? (size_t)w : iov[i].iov_len;
			iov[i].iov_base = (char *)iov[i].iov_base + k;
			iov[i].iov_len -= k;
			w -= (ssize_t)k;
		}
		m.msg_iov = iov[0].iov_len ? iov : iov + 1;
		m.msg_iovlen = iov[0].iov_len ? 2 : 1;
	}
	return 0;
}

/* A numeric host without the resolver (no nsswitch, no files read). */
static int numeric(const char *host, const char *port, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
	char *end;
	long p = strtol(port, &end, 10);

	if (*end || p <= 0 || p > 65535)
		return -1;
	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)p);
		*len = sizeof(*a4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)p);
		*len = sizeof(*a6);
		return 0;
	}
	return -1;
}

long shim_otlp_raw_post(const char *url, const char *body, size_t len, int gzipped,
			const char *headers, long timeout_ms, long *retry_after, char *why,
			size_t wsize)
{
	uint64_t deadline = shim_clock_mono_ns() + (uint64_t)timeout_ms * 1000000ull;
	char host[256], port[16] = "80", hbuf[4096], resp[2048];
	const char *h = url + 7, *path, *hend;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL, num;
	struct sockaddr_storage ss;
	socklen_t sslen = 0;
	struct hdrbuf hb = {.p = hbuf, .cap = sizeof(hbuf)};
	size_t got = 0;
	long status = 0;
	int fd = -1;

	*retry_after = -1;
	path = strchr(h, '/');
	hend = path ? path : h + strlen(h);
	if (!path)
		path = "/";
	if (*h == '[') { /* [v6]:port */
		const char *c = memchr(h, ']', (size_t)(hend - h));
		if (!c || (size_t)(c - h - 1) >= sizeof(host))
			goto bad_url;
		snprintf(host, sizeof(host), "%.*s", (int)(c - h - 1), h + 1);
		if (c[1] == ':')
			snprintf(port, sizeof(port), "%.*s", (int)(hend - c - 2), c + 2);
	} else {
		const char *c = memchr(h, ':', (size_t)(hend - h));
		const char *e = c ? c : hend;
		if ((size_t)(e - h) >= sizeof(host))
			goto bad_url;
		snprintf(host, sizeof(host), "%.*s", (int)(e - h), h);
		if (c)
			snprintf(port, sizeof(port), "%.*s", (int)(hend - c - 1), c + 1);
	}
	if (numeric(host, port, &ss, &sslen) == 0) {
		memset(&num, 0, sizeof(num));
		num.ai_family = ss.ss_family;
		num.ai_addr = (struct sockaddr *)&ss;
		num.ai_addrlen = sslen;
	} else if (getaddrinfo(host, port, &hints, &ai) != 0 || !ai) {
		snprintf(why, wsize, "Could not resolve host: %s", host);
		return 0;
	}
	{
		const struct addrinfo *to = ai ? ai : &num;
		int one = 1;
		fd = socket(to->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd >= 0)
			fd = shim_worker_high_fd(fd);
		if (fd >= 0)
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (fd < 0 || (connect(fd, to->ai_addr, to->ai_addrlen) != 0 && errno != EINPROGRESS))
			goto conn_fail;
	}
	if (wait_fd(fd, POLLOUT, deadline) != 0)
		goto timeout;
	{
		int err = 0;
		socklen_t el = sizeof(err);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err) {
			errno = err;
			goto conn_fail;
		}
	}
	snprintf(resp, sizeof(resp),
		 "POST %s HTTP/1.1\r\nHost: %.200s:%s\r\nUser-Agent: shimmer-otlp/0.1\r\n"
		 "Content-Type: application/json\r\nContent-Length: %zu\r\nConnection: close\r\n%s",
		 path, host, port, len, gzipped ? "Content-Encoding: gzip\r\n" : "");
	put(&hb, resp);
	shim_otlp_parse_headers(headers, put_line, &hb);
	put(&hb, "\r\n");
	if (send_all(fd, hb.p, hb.len, body, len, deadline) != 0)
		goto timeout;
	while (got + 1 < sizeof(resp)) {
		ssize_t r = recv(fd, resp + got, sizeof(resp) - 1 - got, 0);
		if (r < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (wait_fd(fd, POLLIN, deadline) != 0)
				goto timeout;
			continue;
		}
		if (r <= 0)
			break;
		got += (size_t)r;
		resp[got] = '\0';
		if (strstr(resp, "\r\n\r\n"))
			break;
	}
	resp[got] = '\0';
	if (sscanf(resp, "HTTP/%*s %ld", &status) != 1) {
		snprintf(why, wsize, "no HTTP answer");
		status = 0;
	}
	for (char *l = strstr(resp, "\r\n"); l && l[2] && !(l[2] == '\r'); l = strstr(l + 2, "\r\n"))
		if (strncasecmp(l + 2, "Retry-After:", 12) == 0) {
			char *end;
			long v = strtol(l + 14, &end, 10);
			if (end != l + 14 && v >= 0)
				*retry_after = v;
		}
	goto out;
bad_url:
	snprintf(why, wsize, "cannot parse the endpoint URL");
	return 0;
conn_fail:
	snprintf(why, wsize, "Couldn't connect to server (%s)", strerror(errno));
	goto out;
timeout:
	snprintf(why, wsize, "Timeout was reached");
out:
	if (fd >= 0)
		close(fd);
	if (ai)
		freeaddrinfo(ai);
	return status;
}
