/* SPDX-License-Identifier: MIT */
/* profile.pstats: what Python's pstats.Stats(path) loads: the marshal of one
 * dict {(file, line, name): (cc, nc, tt, ct, {caller: (nc, cc, tt, ct)})}
 * (Lib/cProfile.py snapshot_stats), written with the marshal types every
 * Python 3 reads: { ( i l g u 0. A sampled function's call count is unknown:
 * it is written as 0, which pstats prints as "0" with blank per-call columns
 * (never an invented count). The dict is never empty. Reads only the view. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "export.h"
#include "view.h"

static void w_byte(struct shim_sink *o, int c)
{
	char b = (char)c;
	shim_sink_write(o, &b, 1);
}

static void w_i32(struct shim_sink *o, int32_t v)
{
	uint32_t u = (uint32_t)v;
	unsigned char b[4] = {u & 0xff, (u >> 8) & 0xff, (u >> 16) & 0xff, u >> 24};
	shim_sink_write(o, b, 4);
}

/* TYPE_INT when it fits 32 bits, else TYPE_LONG: 15-bit digits, least first. */
static void w_int(struct shim_sink *o, uint64_t v)
{
	int n = 0;
	uint64_t t = v;

	if (v <= INT32_MAX) {
		w_byte(o, 'i');
		w_i32(o, (int32_t)v);
		return;
	}
	while (t) {
		n++;
		t >>= 15;
	}
	w_byte(o, 'l');
	w_i32(o, n);
	for (int i = 0; i < n; i++) {
		unsigned d = (unsigned)((v >> (15 * i)) & 0x7fff);
		unsigned char b[2] = {d & 0xff, d >> 8};
		shim_sink_write(o, b, 2);
	}
}

/* TYPE_BINARY_FLOAT: IEEE-754 double, little-endian. */
static void w_float(struct shim_sink *o, double d)
{
	uint64_t u;
	unsigned char b[8];

	if (!isfinite(d) || d < 0)
		d = 0;
	memcpy(&u, &d, 8);
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(u >> (8 * i));
	w_byte(o, 'g');
	shim_sink_write(o, b, 8);
}

/* TYPE_UNICODE: int32 byte length, then UTF-8 (cleaned: pstats decodes it). */
static void w_str(struct shim_sink *o, const char *s)
{
	char *c = shim_view_clean(s, 0);
	size_t n;

	if (!c) {
		o->failed = 1;
		return;
	}
	n = strlen(c);
	w_byte(o, 'u');
	w_i32(o, (int32_t)n);
	shim_sink_write(o, c, n);
	free(c);
}

static void w_key(struct shim_sink *o, const struct shim_view_entry *e)
{
	w_byte(o, '(');
	w_i32(o, 3);
	w_str(o, e->file);
	w_int(o, e->line > 0 ? (uint64_t)e->line : 0);
	w_str(o, e->name);
}

static void w_entry(struct shim_sink *o, const struct shim_view *v, const struct shim_view_entry *e)
{
	w_key(o, e);
	/* (cc, nc, tt, ct, callers): every intercepted call is primitive */
	w_byte(o, '(');
	w_i32(o, 5);
	w_int(o, e->calls);
	w_int(o, e->calls);
	w_float(o, e->tt);
	w_float(o, e->ct);
	w_byte(o, '{');
	for (size_t i = 0; i < e->ncallers; i++) {
		const struct shim_view_caller *c = &e->callers[i];
		w_key(o, &v->e[c->entry]);
		/* nc first here, unlike the outer tuple (print_call_line) */
		w_byte(o, '(');
		w_i32(o, 4);
		w_int(o, c->calls);
		w_int(o, c->calls);
		w_float(o, c->tt);
		w_float(o, c->ct);
	}
	w_byte(o, '0');
}

int shim_export_pstats(const struct shim_model *m, struct shim_sink *o)
{
	struct shim_view v;
	size_t listed = 0;

	if (shim_view_build(m, &v) != 0)
		return -1;
	w_byte(o, '{');
	for (size_t i = 0; i < v.n; i++)
		if (v.e[i].listed) {
			w_entry(o, &v, &v.e[i]);
			listed++;
		}
	if (!listed) {
		/* pstats refuses an empty dict: say there was nothing, as a built-in */
		struct shim_view_entry none = {.file = "~", .line = 0,
					       .name = "<shimmer: no calls and no samples>"};
		w_entry(o, &v, &none);
	}
	w_byte(o, '0');
	shim_view_free(&v);
	return o->failed ? -1 : 0;
}
