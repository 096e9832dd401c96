/* SPDX-License-Identifier: MIT */
/* Where a writer puts its bytes: a growing memory buffer. Output files are
 * written from it in one go; unit tests compare it with golden files. */
#ifndef SHIM_SINK_H
#define SHIM_SINK_H

#include <stddef.h>

struct shim_sink {
	char *buf;
	size_t len;
	size_t cap;
	int failed; /* out of memory: the content is incomplete */
};

void shim_sink_init(struct shim_sink *s);
void shim_sink_free(struct shim_sink *s);

/* Append bytes / formatted text. On allocation failure sets s->failed. */
void shim_sink_write(struct shim_sink *s, const void *data, size_t len);
void shim_sink_puts(struct shim_sink *s, const char *str);
void shim_sink_printf(struct shim_sink *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
