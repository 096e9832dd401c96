/* SPDX-License-Identifier: MIT */
/* The push's ExportTraceServiceRequest, written straight into a sink: the
 * same request as export/otlp.c builds with jansson (same spans, attributes,
 * resource, ids and enums, same canonical OTLP/JSON), without its object tree.
 * jansson cost a short process about 0.1 ms at exit for one or two spans
 * (lazy binding, format parsing, hash tables, many small allocations). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../export/spanview.h"
#include "otlp.h"
#include "span.h"
#include "sink.h"

/* Length of the valid UTF-8 sequence at p (1-4), or 0 (jansson's rules:
 * no overlong forms, no surrogates, nothing above U+10FFFF). */
static size_t utf8_len(const unsigned char *p, size_t left)
{
	unsigned c = p[0], v;
	size_t n;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		n = 2, v = c & 0x1f;
	else if (c >= 0xe0 && c <= 0xef)
		n = 3, v = c & 0x0f;
	else if (c >= 0xf0 && c <= 0xf4)
		n = 4, v = c & 0x07;
	else
		return 0;
	if (n > left)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		v = (v << 6) | (p[i] & 0x3f);
	}
	if ((n == 3 && v < 0x800) || (n == 4 && (v < 0x10000 || v > 0x10ffff)) ||
	    (v >= 0xd800 && v <= 0xdfff))
		return 0;
	return n;
}

/* A JSON string of s. A string that is not UTF-8 throughout has each byte
 * above 0x7f written as '?' (shim_json_str's rule). */
static void str(struct shim_sink *o, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), i = 0;
	int valid = 1;

	while (i < n) {
		size_t k = utf8_len(p + i, n - i);
		if (!k) {
			valid = 0;
			break;
		}
		i += k;
	}
	shim_sink_write(o, "\"", 1);
	for (i = 0; i < n; i++) {
		unsigned char c = p[i];
		char esc[8];
		size_t run = i;
		while (run < n && p[run] >= 0x20 && p[run] != '"' && p[run] != '\\' &&
		       (valid || p[run] < 0x80))
			run++;
		if (run > i) {
			shim_sink_write(o, s + i, run - i);
			i = run - 1;
			continue;
		}
		switch (c) {
		case '"': shim_sink_write(o, "\\\"", 2); break;
		case '\\': shim_sink_write(o, "\\\\", 2); break;
		case '\b': shim_sink_write(o, "\\b", 2); break;
		case '\f': shim_sink_write(o, "\\f", 2); break;
		case '\n': shim_sink_write(o, "\\n", 2); break;
		case '\r': shim_sink_write(o, "\\r", 2); break;
		case '\t': shim_sink_write(o, "\\t", 2); break;
		default:
			if (c >= 0x80) {
				shim_sink_write(o, "?", 1);
			} else {
				snprintf(esc, sizeof(esc), "\\u%04X", c);
				shim_sink_write(o, esc, 6);
			}
		}
	}
	shim_sink_write(o, "\"", 1);
}

static void kv(struct shim_sink *o, const char *key, const struct shim_attr *a, int comma)
{
	if (comma)
		shim_sink_puts(o, ",");
	shim_sink_puts(o, "{\"key\":");
	str(o, key);
	switch (a->type) {
	case SHIM_ATTR_INT:
		shim_sink_printf(o, ",\"value\":{\"intValue\":\"%lld\"}}", (long long)a->i);
		break;
	case SHIM_ATTR_BOOL:
		shim_sink_puts(o, a->i ? ",\"value\":{\"boolValue\":true}}"
				       : ",\"value\":{\"boolValue\":false}}");
		break;
	default:
		shim_sink_puts(o, ",\"value\":{\"stringValue\":");
		str(o, a->s);
		shim_sink_puts(o, "}}");
	}
}

static void attrs(struct shim_sink *o, const struct shim_attr *a, size_t n)
{
	shim_sink_puts(o, "[");
	for (size_t i = 0; i < n; i++)
		kv(o, a[i].key, &a[i], i > 0);
	shim_sink_puts(o, "]");
}

/* OTEL_RESOURCE_ATTRIBUTES: "k=v,k2=v2", values percent-decoded; a key
 * replaces ours (moving to the end), except service.name when
 * OTEL_SERVICE_NAME set it. */
#define ENV_MAX 32
struct env_attr {
	char key[256], val[1024];
};

static void resource(struct shim_sink *o, const struct shim_model *m)
{
	struct shim_attr a[16];
	char scratch[300];
	size_t n = shim_sv_resource(m, a, 16, scratch, sizeof(scratch)), ne = 0;
	struct env_attr *env = calloc(ENV_MAX, sizeof(*env));
	const char *p = m->trace.resource;
	int first = 1;

	while (env && p && *p && ne < ENV_MAX) {
		const char *end = strchr(p, ','), *eq;
		size_t len = end ? (size_t)(end - p) : strlen(p), kl, k = 0;
		eq = memchr(p, '=', len);
		if (eq && (kl = (size_t)(eq - p)) > 0 && kl < sizeof(env->key)) {
			struct env_attr *e = &env[ne];
			memcpy(e->key, p, kl);
			e->key[kl] = '\0';
			for (const char *v = eq + 1; v < p + len && k + 1 < sizeof(e->val); v++) {
				unsigned h;
				if (*v == '%' && v + 2 < p + len && sscanf(v + 1, "%2x", &h) == 1) {
					e->val[k++] = (char)h;
					v += 2;
				} else {
					e->val[k++] = *v;
				}
			}
			e->val[k] = '\0';
			if (!(strcmp(e->key, "service.name") == 0 && m->trace.service)) {
				/* a later one with the same key replaces an earlier one */
				for (size_t j = 0; j < ne; j++)
					if (strcmp(env[j].key, e->key) == 0) {
						memmove(&env[j], &env[j + 1], (ne - j) * sizeof(*env));
						e = &env[--ne];
						break;
					}
				ne++;
			}
		}
		p = end ? end + 1 : NULL;
	}
	shim_sink_puts(o, "{\"attributes\":[");
	for (size_t i = 0; i < n; i++) {
		int replaced = 0;
		for (size_t j = 0; j < ne && !replaced; j++)
			replaced = strcmp(env[j].key, a[i].key) == 0;
		if (!replaced) {
			kv(o, a[i].key, &a[i], !first);
			first = 0;
		}
	}
	for (size_t j = 0; j < ne; j++) {
		struct shim_attr v = {.key = env[j].key, .type = SHIM_ATTR_STR, .s = env[j].val};
		kv(o, env[j].key, &v, !first);
		first = 0;
	}
	shim_sink_puts(o, "],\"droppedAttributesCount\":0}");
	free(env);
}

static void span(struct shim_sink *o, const struct shim_model *m, const struct shim_model_span *s)
{
	const struct shim_model_trace *t = &m->trace;
	struct shim_attr a[SHIM_ATTR_MAX];
	struct shim_attr_buf buf;
	char tid[33], sid[17], pid[17], msg[96];
	size_t n = shim_sv_attrs(m, s, a, &buf);
	int code = shim_sv_status(s, msg, sizeof(msg));
	unsigned flags = (unsigned)t->flags | 0x100u; /* HAS_IS_REMOTE */

	if (s->type == SHIM_SPAN_PROCESS && t->remote)
		flags |= 0x200u; /* IS_REMOTE: the parent came from TRACEPARENT */
	shim_sv_hex(t->trace_id, 16, tid);
	shim_sv_id(s->span_id, sid);
	shim_sink_printf(o, "{\"traceId\":\"%s\",\"spanId\":\"%s\",\"traceState\":", tid, sid);
	str(o, t->tracestate);
	shim_sink_puts(o, ",\"name\":");
	str(o, shim_sv_name(m, s));
	shim_sink_printf(o, ",\"kind\":%d,\"startTimeUnixNano\":\"%llu\",\"endTimeUnixNano\":\"%llu\","
			    "\"attributes\":",
			 shim_sv_kind(s), (unsigned long long)s->start_ns,
			 (unsigned long long)s->end_ns);
	attrs(o, a, n);
	shim_sink_printf(o, ",\"droppedAttributesCount\":0,\"events\":[],\"droppedEventsCount\":0,"
			    "\"links\":[],\"droppedLinksCount\":0,\"flags\":%u",
			 flags);
	if (s->parent_id) {
		shim_sv_id(s->parent_id, pid);
		shim_sink_printf(o, ",\"parentSpanId\":\"%s\"", pid);
	}
	if (code) {
		shim_sink_puts(o, ",\"status\":{\"message\":");
		str(o, msg);
		shim_sink_printf(o, ",\"code\":%d}}", code);
	} else {
		shim_sink_puts(o, ",\"status\":{\"code\":0}}");
	}
}

int shim_otlp_json_request(const struct shim_model *m, size_t first, size_t n,
			   struct shim_sink *out)
{
	shim_sink_puts(out, "{\"resourceSpans\":[{\"resource\":");
	resource(out, m);
	shim_sink_puts(out, ",\"scopeSpans\":[{\"scope\":{\"name\":\"shimmer\",\"version\":\"" SHIMMER_VERSION
			    "\"},\"spans\":[");
	for (size_t i = first; i < first + n && i < m->trace.nspans; i++) {
		if (i > first)
			shim_sink_puts(out, ",");
		span(out, m, &m->trace.spans[i]);
	}
	shim_sink_puts(out, "]}]}]}");
	return out->failed ? -1 : 0;
}
