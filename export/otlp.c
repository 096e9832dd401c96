/* SPDX-License-Identifier: MIT */
/* traces.otlp.json: OTLP/JSON ExportTraceServiceRequests, one a line (the
 * OTLP file exporter's layout): hex ids, integer enums, 64-bit integers as
 * decimal strings. Built with jansson; the same request body is what the
 * OTLP/HTTP push sends. What every request of a model repeats (the resource,
 * the scope, the trace id) is built once and shared by reference. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../shim/libs.h"
#include "../shim/span.h"
#include "export.h"
#include "jsonout.h"
#include "spanview.h"

#define FILE_BATCH 512 /* spans a line */
#define RES_MAX 16     /* resource attributes of ours */

/* Built once a model: the resource (its attribute KVs kept: the process
 * span repeats five of them), the scope, and values every span carries. */
struct shared {
	json_t *resource, *scope;
	struct shim_attr ra[RES_MAX];
	json_t *rkv[RES_MAX];
	size_t nr;
	json_t *trace_id, *trace_state, *zero, *empty, *status_ok;
	char scratch[300];
	const struct shim_json_arena *arena;
	int bad;
};

static json_t *any_value(const struct shim_attr *a, int *bad)
{
	json_t *v = json_object();
	char num[24];

	switch (a->type) {
	case SHIM_ATTR_INT:
		shim_json_set(v, "intValue", shim_json_ascii(num, shim_json_i64(a->i, num)), bad);
		break;
	case SHIM_ATTR_BOOL:
		shim_json_set(v, "boolValue", json_boolean((int)a->i), bad);
		break;
	default:
		shim_json_set(v, "stringValue", shim_json_str(a->s), bad);
		break;
	}
	return v;
}

static json_t *kv(const char *key, json_t *value, int *bad)
{
	json_t *o = json_object();

	shim_json_set(o, "key", shim_json_str(key), bad);
	shim_json_set(o, "value", value, bad);
	return o;
}

/* The resource's KV of the same attribute, or NULL. */
static json_t *same_kv(const struct shared *sh, const struct shim_attr *a)
{
	for (size_t i = 0; i < sh->nr; i++) {
		const struct shim_attr *r = &sh->ra[i];
		if (r->type == a->type && strcmp(r->key, a->key) == 0 &&
		    (r->type == SHIM_ATTR_STR ? strcmp(r->s, a->s) == 0 : r->i == a->i))
			return json_incref(sh->rkv[i]);
	}
	return NULL;
}

/* The attribute list; reuse: take identical KVs from the resource. */
static json_t *attrs_json(const struct shared *sh, const struct shim_attr *a, size_t n,
			  int reuse, int *bad)
{
	json_t *arr = json_array();

	for (size_t i = 0; i < n; i++) {
		json_t *k = reuse ? same_kv(sh, &a[i]) : NULL;
		shim_json_push(arr, k ? k : kv(a[i].key, any_value(&a[i], bad), bad), bad);
	}
	return arr;
}

/* OTEL_RESOURCE_ATTRIBUTES: "k=v,k2=v2", values percent-decoded; each key
 * replaces ours, except service.name when OTEL_SERVICE_NAME set it. */
static void apply_env_resource(const struct shim_model *m, json_t *arr, int *bad)
{
	const char *p = m->trace.resource;

	while (p && *p) {
		const char *end = strchr(p, ','), *eq;
		size_t len = end ? (size_t)(end - p) : strlen(p), kl, o = 0;
		char key[256], val[1024];
		eq = memchr(p, '=', len);
		if (eq && (kl = (size_t)(eq - p)) > 0 && kl < sizeof(key)) {
			memcpy(key, p, kl);
			key[kl] = '\0';
			for (const char *v = eq + 1; v < p + len && o + 1 < sizeof(val); v++) {
				unsigned h;
				if (*v == '%' && v + 2 < p + len && sscanf(v + 1, "%2x", &h) == 1) {
					val[o++] = (char)h;
					v += 2;
				} else {
					val[o++] = *v;
				}
			}
			val[o] = '\0';
			if (!(strcmp(key, "service.name") == 0 && m->trace.service)) {
				size_t i;
				json_t *e, *sv = json_object();
				json_array_foreach(arr, i, e)
				{
					if (strcmp(json_string_value(json_object_get(e, "key")), key) ==
					    0) {
						json_array_remove(arr, i);
						break;
					}
				}
				shim_json_set(sv, "stringValue", shim_json_str(val), bad);
				shim_json_push(arr, kv(key, sv, bad), bad);
			}
		}
		p = end ? end + 1 : NULL;
	}
}

static void shared_free(struct shared *sh)
{
	json_t *all[] = {sh->resource, sh->scope,	sh->trace_id, sh->trace_state,
			 sh->zero,     sh->empty,	sh->status_ok};

	for (size_t i = 0; i < sh->nr; i++)
		shim_json_drop(sh->arena, sh->rkv[i]);
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		shim_json_drop(sh->arena, all[i]);
}

static int shared_build(const struct shim_model *m, const struct shim_json_arena *a,
			struct shared *sh)
{
	char tid[33];
	json_t *arr;

	memset(sh, 0, sizeof(*sh));
	sh->arena = a;
	sh->nr = shim_sv_resource(m, sh->ra, RES_MAX, sh->scratch, sizeof(sh->scratch));
	arr = attrs_json(sh, sh->ra, sh->nr, 0, &sh->bad);
	for (size_t i = 0; i < sh->nr; i++)
		sh->rkv[i] = json_incref(json_array_get(arr, i));
	apply_env_resource(m, arr, &sh->bad);
	sh->zero = json_integer(0);
	sh->resource = json_object();
	shim_json_set(sh->resource, "attributes", arr, &sh->bad);
	shim_json_set(sh->resource, "droppedAttributesCount", json_incref(sh->zero), &sh->bad);
	sh->scope = json_object();
	shim_json_set(sh->scope, "name", shim_json_ascii("shimmer", 7), &sh->bad);
	shim_json_set(sh->scope, "version",
		      shim_json_ascii(SHIMMER_VERSION, sizeof(SHIMMER_VERSION) - 1), &sh->bad);
	shim_sv_hex(m->trace.trace_id, 16, tid);
	sh->trace_id = shim_json_ascii(tid, 32);
	sh->trace_state = shim_json_str(m->trace.tracestate);
	sh->empty = json_array();
	sh->status_ok = json_object();
	shim_json_set(sh->status_ok, "code", json_incref(sh->zero), &sh->bad);
	if (sh->bad || !sh->zero || !sh->trace_id || !sh->trace_state || !sh->empty) {
		shared_free(sh);
		return -1;
	}
	return 0;
}

static json_t *u64_text(uint64_t v)
{
	char num[24];
	return shim_json_ascii(num, shim_json_u64(v, num));
}

static json_t *span_json(const struct shim_model *m, const struct shim_model_span *s,
			 struct shared *sh, int *bad)
{
	const struct shim_model_trace *t = &m->trace;
	struct shim_attr a[SHIM_ATTR_MAX];
	struct shim_attr_buf buf;
	char id[17], msg[96];
	size_t n = shim_sv_attrs(m, s, a, &buf);
	int code = shim_sv_status(s, msg, sizeof(msg));
	unsigned flags = (unsigned)t->flags | 0x100u; /* HAS_IS_REMOTE */
	json_t *o = json_object(), *st;

	if (s->type == SHIM_SPAN_PROCESS && t->remote)
		flags |= 0x200u; /* IS_REMOTE: the parent came from TRACEPARENT */
	shim_json_set(o, "traceId", json_incref(sh->trace_id), bad);
	shim_sv_id(s->span_id, id);
	shim_json_set(o, "spanId", shim_json_ascii(id, 16), bad);
	shim_json_set(o, "traceState", json_incref(sh->trace_state), bad);
	shim_json_set(o, "name", shim_json_str(shim_sv_name(m, s)), bad);
	shim_json_set(o, "kind", json_integer(shim_sv_kind(s)), bad);
	shim_json_set(o, "startTimeUnixNano", u64_text(s->start_ns), bad);
	shim_json_set(o, "endTimeUnixNano", u64_text(s->end_ns), bad);
	shim_json_set(o, "attributes",
		      attrs_json(sh, a, n, s->type == SHIM_SPAN_PROCESS, bad), bad);
	shim_json_set(o, "droppedAttributesCount", json_incref(sh->zero), bad);
	shim_json_set(o, "events", json_incref(sh->empty), bad);
	shim_json_set(o, "droppedEventsCount", json_incref(sh->zero), bad);
	shim_json_set(o, "links", json_incref(sh->empty), bad);
	shim_json_set(o, "droppedLinksCount", json_incref(sh->zero), bad);
	shim_json_set(o, "flags", json_integer((json_int_t)flags), bad);
	if (s->parent_id) {
		shim_sv_id(s->parent_id, id);
		shim_json_set(o, "parentSpanId", shim_json_ascii(id, 16), bad);
	}
	if (code) {
		st = json_object();
		shim_json_set(st, "message", shim_json_str(msg), bad);
		shim_json_set(st, "code", json_integer(code), bad);
	} else {
		st = json_incref(sh->status_ok);
	}
	shim_json_set(o, "status", st, bad);
	return o;
}

/* {"resourceSpans":[{"resource":R,"scopeSpans":[{"scope":S,"spans":[...]}]}]},
 * built from the inside out: each part is handed to its parent when done. */
static int request(const struct shim_model *m, size_t first, size_t n, struct shared *sh,
		   struct shim_sink *out)
{
	json_t *spans = json_array(), *sc = json_object(), *ss = json_array(), *r = json_object();
	json_t *rs = json_array(), *req = json_object();
	int bad = 0, rc = -1;

	for (size_t i = first; !bad && i < first + n && i < m->trace.nspans; i++)
		shim_json_push(spans, span_json(m, &m->trace.spans[i], sh, &bad), &bad);
	shim_json_set(sc, "scope", json_incref(sh->scope), &bad);
	shim_json_set(sc, "spans", spans, &bad);
	shim_json_push(ss, sc, &bad);
	shim_json_set(r, "resource", json_incref(sh->resource), &bad);
	shim_json_set(r, "scopeSpans", ss, &bad);
	shim_json_push(rs, r, &bad);
	shim_json_set(req, "resourceSpans", rs, &bad);
	if (!bad)
		rc = shim_json_dump(req, JSON_COMPACT, out);
	shim_json_drop(sh->arena, req);
	return rc;
}

/* The last request made of a whole model (all its spans in one), kept for
 * the next caller that asks for the same: at a process's exit the push
 * renders its request to hand it to the parent, and traces.otlp.json is the
 * same request moments later (jansson's build and dump, about 40 us of a
 * short process's exit). Found by a hash of all a request is made of. */
static struct {
	pthread_mutex_t mx;
	uint64_t key;
	char *buf;
	size_t len;
} memo = {.mx = PTHREAD_MUTEX_INITIALIZER};

static uint64_t mix(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ c[i]) * 1099511628211ull;
	return h;
}

#define MIX(h, v) ((h) = mix((h), &(v), sizeof(v)))

static uint64_t mix_str(uint64_t h, const char *str)
{
	return str ? mix(h, str, strlen(str) + 1) : mix(h, "\377", 1);
}

/* Everything the request of a whole model reads (shared_build, request,
 * spanview): the process, the trace and each span, field by field. */
static uint64_t whole_key(const struct shim_model *m)
{
	const struct shim_model_trace *t = &m->trace;
	uint64_t h = 1469598103934665603ull;

	MIX(h, m->pid);
	MIX(h, m->ppid);
	h = mix_str(h, m->exe);
	h = mix(h, t->trace_id, sizeof(t->trace_id));
	MIX(h, t->flags);
	MIX(h, t->remote);
	h = mix_str(h, t->tracestate);
	h = mix_str(h, t->exe_path);
	h = mix_str(h, t->host);
	h = mix_str(h, t->command_line);
	h = mix_str(h, t->service);
	h = mix_str(h, t->resource);
	MIX(h, t->nspans);
	for (size_t i = 0; i < t->nspans; i++) {
		const struct shim_model_span *sp = &t->spans[i];
		MIX(h, sp->span_id);
		MIX(h, sp->parent_id);
		MIX(h, sp->start_ns);
		MIX(h, sp->end_ns);
		MIX(h, sp->type);
		MIX(h, sp->fn);
		MIX(h, sp->tid);
		MIX(h, sp->err);
		MIX(h, sp->count);
		MIX(h, sp->has_exit_code);
		MIX(h, sp->unfinished);
		MIX(h, sp->by_exec);
		MIX(h, sp->rbytes);
		MIX(h, sp->wbytes);
		MIX(h, sp->rops);
		MIX(h, sp->wops);
		MIX(h, sp->ops);
		h = mix_str(h, sp->target);
		h = mix_str(h, sp->target2);
	}
	return h;
}

/* The memo's copy of the request keyed `key` appended to out: 1, or 0 when
 * it holds another (or is busy: never waited for). */
static int memo_get(uint64_t key, struct shim_sink *out)
{
	int hit = 0;

	if (pthread_mutex_trylock(&memo.mx) != 0)
		return 0;
	if (memo.buf && memo.key == key) {
		shim_sink_write(out, memo.buf, memo.len);
		hit = !out->failed;
	}
	pthread_mutex_unlock(&memo.mx);
	return hit;
}

static void memo_put(uint64_t key, const char *p, size_t len)
{
	char *copy = malloc(len ? len : 1);

	if (!copy)
		return;
	memcpy(copy, p, len);
	if (pthread_mutex_trylock(&memo.mx) != 0) {
		free(copy);
		return;
	}
	free(memo.buf);
	memo.buf = copy;
	memo.len = len;
	memo.key = key;
	pthread_mutex_unlock(&memo.mx);
}

int shim_export_otlp_request(const struct shim_model *m, size_t first, size_t n,
			     struct shim_sink *out)
{
	struct shim_json_arena a;
	struct shared sh;
	int whole = first == 0 && n >= m->trace.nspans, rc = -1;
	uint64_t key = whole ? whole_key(m) : 0;
	size_t at = out->len;

	if (whole && memo_get(key, out))
		return 0;
	shim_libs_json_arena_begin(&a);
	if (shared_build(m, &a, &sh) == 0) {
		rc = request(m, first, n, &sh, out);
		shared_free(&sh);
	}
	shim_libs_json_arena_end(&a);
	if (whole && rc == 0 && !out->failed)
		memo_put(key, out->buf + at, out->len - at);
	return rc;
}

int shim_export_otlp(const struct shim_model *m, struct shim_sink *out)
{
	struct shim_json_arena a;
	struct shared sh;
	int rc = -1;

	if (!m->trace.nspans)
		return 0;
	/* one line of all the spans: maybe the request the push just made */
	if (m->trace.nspans <= FILE_BATCH) {
		rc = shim_export_otlp_request(m, 0, m->trace.nspans, out);
		if (rc == 0)
			shim_sink_puts(out, "\n");
		return rc;
	}
	shim_libs_json_arena_begin(&a);
	if (shared_build(m, &a, &sh) == 0) {
		rc = 0;
		for (size_t i = 0; rc == 0 && i < m->trace.nspans; i += FILE_BATCH)
			if ((rc = request(m, i, FILE_BATCH, &sh, out)) == 0)
				shim_sink_puts(out, "\n");
		shared_free(&sh);
	}
	shim_libs_json_arena_end(&a);
	return rc;
}
