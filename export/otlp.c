/* SPDX-License-Identifier: MIT */
/* traces.otlp.json: OTLP/JSON ExportTraceServiceRequests, one a line (the
 * OTLP file exporter's layout): hex ids, integer enums, 64-bit integers as
 * decimal strings. Written straight into the sink (shim_jw_*: what jansson
 * would print, without building a tree); the same request body is what the
 * OTLP/HTTP push sends. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../shim/sink.h"
#include "../shim/span.h"
#include "export.h"
#include "spanview.h"

#define FILE_BATCH 512 /* spans a line */

/* A JSON string of s; bytes that are not UTF-8 (names come from the program:
 * paths, hosts) become '?' rather than failing the whole request. */
json_t *shim_json_str(const char *s)
{
	size_t n = strlen(s);
	json_t *j = json_stringn(s, n);
	char *c;

	if (j)
		return j;
	c = malloc(n + 1);
	if (!c)
		return NULL;
	for (size_t i = 0; i < n; i++)
		c[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
	c[n] = '\0';
	j = json_stringn(c, n);
	free(c);
	return j;
}

/* One KeyValue: {"key":k,"value":{"stringValue"|"intValue"|"boolValue":v}};
 * integers as decimal strings (int64 in OTLP/JSON). */
static void kv(struct shim_sink *o, const struct shim_attr *a, int first)
{
	char num[24];

	if (!first)
		shim_sink_puts(o, ",");
	shim_sink_puts(o, "{\"key\":");
	shim_jw_str(o, a->key);
	switch (a->type) {
	case SHIM_ATTR_INT:
		snprintf(num, sizeof(num), "\"%lld\"", (long long)a->i);
		shim_sink_puts(o, ",\"value\":{\"intValue\":");
		shim_sink_puts(o, num);
		break;
	case SHIM_ATTR_BOOL:
		shim_sink_puts(o, ",\"value\":{\"boolValue\":");
		shim_sink_puts(o, a->i ? "true" : "false");
		break;
	default:
		shim_sink_puts(o, ",\"value\":{\"stringValue\":");
		shim_jw_str(o, a->s);
	}
	shim_sink_puts(o, "}}");
}

static void attrs_out(struct shim_sink *o, const struct shim_attr *a, size_t n)
{
	shim_sink_puts(o, "[");
	for (size_t i = 0; i < n; i++)
		kv(o, &a[i], i == 0);
	shim_sink_puts(o, "]");
}

/* Resource attributes: ours, then OTEL_RESOURCE_ATTRIBUTES ("k=v,k2=v2",
 * values percent-decoded): each key replaces ours (it moves to the end),
 * except service.name when OTEL_SERVICE_NAME set it. */
struct res_attrs {
	struct shim_attr *a;
	size_t n, cap;
	char **own; /* strings the environment's entries own, 2 an entry */
	size_t nown;
};

static int res_add(struct res_attrs *r, const char *key, const char *val)
{
	char *k = strdup(key), *v = strdup(val);
	void *p;

	if (!k || !v)
		goto fail;
	if (r->n == r->cap) {
		size_t nc = r->cap * 2;
		if (!(p = realloc(r->a, nc * sizeof(*r->a))))
			goto fail;
		r->a = p;
		r->cap = nc;
	}
	if (!(p = realloc(r->own, (r->nown + 2) * sizeof(*r->own))))
		goto fail;
	r->own = p;
	r->own[r->nown++] = k;
	r->own[r->nown++] = v;
	r->a[r->n++] = (struct shim_attr){.key = k, .type = SHIM_ATTR_STR, .s = v};
	return 0;
fail:
	free(k);
	free(v);
	return -1;
}

static void apply_env_resource(const struct shim_model *m, struct res_attrs *r)
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
				for (size_t i = 0; i < r->n; i++)
					if (strcmp(r->a[i].key, key) == 0) {
						memmove(&r->a[i], &r->a[i + 1],
							(r->n - i - 1) * sizeof(*r->a));
						r->n--;
						break;
					}
				res_add(r, key, val);
			}
		}
		p = end ? end + 1 : NULL;
	}
}

static void resource_out(const struct shim_model *m, struct shim_sink *o)
{
	struct shim_attr a[16];
	char scratch[300];
	struct res_attrs r = {a, 0, 16, NULL, 0};

	r.n = shim_sv_resource(m, a, 16, scratch, sizeof(scratch));
	if (m->trace.resource && m->trace.resource[0]) {
		/* on the heap from here: the environment may add any number */
		if (!(r.a = malloc(r.cap * sizeof(*r.a)))) {
			o->failed = 1;
			return;
		}
		memcpy(r.a, a, r.n * sizeof(*a));
		apply_env_resource(m, &r);
	}
	shim_sink_puts(o, "{\"attributes\":");
	attrs_out(o, r.a, r.n);
	shim_sink_puts(o, ",\"droppedAttributesCount\":0}");
	if (r.a != a)
		free(r.a);
	for (size_t i = 0; i < r.nown; i++)
		free(r.own[i]);
	free(r.own);
}

static void span_out(const struct shim_model *m, const struct shim_model_span *s,
		     struct shim_sink *o)
{
	const struct shim_model_trace *t = &m->trace;
	struct shim_attr a[SHIM_ATTR_MAX];
	struct shim_attr_buf buf;
	char tid[33], sid[17], pid[17], num[96], msg[96];
	size_t n = shim_sv_attrs(m, s, a, &buf);
	int code = shim_sv_status(s, msg, sizeof(msg));
	unsigned flags = (unsigned)t->flags | 0x100u; /* HAS_IS_REMOTE */

	if (s->type == SHIM_SPAN_PROCESS && t->remote)
		flags |= 0x200u; /* IS_REMOTE: the parent came from TRACEPARENT */
	shim_sv_hex(t->trace_id, 16, tid);
	shim_sv_id(s->span_id, sid);
	shim_sink_printf(o, "{\"traceId\":\"%s\",\"spanId\":\"%s\",\"traceState\":", tid, sid);
	shim_jw_str(o, t->tracestate);
	shim_sink_puts(o, ",\"name\":");
	shim_jw_str(o, shim_sv_name(m, s));
	snprintf(num, sizeof(num),
		 ",\"kind\":%d,\"startTimeUnixNano\":\"%llu\",\"endTimeUnixNano\":\"%llu\"",
		 shim_sv_kind(s), (unsigned long long)s->start_ns, (unsigned long long)s->end_ns);
	shim_sink_puts(o, num);
	shim_sink_puts(o, ",\"attributes\":");
	attrs_out(o, a, n);
	shim_sink_printf(o,
			 ",\"droppedAttributesCount\":0,\"events\":[],\"droppedEventsCount\":0,"
			 "\"links\":[],\"droppedLinksCount\":0,\"flags\":%u",
			 flags);
	if (s->parent_id) {
		shim_sv_id(s->parent_id, pid);
		shim_sink_printf(o, ",\"parentSpanId\":\"%s\"", pid);
	}
	if (code) {
		shim_sink_puts(o, ",\"status\":{\"message\":");
		shim_jw_str(o, msg);
		shim_sink_printf(o, ",\"code\":%d}}", code);
	} else {
		shim_sink_puts(o, ",\"status\":{\"code\":0}}");
	}
}

int shim_export_otlp_request(const struct shim_model *m, size_t first, size_t n,
			     struct shim_sink *out)
{
	shim_sink_puts(out, "{\"resourceSpans\":[{\"resource\":");
	resource_out(m, out);
	shim_sink_puts(out, ",\"scopeSpans\":[{\"scope\":{\"name\":\"shimmer\","
			    "\"version\":\"" SHIMMER_VERSION "\"},\"spans\":[");
	for (size_t i = first; i < first + n && i < m->trace.nspans; i++) {
		if (i > first)
			shim_sink_puts(out, ",");
		span_out(m, &m->trace.spans[i], out);
	}
	shim_sink_puts(out, "]}]}]}");
	return out->failed ? -1 : 0;
}

int shim_export_otlp(const struct shim_model *m, struct shim_sink *out)
{
	for (size_t i = 0; i < m->trace.nspans; i += FILE_BATCH) {
		if (shim_export_otlp_request(m, i, FILE_BATCH, out) != 0)
			return -1;
		shim_sink_puts(out, "\n");
	}
	return 0;
}
