/* SPDX-License-Identifier: MIT */
/* events.ndjson: one JSON object a line, in time order, named after the
 * OpenTelemetry log data model (timestamp, severity, severity_number, body,
 * trace_id, span_id, attributes) plus pid and tid, so jq, Loki and
 * Elasticsearch take it as is. Derived from the spans: process start and exit,
 * connection open and close, lookups, failures, slow calls, drops. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../shim/libs.h"
#include "../shim/span.h"
#include "export.h"
#include "../shim/errname.h"
#include "jsonout.h"
#include "spanview.h"

enum { INFO = 9, WARN = 13, ERROR = 17 };

struct event {
	uint64_t ns;
	const struct shim_model_span *s;
	int severity;
	char body[400];
	int closing; /* the end of a span (exit, close) */
};

struct events {
	struct event *v;
	size_t n, cap;
};

static struct event *add(struct events *e, uint64_t ns, const struct shim_model_span *s,
			 int sev, int closing)
{
	if (e->n == e->cap) {
		/* most processes have a handful: 64 would take 7 pages */
		size_t nc = e->cap ? e->cap * 2 : 8;
		void *p = realloc(e->v, nc * sizeof(*e->v));
		if (!p)
			return NULL;
		e->v = p;
		e->cap = nc;
	}
	e->v[e->n] = (struct event){.ns = ns, .s = s, .severity = sev, .closing = closing};
	return &e->v[e->n++];
}

static int cmp_ev(const void *a, const void *b)
{
	const struct event *x = a, *y = b;
	if (x->ns != y->ns)
		return x->ns < y->ns ? -1 : 1;
	return x->closing - y->closing;
}

/* n decimal digits of v, zero-padded, at p; returns p + n. */
static char *digits(char *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v /= 10)
		p[i] = (char)('0' + v % 10);
	return p + n;
}

/* UTC calendar fields by hand (H. Hinnant's civil_from_days): gmtime_r and
 * strftime both run tzset, which reads /etc/localtime at every process's
 * exit for a stamp that is UTC anyway. "%04lld-%02u-%02uT%02u:%02u:%02u.%09lluZ"
 * put together digit by digit (years 0 to 9999). Returns the length. */
static size_t rfc3339(uint64_t ns, char *buf)
{
	uint64_t sec = ns / 1000000000ull, days = sec / 86400, rem = sec % 86400;
	int64_t z = (int64_t)days + 719468, era = z / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153, d = doy - (153 * mp + 2) / 5 + 1;
	unsigned m = mp < 10 ? mp + 3 : mp - 9;
	int64_t y = (int64_t)yoe + era * 400 + (m <= 2);
	char *p = buf;

	p = digits(p, (uint64_t)y, 4);
	*p++ = '-';
	p = digits(p, m, 2);
	*p++ = '-';
	p = digits(p, d, 2);
	*p++ = 'T';
	p = digits(p, rem / 3600, 2);
	*p++ = ':';
	p = digits(p, rem / 60 % 60, 2);
	*p++ = ':';
	p = digits(p, rem % 60, 2);
	*p++ = '.';
	p = digits(p, ns % 1000000000ull, 9);
	*p++ = 'Z';
	*p = '\0';
	return (size_t)(p - buf);
}

static const char *peer(const struct shim_model_span *s)
{
	return s->target ? s->target : "(unknown peer)";
}

static void describe(const struct shim_model *m, const struct shim_model_span *s,
		     struct events *e)
{
	struct event *v;
	char en[32];
	const char *err = s->err ? shim_err_name(s->err, en, sizeof(en)) : NULL;

	switch (s->type) {
	case SHIM_SPAN_PROCESS:
		if ((v = add(e, s->start_ns, s, INFO, 0)))
			snprintf(v->body, sizeof(v->body), "process start: %s (pid %d)", m->exe,
				 m->pid);
		if (!(v = add(e, s->end_ns, s, INFO, 1)))
			return;
		if (s->by_exec)
			snprintf(v->body, sizeof(v->body), "process image ends by exec: %s", m->exe);
		else if (s->has_exit_code) {
			snprintf(v->body, sizeof(v->body), "process exit: %s, code %lld", m->exe,
				 (long long)s->count);
			if (s->count)
				v->severity = ERROR;
		} else
			snprintf(v->body, sizeof(v->body), "process exit: %s", m->exe);
		break;
	case SHIM_SPAN_DNS:
		if (!(v = add(e, s->end_ns, s, err ? ERROR : INFO, 1)))
			return;
		if (err)
			snprintf(v->body, sizeof(v->body), "dns lookup %.300s failed: %s",
				 s->target ? s->target : "", err);
		else
			snprintf(v->body, sizeof(v->body), "dns lookup %.300s: %lld answers",
				 s->target ? s->target : "", (long long)s->count);
		break;
	case SHIM_SPAN_CONNECT:
		if (err && (v = add(e, s->end_ns, s, ERROR, 1)))
			snprintf(v->body, sizeof(v->body), "connect %.300s failed: %s", peer(s), err);
		break;
	case SHIM_SPAN_CLIENT:
	case SHIM_SPAN_SERVER:
		if ((v = add(e, s->start_ns, s, INFO, 0)))
			snprintf(v->body, sizeof(v->body), "connection open %.300s", peer(s));
		if ((v = add(e, s->end_ns, s, INFO, 1)))
			snprintf(v->body, sizeof(v->body),
				 "connection %s %.300s: %llu bytes sent, %llu received",
				 s->unfinished ? "still open at exit" : "close", peer(s),
				 (unsigned long long)s->wbytes, (unsigned long long)s->rbytes);
		break;
	case SHIM_SPAN_FILE:
		if (err && (v = add(e, s->end_ns, s, ERROR, 1)))
			snprintf(v->body, sizeof(v->body), "open %.300s failed: %s",
				 s->target ? s->target : "", err);
		break;
	case SHIM_SPAN_SLOW:
		if ((v = add(e, s->end_ns, s, err ? ERROR : WARN, 1)))
			snprintf(v->body, sizeof(v->body), "slow call %s: %.1f ms%s%s",
				 shim_sv_name(m, s), (double)(s->end_ns - s->start_ns) / 1e6,
				 err ? ", failed: " : "", err ? err : "");
		break;
	}
}

/* The attributes of a span as a JSON object (built once a span: a process
 * or a connection has two events), or of the drop warning (s NULL). */
static json_t *attrs_of(const struct shim_model *m, const struct shim_model_span *s, int *bad)
{
	struct shim_attr a[SHIM_ATTR_MAX];
	struct shim_attr_buf buf;
	json_t *attrs = json_object();
	size_t n = s ? shim_sv_attrs(m, s, a, &buf) : 0;

	for (size_t i = 0; i < n; i++)
		shim_json_set(attrs, a[i].key,
			      a[i].type == SHIM_ATTR_STR    ? shim_json_str(a[i].s)
			      : a[i].type == SHIM_ATTR_BOOL ? json_boolean(a[i].i)
							    : json_integer(a[i].i),
			      bad);
	if (!s) {
		shim_json_set(attrs, "shimmer.spans_dropped", json_integer((json_int_t)m->trace.dropped),
			      bad);
		shim_json_set(attrs, "shimmer.export_dropped",
			      json_integer((json_int_t)m->trace.export_dropped), bad);
	}
	return attrs;
}

/* One line. o is the same object every line: the first line makes its
 * members in order, the later ones replace the values that change (a member
 * replaced keeps its place). attrs is taken. */
static int emit(const struct shim_model *m, const struct event *v, json_t *o, json_t *attrs,
		int first, struct shim_sink *out)
{
	static const char *const names[] = {[INFO] = "INFO", [WARN] = "WARN", [ERROR] = "ERROR"};
	char ts[64], sid[17];
	int bad = 0;

	shim_sv_id(v->s ? v->s->span_id : (m->trace.nspans ? m->trace.spans[0].span_id : 0), sid);
	shim_json_set(o, "timestamp", shim_json_ascii(ts, rfc3339(v->ns, ts)), &bad);
	shim_json_set(o, "severity", shim_json_ascii(names[v->severity], strlen(names[v->severity])),
		      &bad);
	shim_json_set(o, "severity_number", json_integer(v->severity), &bad);
	shim_json_set(o, "body", shim_json_str(v->body), &bad);
	if (first) {
		char tid[33];
		shim_sv_hex(m->trace.trace_id, 16, tid);
		shim_json_set(o, "trace_id", shim_json_ascii(tid, 32), &bad);
	}
	shim_json_set(o, "span_id", shim_json_ascii(sid, 16), &bad);
	if (first)
		shim_json_set(o, "pid", json_integer(m->pid), &bad);
	shim_json_set(o, "tid", json_integer(v->s ? v->s->tid : m->pid), &bad);
	shim_json_set(o, "attributes", attrs, &bad);
	if (bad || shim_json_dump(o, JSON_COMPACT, out) != 0)
		return -1;
	shim_sink_puts(out, "\n");
	return 0;
}

int shim_export_ndjson(const struct shim_model *m, struct shim_sink *out)
{
	const struct shim_model_trace *t = &m->trace;
	struct events e = {0};
	struct event *v;
	struct shim_json_arena a;
	json_t *o, **cache;
	uint64_t last = 0;
	int rc = 0;

	for (size_t i = 0; i < t->nspans; i++) {
		describe(m, &t->spans[i], &e);
		if (t->spans[i].end_ns > last)
			last = t->spans[i].end_ns;
	}
	if ((t->dropped || t->export_dropped) && (v = add(&e, last, NULL, WARN, 2)))
		snprintf(v->body, sizeof(v->body),
			 "spans dropped: %llu (full buffers), %llu not delivered by the OTLP push%s%s",
			 (unsigned long long)t->dropped, (unsigned long long)t->export_dropped,
			 t->export_error[0] ? ": " : "", t->export_error);
	if (!e.n) /* nothing happened worth a line: no jansson at all */
		return 0;
	qsort(e.v, e.n, sizeof(*e.v), cmp_ev);
	shim_libs_json_arena_begin(&a);
	o = json_object();
	cache = calloc(t->nspans ? t->nspans : 1, sizeof(*cache));
	rc = o && cache ? 0 : -1;
	for (size_t i = 0; i < e.n && rc == 0; i++) {
		const struct shim_model_span *s = e.v[i].s;
		json_t *attrs;
		int bad = 0;
		if (s) {
			json_t **c = &cache[s - t->spans];
			if (!*c)
				*c = attrs_of(m, s, &bad);
			attrs = json_incref(*c);
		} else {
			attrs = attrs_of(m, NULL, &bad);
		}
		rc = bad ? (json_decref(attrs), -1) : emit(m, &e.v[i], o, attrs, i == 0, out);
	}
	for (size_t i = 0; cache && i < t->nspans; i++)
		shim_json_drop(&a, cache[i]);
	free(cache);
	shim_json_drop(&a, o);
	shim_libs_json_arena_end(&a);
	free(e.v);
	return rc;
}
