/* SPDX-License-Identifier: MIT */
/* Appending a short piece to a sink, inline: writers put lines together from
 * many small pieces (a quote, a label, a number), and most fit the room the
 * sink has left. Export time only. */
#ifndef SHIM_PUT_H
#define SHIM_PUT_H

#include <string.h>

#include "../shim/sink.h"

/* As shim_sink_write(o, s, n): copied in place when it fits. */
static inline void shim_put(struct shim_sink *o, const char *s, size_t n)
{
	if (o->cap - o->len > n) {
		if (n == 1) /* a quote, a comma: most of jansson's pieces */
			o->buf[o->len] = *s;
		else
			memcpy(o->buf + o->len, s, n);
		o->len += n;
		o->buf[o->len] = '\0';
	} else {
		shim_sink_write(o, s, n);
	}
}

/* A string constant, its length known at compile time. */
#define SHIM_PUT_LIT(o, lit) shim_put((o), "" lit, sizeof(lit) - 1)

#endif
