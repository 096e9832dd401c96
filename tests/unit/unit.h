/* SPDX-License-Identifier: MIT */
/* Shared helpers of the cmocka unit tests: capturing fd 2 through a pipe, and
 * leaving without the shim's destructor (the unit binaries link shim/init.c,
 * whose exit flush must not drop a run folder into the source tree). */
#ifndef SHIM_UNIT_H
#define SHIM_UNIT_H

#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>
#include <setjmp.h>
#include <cmocka.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

/* A SIGALRM every 50 us of real time calling handler (SA_RESTART), to land
 * a signal handler at every point of a tight loop, until unit_timer_stop. */
struct unit_timer {
	struct sigaction old;
};

static inline void unit_timer_start(struct unit_timer *t, void (*handler)(int))
{
	struct sigaction sa;
	struct itimerval it = {{0, 50}, {0, 50}};

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = handler;
	sa.sa_flags = SA_RESTART;
	assert_int_equal(sigaction(SIGALRM, &sa, &t->old), 0);
	assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
}

static inline void unit_timer_stop(struct unit_timer *t)
{
	struct itimerval off;

	memset(&off, 0, sizeof(off));
	setitimer(ITIMER_REAL, &off, NULL);
	sigaction(SIGALRM, &t->old, NULL);
}

/* Test helpers the exporter/model code must find by name: visible to dladdr. */
#define UNIT_VISIBLE __attribute__((visibility("default"), noinline))

struct unit_capture {
	int pipefd[2];
	int saved;
	char text[16384];
	size_t len;
};

/* Point fd 2 at a pipe until unit_capture_end(). */
static inline void unit_capture_begin(struct unit_capture *c)
{
	memset(c, 0, sizeof(*c));
	assert_int_equal(pipe2(c->pipefd, O_CLOEXEC), 0);
	c->saved = dup(2);
	assert_true(c->saved >= 0);
	assert_true(dup2(c->pipefd[1], 2) == 2);
}

/* Restore fd 2 and collect what was written to it into c->text. */
static inline void unit_capture_end(struct unit_capture *c)
{
	ssize_t n;

	assert_true(dup2(c->saved, 2) == 2);
	close(c->saved);
	close(c->pipefd[1]);
	while ((n = read(c->pipefd[0], c->text + c->len, sizeof(c->text) - 1 - c->len)) > 0)
		c->len += (size_t)n;
	c->text[c->len] = '\0';
	close(c->pipefd[0]);
}

/* Number of lines of text starting with prefix. */
static inline int unit_count_lines(const char *text, const char *prefix)
{
	int n = 0;
	size_t pl = strlen(prefix);

	for (const char *l = text; *l;) {
		const char *e = strchr(l, '\n');
		if (strncmp(l, prefix, pl) == 0)
			n++;
		if (!e)
			break;
		l = e + 1;
	}
	return n;
}

/* Read a whole file into a malloc'd, NUL-terminated buffer (NULL if missing). */
static inline char *unit_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t cap = 0, n = 0, r;

	if (!f)
		return NULL;
	do {
		if (n + 4096 + 1 > cap) {
			cap = cap ? cap * 2 : 8192;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		r = fread(buf + n, 1, cap - n - 1, f);
		n += r;
	} while (r > 0);
	fclose(f);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

/* The source tree's root, from this file's own path (tests run from the root,
 * but a build elsewhere still finds its golden files). */
static inline const char *unit_golden(const char *name, char *buf, size_t size)
{
	const char *root = getenv("SHIMMER_SRC");
	snprintf(buf, size, "%s/tests/golden/%s", root ? root : ".", name);
	return buf;
}

/* Leave with cmocka's result, past the shim's atexit flush; LeakSanitizer
 * still gets its look under make asan. */
static inline int unit_exit(int failed)
{
	fflush(NULL);
#if defined(__SANITIZE_ADDRESS__)
	if (__lsan_do_recoverable_leak_check())
		failed = failed ? failed : 1;
#endif
	_exit(failed ? 1 : 0);
}

#endif
