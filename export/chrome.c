/* SPDX-License-Identifier: MIT */
/* trace.chrome.json: the Chrome Trace Event Format (JSON object form) for
 * Perfetto UI and chrome://tracing. Calls on a thread (the process, lookups,
 * connects, slow calls) are X events, strictly nested per tid; connections and
 * files, which outlive calls and overlap, are async b/e pairs keyed by span id.
 * Times are microseconds since the image started (exact, small numbers). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../shim/span.h"
#include "export.h"
#include "spanview.h"

struct xev {
	const struct shim_model_span *s;
	int64_t ts, end; /* ns since the base */
};

static int cmp_x(const void *a, const void *b)
{
	const struct xev *x = a, *y = b;
	if (x->s->tid != y->s->tid)
		return x->s->tid < y->s->tid ? -1 : 1;
	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	if (x->end != y->end)
		return x->end > y->end ? -1 : 1; /* longer first: parents before children */
	return x->s->type < y->s->type ? -1 : x->s->type > y->s->type;
}

static json_t *us(int64_t ns)
{
	return json_real((double)ns / 1000.0);
}

static json_t *args_json(const struct shim_model *m, const struct shim_model_span *s)
{
	struct shim_attr a[SHIM_ATTR_MAX];
	struct shim_attr_buf buf;
	char tid[33], sid[17];
	size_t n = shim_sv_attrs(m, s, a, &buf);
	json_t *o = json_object();

	if (!o)
		return NULL;
	for (size_t i = 0; i < n; i++)
		json_object_set_new(o, a[i].key,
				    a[i].type == SHIM_ATTR_STR    ? shim_json_str(a[i].s)
				    : a[i].type == SHIM_ATTR_BOOL ? json_boolean(a[i].i)
								  : json_integer(a[i].i));
	shim_sv_hex(m->trace.trace_id, 16, tid);
	shim_sv_id(s->span_id, sid);
	json_object_set_new(o, "trace_id", json_string(tid));
	json_object_set_new(o, "span_id", json_string(sid));
	return o;
}

static const char *category(const struct shim_model_span *s)
{
	switch (s->type) {
	case SHIM_SPAN_PROCESS:
		return "process";
	case SHIM_SPAN_DNS:
		return "dns";
	case SHIM_SPAN_CONNECT:
	case SHIM_SPAN_CLIENT:
	case SHIM_SPAN_SERVER:
		return "net";
	case SHIM_SPAN_FILE:
		return "file";
	default:
		return "call";
	}
}

static int is_async(const struct shim_model_span *s)
{
	return s->type == SHIM_SPAN_CLIENT || s->type == SHIM_SPAN_SERVER ||
	       s->type == SHIM_SPAN_FILE;
}

static int add_meta(json_t *ev, int pid, int tid, const char *what, const char *name)
{
	return json_array_append_new(ev, json_pack("{s:s,s:s,s:i,s:i,s:{s:o}}", "name", what, "ph",
						   "M", "pid", pid, "tid", tid, "args", "name",
						   shim_json_str(name)));
}

int shim_export_chrome(const struct shim_model *m, struct shim_sink *out)
{
	const struct shim_model_trace *t = &m->trace;
	int64_t base = (int64_t)m->start_unix_ns;
	struct xev *x = calloc(t->nspans + 1, sizeof(*x));
	json_t *root = NULL, *ev = json_array();
	size_t nx = 0;
	int rc = -1, last_tid = 0;
	char *text;

	if (!x || !ev)
		goto out;
	if (t->nspans && t->spans[0].start_ns < m->start_unix_ns)
		base = (int64_t)t->spans[0].start_ns;
	add_meta(ev, m->pid, m->pid, "process_name", m->exe);
	for (size_t i = 0; i < t->nspans; i++) {
		const struct shim_model_span *s = &t->spans[i];
		int64_t ts = (int64_t)s->start_ns - base, end = (int64_t)s->end_ns - base;
		char id[20];
		if (!is_async(s)) {
			x[nx++] = (struct xev){.s = s, .ts = ts, .end = end};
			continue;
		}
		snprintf(id, sizeof(id), "0x");
		shim_sv_id(s->span_id, id + 2);
		json_array_append_new(ev, json_pack("{s:o,s:s,s:s,s:s,s:i,s:i,s:o,s:o}", "name",
						    shim_json_str(shim_sv_name(m, s)), "cat",
						    category(s), "ph", "b", "id", id, "pid", m->pid,
						    "tid", s->tid, "ts", us(ts), "args",
						    args_json(m, s)));
		json_array_append_new(ev, json_pack("{s:o,s:s,s:s,s:s,s:i,s:i,s:o}", "name",
						    shim_json_str(shim_sv_name(m, s)), "cat",
						    category(s), "ph", "e", "id", id, "pid", m->pid,
						    "tid", s->tid, "ts", us(end)));
	}
	qsort(x, nx, sizeof(*x), cmp_x);
	/* strict nesting per thread: a call that would outlast the one around it
	 * (clock reads a few ns apart) is clamped to its end */
	{
		int64_t stack[64];
		int depth = 0;
		for (size_t i = 0; i < nx; i++) {
			if (i == 0 || x[i].s->tid != x[i - 1].s->tid)
				depth = 0;
			while (depth && x[i].ts >= stack[depth - 1])
				depth--;
			if (depth && x[i].end > stack[depth - 1])
				x[i].end = stack[depth - 1];
			if (depth < 64)
				stack[depth++] = x[i].end;
		}
	}
	for (size_t i = 0; i < nx; i++) {
		const struct shim_model_span *s = x[i].s;
		if (s->tid != last_tid) {
			char name[64];
			if (s->tid == m->pid)
				snprintf(name, sizeof(name), "%.60s", m->exe);
			else
				snprintf(name, sizeof(name), "thread %d", s->tid);
			if (s->tid != m->pid || last_tid == 0)
				add_meta(ev, m->pid, s->tid, "thread_name", name);
			last_tid = s->tid;
		}
		json_array_append_new(ev, json_pack("{s:o,s:s,s:s,s:i,s:i,s:o,s:o,s:o}", "name",
						    shim_json_str(shim_sv_name(m, s)), "cat",
						    category(s), "ph", "X", "pid", m->pid, "tid",
						    s->tid, "ts", us(x[i].ts), "dur",
						    us(x[i].end - x[i].ts), "args", args_json(m, s)));
	}
	root = json_pack("{s:o,s:s,s:{s:s,s:I}}", "traceEvents", ev, "displayTimeUnit", "ms",
			 "otherData", "producer", "shimmer " SHIMMER_VERSION, "unix_base_ns",
			 (json_int_t)base);
	ev = NULL;
	if (!root)
		goto out;
	text = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(15));
	if (!text)
		goto out;
	shim_sink_puts(out, text);
	shim_sink_puts(out, "\n");
	free(text);
	rc = 0;
out:
	free(x);
	json_decref(ev);
	json_decref(root);
	return rc;
}
