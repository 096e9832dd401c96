/* SPDX-License-Identifier: MIT */
/* errno transparency: failing calls (open ENOENT, read/write/close EBADF,
 * connect ECONNREFUSED, getaddrinfo on a .invalid name, huge allocations
 * ENOMEM) report the real return value and errno; successful calls leave a
 * preset errno (1234) alone. Each hooked name is first called here with
 * errno preset, so a hook's lazy resolution must not leak into errno either.
 * One line per check on stdout; the test diffs it against a bare run. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define MARK 1234
#define CLOSED_FD 999 /* never opened here */

static char out[16384];
static size_t used;

/* stdout is written once at the end: no stdio between the checks */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	used += (size_t)vsnprintf(out + used, sizeof(out) - used, fmt, ap);
	va_end(ap);
}

static const char *ename(int e)
{
	const char *n = e == MARK ? "MARK" : strerrorname_np(e);
	return n ? n : "?";
}

/* A successful call: errno must still be MARK. */
static void kept(const char *what, long r)
{
	int e = errno;
	say("%s: ok=%d errno=%s\n", what, r >= 0, ename(e));
}

/* A failing call: its return value and errno. */
static void failed(const char *what, long r)
{
	int e = errno;
	say("%s: ret=%ld errno=%s\n", what, r, ename(e));
}

int main(void)
{
	volatile size_t huge = SIZE_MAX / 2;
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	struct addrinfo hints, *res = NULL;
	char buf[16];
	void *p, *q;
	int fd, zero, s, rc, e;

	/* ---- successes leave errno alone ---- */
	errno = MARK;
	fd = open("/dev/null", O_WRONLY);
	kept("open /dev/null", fd);
	errno = MARK;
	kept("write 1 byte", write(fd, "x", 1));
	errno = MARK;
	zero = openat(AT_FDCWD, "/dev/zero", O_RDONLY);
	kept("openat /dev/zero", zero);
	errno = MARK;
	kept("read 16 bytes", read(zero, buf, sizeof(buf)));
	errno = MARK;
	kept("lseek", lseek(zero, 0, SEEK_SET));
	errno = MARK;
	p = malloc(16);
	kept("malloc 16", p ? 0 : -1);
	errno = MARK;
	q = calloc(4, 8);
	kept("calloc 4x8", q ? 0 : -1);
	errno = MARK;
	p = realloc(p, 4096);
	kept("realloc 4096", p ? 0 : -1);
	errno = MARK;
	free(q);
	kept("free", 0);
	errno = MARK;
	kept("close", close(fd));
	errno = MARK;
	s = socket(AF_INET, SOCK_STREAM, 0);
	kept("socket", s);

	/* ---- failures report the real value and errno ---- */
	errno = MARK;
	failed("open missing", open("/nonexistent/shimmer/errno", O_RDONLY));
	errno = MARK;
	failed("read closed fd", read(CLOSED_FD, buf, 1));
	errno = MARK;
	failed("write closed fd", write(CLOSED_FD, "x", 1));
	errno = MARK;
	failed("close closed fd", close(CLOSED_FD));
	errno = MARK;
	failed("read bad fd -1", read(-1, buf, 1));

	/* a port that was just bound and released: nobody listens there */
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &sl) != 0)
		return 2;
	close(fd);
	errno = MARK;
	failed("connect refused", connect(s, (struct sockaddr *)&sin, sizeof(sin)));
	close(s);

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_INET;
	hints.ai_socktype = SOCK_STREAM;
	errno = MARK;
	rc = getaddrinfo("nothing-here.invalid", "80", &hints, &res);
	e = errno;
	say("getaddrinfo .invalid: rc=%d (%s) errno=%s\n", rc, gai_strerror(rc), ename(e));
	if (rc == 0)
		freeaddrinfo(res);
	errno = MARK;
	rc = getaddrinfo("127.0.0.1", "80", &hints, &res);
	say("getaddrinfo numeric: rc=%d\n", rc);
	if (rc == 0) {
		errno = MARK;
		freeaddrinfo(res);
		kept("freeaddrinfo", 0);
	}

	errno = MARK;
	q = malloc(huge);
	failed("malloc huge", q ? 0 : -1);
	errno = MARK;
	q = calloc(huge, 4);
	failed("calloc overflow", q ? 0 : -1);
	errno = MARK;
	q = realloc(p, huge);
	failed("realloc huge", q ? 0 : -1);
	if (!q)
		free(p);
	close(zero);

	fwrite(out, 1, used, stdout);
	return 0;
}
