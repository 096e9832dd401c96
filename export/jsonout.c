/* SPDX-License-Identifier: MIT */
/* Cheap jansson for the JSON writers: one UTF-8 check a string (ASCII, most
 * of them, by a plain scan), decimal text without printf, and dumps that go
 * straight into the sink. Never formats JSON itself: jansson does. */
#include <stdlib.h>
#include <string.h>

#include "jsonout.h"

static int ascii(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80)
			return 0;
	return 1;
}

json_t *shim_json_strn(const char *s, size_t n)
{
	json_t *j;
	char *c;

	if (ascii(s, n))
		return json_stringn_nocheck(s, n);
	j = json_stringn(s, n); /* NULL when not UTF-8 */
	if (j)
		return j;
	c = malloc(n + 1);
	if (!c)
		return NULL;
	for (size_t i = 0; i < n; i++)
		c[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
	j = json_stringn_nocheck(c, n);
	free(c);
	return j;
}

json_t *shim_json_str(const char *s)
{
	return shim_json_strn(s, strlen(s));
}

size_t shim_json_u64(uint64_t v, char *buf)
{
	char tmp[21];
	size_t n = 0, len;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	for (len = 0; len < n; len++)
		buf[len] = tmp[n - 1 - len];
	buf[len] = '\0';
	return len;
}

size_t shim_json_i64(int64_t v, char *buf)
{
	if (v >= 0)
		return shim_json_u64((uint64_t)v, buf);
	buf[0] = '-';
	return 1 + shim_json_u64(-(uint64_t)v, buf + 1);
}

/* jansson hands over a document a few bytes at a time (a quote, a comma, a
 * key): most pieces fit the room left and are copied in place, the sink's
 * terminating NUL written once at the end. */
static int to_sink(const char *text, size_t size, void *data)
{
	struct shim_sink *out = data;
	size_t len = out->len;

	if (__builtin_expect(out->cap - len > size, 1)) {
		out->len = len + size;
		if (size == 1)
			out->buf[len] = *text;
		else
			memcpy(out->buf + len, text, size);
		return 0;
	}
	shim_sink_write(out, text, size);
	return out->failed ? -1 : 0;
}

int shim_json_dump(const json_t *j, size_t flags, struct shim_sink *out)
{
	size_t len = out->len;

	if (j && json_dump_callback(j, to_sink, out, flags) == 0 && !out->failed) {
		if (out->buf)
			out->buf[out->len] = '\0';
		return 0;
	}
	if (out->buf && len < out->cap) { /* nothing of a failed dump stays */
		out->len = len;
		out->buf[len] = '\0';
	}
	return -1;
}
