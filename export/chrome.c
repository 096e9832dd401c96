/* SPDX-License-Identifier: MIT */
/* trace.chrome.json: the Chrome Trace Event Format (JSON object form) for
 * Perfetto UI and chrome://tracing. Calls on a thread (the process, lookups,
 * connects, slow calls) are X events, strictly nested per tid; connections and
 * files, which outlive calls and overlap, are async b/e pairs keyed by span id.
 * Times are microseconds since the image started (exact, small numbers). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../shim/libs.h"
#include "../shim/span.h"
#include "export.h"
#include "jsonout.h"
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

/* What many events repeat, made once and shared by reference. */
struct common {
	json_t *pid, *trace_id, *ph[4]; /* b, e, X, M */
	int bad;
};

static json_t *us(int64_t ns)
{
	return json_real((double)ns / 1000.0);
}

static json_t *args_json(const struct shim_model *m, const struct shim_model_span *s,
			 struct common *c)
{
	struct shim_attr a[SHIM_ATTR_MAX];
	struct shim_attr_buf buf;
	char sid[17];
	size_t n = shim_sv_attrs(m, s, a, &buf);
	json_t *o = json_object();

	for (size_t i = 0; i < n; i++)
		shim_json_set(o, a[i].key,
			      a[i].type == SHIM_ATTR_STR    ? shim_json_str(a[i].s)
			      : a[i].type == SHIM_ATTR_BOOL ? json_boolean(a[i].i)
							    : json_integer(a[i].i),
			      &c->bad);
	shim_sv_id(s->span_id, sid);
	shim_json_set(o, "trace_id", json_incref(c->trace_id), &c->bad);
	shim_json_set(o, "span_id", shim_json_ascii(sid, 16), &c->bad);
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

static json_t *text(const char *s)
{
	return shim_json_ascii(s, strlen(s));
}

static void add_meta(json_t *ev, struct common *c, int tid, const char *what, const char *name)
{
	json_t *o = json_object(), *args = json_object();

	shim_json_set(o, "name", text(what), &c->bad);
	shim_json_set(o, "ph", json_incref(c->ph[3]), &c->bad);
	shim_json_set(o, "pid", json_incref(c->pid), &c->bad);
	shim_json_set(o, "tid", json_integer(tid), &c->bad);
	shim_json_set(args, "name", shim_json_str(name), &c->bad);
	shim_json_set(o, "args", args, &c->bad);
	shim_json_push(ev, o, &c->bad);
}

/* {"name","cat","ph"[,"id"],"pid","tid","ts"}: what every span event starts with. */
static json_t *event(struct common *c, json_t *name, const struct shim_model_span *s, int ph,
		     json_t *id, json_t *tid, int64_t ts)
{
	json_t *o = json_object();

	shim_json_set(o, "name", name, &c->bad);
	shim_json_set(o, "cat", text(category(s)), &c->bad);
	shim_json_set(o, "ph", json_incref(c->ph[ph]), &c->bad);
	if (id)
		shim_json_set(o, "id", id, &c->bad);
	shim_json_set(o, "pid", json_incref(c->pid), &c->bad);
	shim_json_set(o, "tid", tid, &c->bad);
	shim_json_set(o, "ts", us(ts), &c->bad);
	return o;
}

static void common_free(const struct shim_json_arena *a, struct common *c)
{
	shim_json_drop(a, c->pid);
	shim_json_drop(a, c->trace_id);
	for (int i = 0; i < 4; i++)
		shim_json_drop(a, c->ph[i]);
}

static int common_build(const struct shim_model *m, const struct shim_json_arena *a,
			struct common *c)
{
	char tid[33];

	memset(c, 0, sizeof(*c));
	shim_sv_hex(m->trace.trace_id, 16, tid);
	c->pid = json_integer(m->pid);
	c->trace_id = shim_json_ascii(tid, 32);
	for (int i = 0; i < 4; i++)
		if (!(c->ph[i] = shim_json_ascii(&"beXM"[i], 1)))
			c->bad = 1;
	if (c->bad || !c->pid || !c->trace_id) {
		common_free(a, c);
		return -1;
	}
	return 0;
}

int shim_export_chrome(const struct shim_model *m, struct shim_sink *out)
{
	const struct shim_model_trace *t = &m->trace;
	int64_t base = (int64_t)m->start_unix_ns;
	struct xev *x = calloc(t->nspans + 1, sizeof(*x));
	struct shim_json_arena a;
	struct common c;
	json_t *root, *ev, *other;
	size_t nx = 0;
	int rc = -1, last_tid = 0;

	if (!x)
		return -1;
	shim_libs_json_arena_begin(&a);
	if (common_build(m, &a, &c) != 0) {
		shim_libs_json_arena_end(&a);
		free(x);
		return -1;
	}
	ev = json_array();
	if (!ev)
		c.bad = 1;
	if (t->nspans && t->spans[0].start_ns < m->start_unix_ns)
		base = (int64_t)t->spans[0].start_ns;
	if (!c.bad)
		add_meta(ev, &c, m->pid, "process_name", m->exe);
	for (size_t i = 0; i < t->nspans && !c.bad; i++) {
		const struct shim_model_span *s = &t->spans[i];
		int64_t ts = (int64_t)s->start_ns - base, end = (int64_t)s->end_ns - base;
		char id[20] = "0x";
		json_t *o, *name, *jid, *tid;
		if (!is_async(s)) {
			x[nx++] = (struct xev){.s = s, .ts = ts, .end = end};
			continue;
		}
		/* the b and e events share their name, id and tid */
		shim_sv_id(s->span_id, id + 2);
		name = shim_json_str(shim_sv_name(m, s));
		jid = shim_json_ascii(id, 18);
		tid = json_integer(s->tid);
		o = event(&c, json_incref(name), s, 0, json_incref(jid), json_incref(tid), ts);
		shim_json_set(o, "args", args_json(m, s, &c), &c.bad);
		shim_json_push(ev, o, &c.bad);
		shim_json_push(ev, event(&c, name, s, 1, jid, tid, end), &c.bad);
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
	for (size_t i = 0; i < nx && !c.bad; i++) {
		const struct shim_model_span *s = x[i].s;
		json_t *o;
		if (s->tid != last_tid) {
			char name[64];
			if (s->tid == m->pid)
				snprintf(name, sizeof(name), "%.60s", m->exe);
			else
				snprintf(name, sizeof(name), "thread %d", s->tid);
			if (s->tid != m->pid || last_tid == 0)
				add_meta(ev, &c, s->tid, "thread_name", name);
			last_tid = s->tid;
		}
		o = event(&c, shim_json_str(shim_sv_name(m, s)), s, 2, NULL, json_integer(s->tid),
			  x[i].ts);
		shim_json_set(o, "dur", us(x[i].end - x[i].ts), &c.bad);
		shim_json_set(o, "args", args_json(m, s, &c), &c.bad);
		shim_json_push(ev, o, &c.bad);
	}
	/* the events are done: now handed to the root */
	root = json_object();
	shim_json_set(root, "traceEvents", ev, &c.bad);
	shim_json_set(root, "displayTimeUnit", text("ms"), &c.bad);
	other = json_object();
	shim_json_set(other, "producer", text("shimmer " SHIMMER_VERSION), &c.bad);
	shim_json_set(other, "unix_base_ns", json_integer((json_int_t)base), &c.bad);
	shim_json_set(root, "otherData", other, &c.bad);
	if (!c.bad && shim_json_dump(root, JSON_COMPACT | JSON_REAL_PRECISION(15), out) == 0) {
		shim_sink_puts(out, "\n");
		rc = 0;
	}
	free(x);
	shim_json_drop(&a, root);
	common_free(&a, &c);
	shim_libs_json_arena_end(&a);
	return rc;
}
