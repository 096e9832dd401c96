/* SPDX-License-Identifier: MIT */
/* shim/fdtab.c: interning (dedupe, kinds, truncation, a full table), the fd
 * map (set, dup, clear), lazy classification of real fds, and the socket
 * address names resources carry. */
#include "unit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "../../shim/fdtab.h"

static int setup(void **state)
{
	(void)state;
	return shim_fd_init();
}

static void test_intern_dedupe(void **state)
{
	uint32_t a, b, c;
	const struct shim_resource *r;
	(void)state;

	a = shim_res_intern(SHIM_KIND_FILE, "/etc/passwd", 11);
	b = shim_res_intern(SHIM_KIND_FILE, "/etc/passwd", 11);
	c = shim_res_intern(SHIM_KIND_FILE, "/etc/passwd-and-more", 11); /* same 11 bytes */
	assert_int_not_equal(a, SHIM_RES_OTHER);
	assert_int_equal(a, b);
	assert_int_equal(a, c);
	r = shim_res_get(a);
	assert_non_null(r);
	assert_int_equal(r->kind, SHIM_KIND_FILE);
	assert_int_equal(r->len, 11);
	assert_memory_equal(r->name, "/etc/passwd", 11);
	assert_int_not_equal(shim_res_intern(SHIM_KIND_FILE, "/etc/passw", 10), a);
}

static void test_intern_kinds(void **state)
{
	uint32_t f, d, s;
	(void)state;

	f = shim_res_intern(SHIM_KIND_FILE, "example.org", 11);
	d = shim_res_intern(SHIM_KIND_DNS, "example.org", 11);
	s = shim_res_intern(SHIM_KIND_SOCKET, "example.org", 11);
	assert_int_not_equal(f, d);
	assert_int_not_equal(f, s);
	assert_int_not_equal(d, s);
	assert_int_equal(shim_res_get(d)->kind, SHIM_KIND_DNS);
	assert_int_equal(shim_res_intern(SHIM_KIND_DNS, "example.org", 11), d);
	/* the empty name is a name too */
	assert_int_equal(shim_res_intern(SHIM_KIND_PIPE, "", 0),
			 shim_res_intern(SHIM_KIND_PIPE, "", 0));
}

static void test_intern_other_and_names(void **state)
{
	const struct shim_resource *o = shim_res_get(SHIM_RES_OTHER);
	(void)state;

	assert_non_null(o);
	assert_int_equal(o->kind, SHIM_KIND_OTHER);
	assert_int_equal(o->len, 7);
	assert_memory_equal(o->name, "(other)", 7);
	assert_null(shim_res_get(shim_res_count()));
	assert_string_equal(shim_kind_name(SHIM_KIND_FILE), "file");
	assert_string_equal(shim_kind_name(SHIM_KIND_SOCKET), "socket");
	assert_string_equal(shim_kind_name(SHIM_KIND_PIPE), "pipe");
	assert_string_equal(shim_kind_name(SHIM_KIND_DNS), "dns");
	assert_string_equal(shim_kind_name(SHIM_KIND_COUNT), "?");
}

static void test_intern_truncates(void **state)
{
	char longname[SHIM_RES_NAME + 100];
	uint32_t a, b;
	const struct shim_resource *r;
	(void)state;

	memset(longname, 'p', sizeof(longname));
	longname[0] = '/';
	a = shim_res_intern(SHIM_KIND_FILE, longname, sizeof(longname));
	r = shim_res_get(a);
	assert_non_null(r);
	assert_int_equal(r->len, SHIM_RES_NAME);
	assert_memory_equal(r->name, longname, SHIM_RES_NAME);
	/* names equal in their first SHIM_RES_NAME bytes are one resource */
	longname[sizeof(longname) - 1] = 'q';
	b = shim_res_intern(SHIM_KIND_FILE, longname, sizeof(longname));
	assert_int_equal(a, b);
	assert_int_equal(shim_res_intern(SHIM_KIND_FILE, longname, SHIM_RES_NAME), a);
	assert_int_not_equal(shim_res_intern(SHIM_KIND_FILE, longname, SHIM_RES_NAME - 1), a);
}

static void test_fd_set_dup_clear(void **state)
{
	/* fds far above anything open here: the table is all that knows them */
	const int fd = 60000, fd2 = 60001;
	uint32_t id = shim_res_intern(SHIM_KIND_SOCKET, "tcp 127.0.0.1:9", 15);
	unsigned kind = 99;
	(void)state;

	shim_fd_set(fd, SHIM_KIND_SOCKET, id);
	assert_int_equal(shim_fd_res(fd, &kind), id);
	assert_int_equal(kind, SHIM_KIND_SOCKET);
	assert_int_equal(shim_fd_kind(fd), SHIM_KIND_SOCKET);

	shim_fd_dup(fd, fd2);
	assert_int_equal(shim_fd_res(fd2, &kind), id);
	assert_int_equal(kind, SHIM_KIND_SOCKET);

	shim_fd_clear(fd);
	/* not open and not known: "(other)", and nothing remembered */
	assert_int_equal(shim_fd_res(fd, &kind), SHIM_RES_OTHER);
	assert_int_equal(kind, SHIM_KIND_OTHER);
	assert_int_equal(shim_fd_res(fd2, NULL), id);

	shim_fd_set_path(fd2, SHIM_KIND_FILE, "/tmp/shimmer-unit-path");
	assert_int_equal(shim_fd_kind(fd2), SHIM_KIND_FILE);
	assert_memory_equal(shim_res_get(shim_fd_res(fd2, NULL))->name, "/tmp/shimmer-unit-path",
			    22);
	shim_fd_clear(fd2);

	/* out of range: never a crash, always "(other)" */
	assert_int_equal(shim_fd_res(-1, &kind), SHIM_RES_OTHER);
	assert_int_equal(kind, SHIM_KIND_OTHER);
	assert_int_equal(shim_fd_res(SHIM_FD_CAP, &kind), SHIM_RES_OTHER);
	shim_fd_set(-5, SHIM_KIND_FILE, id);
	shim_fd_set(SHIM_FD_CAP, SHIM_KIND_FILE, id);
	shim_fd_dup(fd, -1);
	shim_fd_dup(-1, fd);
	shim_fd_clear(-1);
	shim_fd_set_path(3, SHIM_KIND_FILE, NULL);
}

static void expect_res(int fd, unsigned want_kind, const char *want_prefix)
{
	unsigned kind = 99;
	uint32_t id = shim_fd_res(fd, &kind);
	const struct shim_resource *r = shim_res_get(id);
	char name[SHIM_RES_NAME + 1];

	assert_int_equal(kind, want_kind);
	assert_int_not_equal(id, SHIM_RES_OTHER);
	assert_non_null(r);
	assert_int_equal(r->kind, want_kind);
	memcpy(name, r->name, r->len);
	name[r->len] = '\0';
	if (strncmp(name, want_prefix, strlen(want_prefix)) != 0)
		fail_msg("fd %d named '%s', expected it to start with '%s'", fd, name, want_prefix);
	/* remembered: the second look gives the same answer */
	assert_int_equal(shim_fd_res(fd, NULL), id);
}

static void test_classify_real_fds(void **state)
{
	int p[2], sv[2], fd, lfd, cfd;
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	char path[] = "/tmp/shimmer-unit-XXXXXX", want[64];
	(void)state;

	assert_int_equal(pipe(p), 0);
	shim_fd_clear(p[0]);
	shim_fd_clear(p[1]);
	expect_res(p[0], SHIM_KIND_PIPE, "pipe:[");
	expect_res(p[1], SHIM_KIND_PIPE, "pipe:[");

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	shim_fd_clear(sv[0]);
	expect_res(sv[0], SHIM_KIND_SOCKET, "unix ");

	fd = mkstemp(path);
	assert_true(fd >= 0);
	shim_fd_clear(fd);
	expect_res(fd, SHIM_KIND_FILE, path);

	/* a connected TCP socket is named by its peer */
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(lfd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sin, &sl), 0);
	cfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(cfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	shim_fd_clear(cfd);
	snprintf(want, sizeof(want), "tcp 127.0.0.1:%u", ntohs(sin.sin_port));
	expect_res(cfd, SHIM_KIND_SOCKET, want);

	/* a closed fd the table still remembers is the caller's to clear */
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
	close(fd);
	close(cfd);
	close(lfd);
	unlink(path);
	for (int i = 0; i < 2; i++) {
		shim_fd_clear(p[i]);
		shim_fd_clear(sv[i]);
	}
	shim_fd_clear(fd);
	shim_fd_clear(cfd);
	assert_int_equal(shim_fd_res(fd, NULL), SHIM_RES_OTHER);
}

/* ---- shim_addr_format ---- */

static void expect_addr(const void *sa, socklen_t len, int type, const char *want)
{
	char buf[300];
	size_t n;

	memset(buf, 'X', sizeof(buf));
	n = shim_addr_format(sa, len, type, buf, sizeof(buf));
	assert_string_equal(buf, want);
	assert_int_equal(n, strlen(want));
}

static void test_addr_inet(void **state)
{
	struct sockaddr_in in;
	struct sockaddr_in6 in6;
	(void)state;

	memset(&in, 0, sizeof(in));
	in.sin_family = AF_INET;
	in.sin_port = htons(80);
	inet_pton(AF_INET, "127.0.0.1", &in.sin_addr);
	expect_addr(&in, sizeof(in), SOCK_STREAM, "tcp 127.0.0.1:80");
	expect_addr(&in, sizeof(in), SOCK_DGRAM, "udp 127.0.0.1:80");
	expect_addr(&in, sizeof(in), 0, "ip 127.0.0.1:80");
	in.sin_port = htons(65535);
	inet_pton(AF_INET, "255.255.255.255", &in.sin_addr);
	expect_addr(&in, sizeof(in), SOCK_STREAM, "tcp 255.255.255.255:65535");

	memset(&in6, 0, sizeof(in6));
	in6.sin6_family = AF_INET6;
	in6.sin6_port = htons(53);
	inet_pton(AF_INET6, "::1", &in6.sin6_addr);
	expect_addr(&in6, sizeof(in6), SOCK_DGRAM, "udp [::1]:53");
	inet_pton(AF_INET6, "2001:db8::8a2e:370:7334", &in6.sin6_addr);
	expect_addr(&in6, sizeof(in6), SOCK_STREAM, "tcp [2001:db8::8a2e:370:7334]:53");
	inet_pton(AF_INET6, "::ffff:10.0.0.1", &in6.sin6_addr);
	expect_addr(&in6, sizeof(in6), SOCK_STREAM, "tcp [::ffff:10.0.0.1]:53");
}

static void test_addr_unix(void **state)
{
	struct sockaddr_un un;
	socklen_t base = offsetof(struct sockaddr_un, sun_path);
	(void)state;

	memset(&un, 0, sizeof(un));
	un.sun_family = AF_UNIX;
	strcpy(un.sun_path, "/run/x.sock"); /* checksrc:allow (test data) */
	expect_addr(&un, sizeof(un), SOCK_STREAM, "unix /run/x.sock");
	/* length without the NUL, as the kernel may return it */
	expect_addr(&un, base + 11, SOCK_STREAM, "unix /run/x.sock");

	/* abstract: a leading NUL, the name is the rest of the given length */
	memset(un.sun_path, 0, sizeof(un.sun_path));
	memcpy(un.sun_path, "\0shimmer-ctl", 12);
	expect_addr(&un, base + 12, SOCK_STREAM, "unix @shimmer-ctl");

	/* unnamed (socketpair, unbound client) */
	expect_addr(&un, sizeof(sa_family_t), SOCK_STREAM, "unix (unnamed)");
}

static void test_addr_edges(void **state)
{
	struct sockaddr_in in;
	struct sockaddr sa;
	char buf[8];
	(void)state;

	memset(&sa, 0, sizeof(sa));
	sa.sa_family = AF_PACKET;
	expect_addr(&sa, sizeof(sa), 0, "socket family 17");

	memset(&in, 0, sizeof(in));
	in.sin_family = AF_INET;
	in.sin_port = htons(8080);
	inet_pton(AF_INET, "10.1.2.3", &in.sin_addr);
	/* a small buffer: cut, terminated, the length of what is there */
	memset(buf, 'X', sizeof(buf));
	assert_int_equal(shim_addr_format((void *)&in, sizeof(in), SOCK_STREAM, buf, sizeof(buf)),
			 7);
	assert_string_equal(buf, "tcp 10.");
	/* too short for its family, or nothing at all: empty, terminated */
	memset(buf, 'X', sizeof(buf));
	assert_int_equal(shim_addr_format((void *)&in, 4, SOCK_STREAM, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	memset(buf, 'X', sizeof(buf));
	assert_int_equal(shim_addr_format(NULL, 16, SOCK_STREAM, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	assert_int_equal(shim_addr_format((void *)&in, sizeof(in), SOCK_STREAM, buf, 0), 0);
}

/* Every length the hash reads in a different way (a byte, two words, whole
 * words and an overlapping last one): the same bytes always give the same id,
 * one byte more or less another one. */
static void test_intern_lengths(void **state)
{
	const char *s = "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p";
	uint32_t prev = SHIM_RES_OTHER;
	(void)state;

	for (size_t len = 1; len <= 32; len++) {
		uint32_t id = shim_res_intern(SHIM_KIND_FILE, s, len);
		assert_int_not_equal(id, SHIM_RES_OTHER);
		assert_int_equal(shim_res_intern(SHIM_KIND_FILE, s, len), id);
		assert_int_not_equal(id, prev);
		assert_int_equal(shim_res_get(id)->len, len);
		prev = id;
	}
}

/* An open names its fd by the path's bytes, not by where they were: a buffer
 * reused for another path (longer, shorter, the same again), or the same
 * bytes as another kind, names another resource; a cut name stays one. */
static void test_set_path_reused_buffer(void **state)
{
	const int fd = 60010;
	char buf[400];
	uint32_t a, b, longer, shorter, sock;
	(void)state;

	snprintf(buf, sizeof(buf), "/tmp/shimmer-unit-a");
	a = shim_fd_set_path(fd, SHIM_KIND_FILE, buf);
	assert_int_equal(shim_fd_res(fd, NULL), a);
	assert_int_equal(shim_fd_set_path(fd, SHIM_KIND_FILE, buf), a);
	snprintf(buf, sizeof(buf), "/tmp/shimmer-unit-b");
	b = shim_fd_set_path(fd, SHIM_KIND_FILE, buf);
	assert_int_not_equal(b, a);
	assert_int_equal(shim_fd_res(fd, NULL), b);
	assert_memory_equal(shim_res_get(b)->name, "/tmp/shimmer-unit-b", 19);
	snprintf(buf, sizeof(buf), "/tmp/shimmer-unit-b2");
	longer = shim_fd_set_path(fd, SHIM_KIND_FILE, buf);
	snprintf(buf, sizeof(buf), "/tmp/shimmer-unit-");
	shorter = shim_fd_set_path(fd, SHIM_KIND_FILE, buf);
	assert_int_not_equal(longer, b);
	assert_int_not_equal(shorter, b);
	assert_int_not_equal(longer, shorter);
	assert_int_equal(shim_res_get(longer)->len, 20);
	assert_int_equal(shim_res_get(shorter)->len, 18);
	snprintf(buf, sizeof(buf), "/tmp/shimmer-unit-a");
	assert_int_equal(shim_fd_set_path(fd, SHIM_KIND_FILE, buf), a);
	sock = shim_fd_set_path(fd, SHIM_KIND_SOCKET, buf);
	assert_int_not_equal(sock, a);
	assert_int_equal(shim_fd_kind(fd), SHIM_KIND_SOCKET);
	assert_int_equal(shim_fd_set_path(fd, SHIM_KIND_FILE, buf), a);
	assert_int_equal(shim_fd_kind(fd), SHIM_KIND_FILE);

	/* past SHIM_RES_NAME: cut, and every path with those first bytes is one */
	memset(buf, 'x', 300);
	buf[0] = '/';
	buf[300] = '\0';
	a = shim_fd_set_path(fd, SHIM_KIND_FILE, buf);
	assert_int_equal(shim_res_get(a)->len, SHIM_RES_NAME);
	assert_int_equal(shim_fd_set_path(fd, SHIM_KIND_FILE, buf), a);
	buf[299] = 'y';
	assert_int_equal(shim_fd_set_path(fd, SHIM_KIND_FILE, buf), a);
	buf[100] = 'y';
	assert_int_not_equal(shim_fd_set_path(fd, SHIM_KIND_FILE, buf), a);
	shim_fd_clear(fd);
}

/* Last: it fills the table for the rest of this process. */
static void test_table_full(void **state)
{
	char name[32];
	uint64_t dropped0 = shim_res_dropped();
	uint32_t keep = shim_res_intern(SHIM_KIND_FILE, "/etc/passwd", 11), id = 0;
	unsigned n = 0;
	(void)state;

	while (shim_res_count() < SHIM_RES_CAP) {
		int len = snprintf(name, sizeof(name), "/fill/%u", n++);
		id = shim_res_intern(SHIM_KIND_FILE, name, (size_t)len);
		assert_int_not_equal(id, SHIM_RES_OTHER);
		assert_true(n < 2 * SHIM_RES_CAP);
	}
	assert_int_equal(id, SHIM_RES_CAP - 1);
	assert_int_equal(shim_res_dropped(), dropped0);
	/* new names: "(other)", counted; known names still resolve */
	for (int i = 0; i < 5; i++) {
		int len = snprintf(name, sizeof(name), "/over/%d", i);
		assert_int_equal(shim_res_intern(SHIM_KIND_FILE, name, (size_t)len),
				 SHIM_RES_OTHER);
	}
	assert_int_equal(shim_res_dropped(), dropped0 + 5);
	assert_int_equal(shim_res_count(), SHIM_RES_CAP);
	assert_int_equal(shim_res_intern(SHIM_KIND_FILE, "/etc/passwd", 11), keep);
	assert_int_not_equal(shim_res_intern(SHIM_KIND_FILE, "/fill/0", 7), SHIM_RES_OTHER);
	assert_int_equal(shim_res_dropped(), dropped0 + 5);
	/* an open of a new path: "(other)" and a drop every time, even from the
	 * same buffer; a known path still names its fd */
	snprintf(name, sizeof(name), "/over/open");
	assert_int_equal(shim_fd_set_path(60020, SHIM_KIND_FILE, name), SHIM_RES_OTHER);
	assert_int_equal(shim_fd_set_path(60020, SHIM_KIND_FILE, name), SHIM_RES_OTHER);
	assert_int_equal(shim_res_dropped(), dropped0 + 7);
	snprintf(name, sizeof(name), "/etc/passwd");
	assert_int_equal(shim_fd_set_path(60020, SHIM_KIND_FILE, name), keep);
	assert_int_equal(shim_res_dropped(), dropped0 + 7);
	shim_fd_clear(60020);
	assert_null(shim_res_get(SHIM_RES_CAP));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_intern_dedupe),
		cmocka_unit_test(test_intern_kinds),
		cmocka_unit_test(test_intern_other_and_names),
		cmocka_unit_test(test_intern_truncates),
		cmocka_unit_test(test_intern_lengths),
		cmocka_unit_test(test_set_path_reused_buffer),
		cmocka_unit_test(test_fd_set_dup_clear),
		cmocka_unit_test(test_classify_real_fds),
		cmocka_unit_test(test_addr_inet),
		cmocka_unit_test(test_addr_unix),
		cmocka_unit_test(test_addr_edges),
		cmocka_unit_test(test_table_full),
	};
	return unit_exit(cmocka_run_group_tests(tests, setup, NULL));
}
