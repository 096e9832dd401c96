/* SPDX-License-Identifier: MIT */
/* trace.chrome.json: the Chrome Trace Event Format (JSON object form) for
 * Perfetto UI and chrome://tracing. Calls on a thread (the process, lookups,
 * connects, slow calls) are X events, strictly nested per tid; connections and
 * files, which outlive calls and overlap, are async b/e pairs keyed by span id.
 * Times are microseconds since the image started (exact, small numbers).
 * Written straight into the sink (shim_jw_*: what jansson printed). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../shim/sink.h"
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

/* Microseconds as jansson printed them (JSON_REAL_PRECISION(15)). */
static void us(struct shim_sink *o, const char *key, int64_t ns)
{
	shim_jw_key(o, key, 0);
	shim_jw_real(o, (double)ns / 1000.0, 15);
}

/* ,"args":{attributes...,"trace_id":..,"span_id":..} */
static void args_out(const struct shim_model *m, const struct shim_model_span *s,
		     struct shim_sink *o)
{
	struct shim_attr a[SHIM_ATTR_MAX + 2];
	struct shim_attr_buf buf;
	char tid[33], sid[17];
	size_t n = shim_sv_attrs(m, s, a, &buf);

	shim_sv_hex(m->trace.trace_id, 16, tid);
	shim_sv_id(s->span_id, sid);
	a[n++] = (struct shim_attr){.key = "trace_id", .type = SHIM_ATTR_STR, .s = tid};
	a[n++] = (struct shim_attr){.key = "span_id", .type = SHIM_ATTR_STR, .s = sid};
	shim_sink_puts(o, ",\"args\":{");
	shim_jw_attr_members(o, a, n, 1);
	shim_sink_puts(o, "}");
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

static void add_meta(struct shim_sink *o, int first, int pid, int tid, const char *what,
		     const char *name)
{
	shim_sink_printf(o,
			 "%s{\"name\":\"%s\",\"ph\":\"M\",\"pid\":%d,\"tid\":%d,"
			 "\"args\":{\"name\":",
			 first ? "" : ",", what, pid, tid);
	shim_jw_str(o, name);
	shim_sink_puts(o, "}}");
}

/* One event's head: {"name":..,"cat":..,"ph":..[,"id":..],"pid":..,"tid":.. */
static void head(struct shim_sink *o, const struct shim_model *m, const struct shim_model_span *s,
		 const char *ph, const char *id)
{
	shim_sink_puts(o, ",{\"name\":");
	shim_jw_str(o, shim_sv_name(m, s));
	shim_sink_printf(o, ",\"cat\":\"%s\",\"ph\":\"%s\"", category(s), ph);
	if (id)
		shim_sink_printf(o, ",\"id\":\"%s\"", id);
	shim_sink_printf(o, ",\"pid\":%d,\"tid\":%d", m->pid, s->tid);
}

int shim_export_chrome(const struct shim_model *m, struct shim_sink *out)
{
	const struct shim_model_trace *t = &m->trace;
	int64_t base = (int64_t)m->start_unix_ns;
	struct xev *x = calloc(t->nspans + 1, sizeof(*x));
	size_t nx = 0;
	int last_tid = 0;

	if (!x)
		return -1;
	if (t->nspans && t->spans[0].start_ns < m->start_unix_ns)
		base = (int64_t)t->spans[0].start_ns;
	/* the process_name event first, every later one after a comma */
	shim_sink_puts(out, "{\"traceEvents\":[");
	add_meta(out, 1, m->pid, m->pid, "process_name", m->exe);
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
		head(out, m, s, "b", id);
		us(out, "ts", ts);
		args_out(m, s, out);
		shim_sink_puts(out, "}");
		head(out, m, s, "e", id);
		us(out, "ts", end);
		shim_sink_puts(out, "}");
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
				add_meta(out, 0, m->pid, s->tid, "thread_name", name);
			last_tid = s->tid;
		}
		head(out, m, s, "X", NULL);
		us(out, "ts", x[i].ts);
		us(out, "dur", x[i].end - x[i].ts);
		args_out(m, s, out);
		shim_sink_puts(out, "}");
	}
	shim_sink_printf(out,
			 "],\"displayTimeUnit\":\"ms\",\"otherData\":"
			 "{\"producer\":\"shimmer " SHIMMER_VERSION "\",\"unix_base_ns\":%lld}}\n",
			 (long long)base);
	free(x);
	return out->failed ? -1 : 0;
}
