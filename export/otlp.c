/* SPDX-License-Identifier: MIT */
/* traces.otlp.json: OTLP/JSON ExportTraceServiceRequests, one a line (the
 * OTLP file exporter's layout): hex ids, integer enums, 64-bit integers as
 * decimal strings. Built with jansson; the same request body is what the
 * OTLP/HTTP push sends. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static json_t *any_value(const struct shim_attr *a)
{
	char num[32];

	switch (a->type) {
	case SHIM_ATTR_INT:
		snprintf(num, sizeof(num), "%lld", (long long)a->i);
		return json_pack("{s:s}", "intValue", num);
	case SHIM_ATTR_BOOL:
		return json_pack("{s:b}", "boolValue", (int)a->i);
	default:
		return json_pack("{s:o}", "stringValue", shim_json_str(a->s));
	}
}

static int add_kv(json_t *arr, const char *key, json_t *value)
{
	json_t *kv;

	if (!value)
		return -1;
	kv = json_pack("{s:o,s:o}", "key", shim_json_str(key), "value", value);
	return kv ? json_array_append_new(arr, kv) : -1;
}

static json_t *attrs_json(const struct shim_attr *a, size_t n)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < n; i++)
		if (add_kv(arr, a[i].key, any_value(&a[i])) != 0) {
			json_decref(arr);
			return NULL;
		}
	return arr;
}

/* OTEL_RESOURCE_ATTRIBUTES: "k=v,k2=v2", values percent-decoded; each key
 * replaces ours, except service.name when OTEL_SERVICE_NAME set it. */
static void apply_env_resource(const struct shim_model *m, json_t *arr)
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
				json_t *kv;
				json_array_foreach(arr, i, kv)
				{
					if (strcmp(json_string_value(json_object_get(kv, "key")), key) ==
					    0) {
						json_array_remove(arr, i);
						break;
					}
				}
				add_kv(arr, key, json_pack("{s:o}", "stringValue", shim_json_str(val)));
			}
		}
		p = end ? end + 1 : NULL;
	}
}

static json_t *resource_json(const struct shim_model *m)
{
	struct shim_attr a[16];
	char scratch[300];
	size_t n = shim_sv_resource(m, a, 16, scratch, sizeof(scratch));
	json_t *arr = attrs_json(a, n);

	if (!arr)
		return NULL;
	apply_env_resource(m, arr);
	return json_pack("{s:o,s:i}", "attributes", arr, "droppedAttributesCount", 0);
}

static json_t *span_json(const struct shim_model *m, const struct shim_model_span *s)
{
	const struct shim_model_trace *t = &m->trace;
	struct shim_attr a[SHIM_ATTR_MAX];
	struct shim_attr_buf buf;
	char tid[33], sid[17], pid[17], st[32], et[32], msg[96];
	size_t n = shim_sv_attrs(m, s, a, &buf);
	int code = shim_sv_status(s, msg, sizeof(msg));
	unsigned flags = (unsigned)t->flags | 0x100u; /* HAS_IS_REMOTE */
	json_t *o, *attrs = attrs_json(a, n);

	if (!attrs)
		return NULL;
	if (s->type == SHIM_SPAN_PROCESS && t->remote)
		flags |= 0x200u; /* IS_REMOTE: the parent came from TRACEPARENT */
	shim_sv_hex(t->trace_id, 16, tid);
	shim_sv_id(s->span_id, sid);
	snprintf(st, sizeof(st), "%llu", (unsigned long long)s->start_ns);
	snprintf(et, sizeof(et), "%llu", (unsigned long long)s->end_ns);
	o = json_pack("{s:s,s:s,s:o,s:o,s:i,s:s,s:s,s:o,s:i,s:[],s:i,s:[],s:i,s:I}", "traceId",
		      tid, "spanId", sid, "traceState", shim_json_str(t->tracestate), "name",
		      shim_json_str(shim_sv_name(m, s)), "kind", shim_sv_kind(s), "startTimeUnixNano", st,
		      "endTimeUnixNano", et, "attributes", attrs, "droppedAttributesCount", 0,
		      "events", "droppedEventsCount", 0, "links", "droppedLinksCount", 0, "flags",
		      (json_int_t)flags);
	if (!o)
		return NULL;
	if (s->parent_id) {
		shim_sv_id(s->parent_id, pid);
		json_object_set_new(o, "parentSpanId", json_string(pid));
	}
	json_object_set_new(o, "status",
			    code ? json_pack("{s:s,s:i}", "message", msg, "code", code)
				 : json_pack("{s:i}", "code", 0));
	return o;
}

int shim_export_otlp_request(const struct shim_model *m, size_t first, size_t n,
			     struct shim_sink *out)
{
	json_t *spans = json_array(), *req = NULL;
	char *text;
	int rc = -1;

	if (!spans)
		return -1;
	for (size_t i = first; i < first + n && i < m->trace.nspans; i++) {
		json_t *s = span_json(m, &m->trace.spans[i]);
		if (!s || json_array_append_new(spans, s) != 0)
			goto out;
	}
	req = json_pack("{s:[{s:o,s:[{s:{s:s,s:s},s:o}]}]}", "resourceSpans", "resource",
			resource_json(m), "scopeSpans", "scope", "name", "shimmer", "version",
			SHIMMER_VERSION, "spans", spans);
	spans = NULL; /* owned by req now, or freed by json_pack on failure */
	if (!req)
		goto out;
	text = json_dumps(req, JSON_COMPACT);
	if (!text)
		goto out;
	shim_sink_puts(out, text);
	free(text);
	rc = 0;
out:
	json_decref(spans);
	json_decref(req);
	return rc;
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
