/* SPDX-License-Identifier: MIT */
/* Memory sink for writers. Export time only (allocates). */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sink.h"

void shim_sink_init(struct shim_sink *s)
{
	memset(s, 0, sizeof(*s));
}

void shim_sink_free(struct shim_sink *s)
{
	free(s->buf);
	memset(s, 0, sizeof(*s));
}

static int reserve(struct shim_sink *s, size_t more)
{
	size_t want = s->len + more + 1, cap = s->cap ? s->cap : 4096;
	char *p;

	if (s->failed)
		return -1;
	if (more > SIZE_MAX / 4 - s->len) { /* the doubling below must not wrap */
		s->failed = 1;
		return -1;
	}
	if (want <= s->cap)
		return 0;
	while (cap < want)
		cap *= 2;
	p = realloc(s->buf, cap);
	if (!p) {
		s->failed = 1;
		return -1;
	}
	s->buf = p;
	s->cap = cap;
	return 0;
}

void shim_sink_write(struct shim_sink *s, const void *data, size_t len)
{
	if (reserve(s, len) != 0)
		return;
	memcpy(s->buf + s->len, data, len);
	s->len += len;
	s->buf[s->len] = '\0';
}

void shim_sink_puts(struct shim_sink *s, const char *str)
{
	shim_sink_write(s, str, strlen(str));
}

void shim_sink_printf(struct shim_sink *s, const char *fmt, ...)
{
	va_list ap;
	size_t room;
	int n;

	/* format straight into the room left (one pass: most lines fit), and
	 * again after growing when it did not */
	if (s->failed || (!s->buf && reserve(s, 0) != 0))
		return;
	room = s->cap - s->len;
	va_start(ap, fmt);
	n = vsnprintf(s->buf + s->len, room, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < room) {
		s->len += (size_t)n;
		return;
	}
	s->buf[s->len] = '\0'; /* a cut-off attempt leaves no trace */
	if (n < 0 || reserve(s, (size_t)n) != 0)
		return;
	va_start(ap, fmt);
	vsnprintf(s->buf + s->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	s->len += (size_t)n;
}
