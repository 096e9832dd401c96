/* SPDX-License-Identifier: MIT */
/* export/otlp.c, export/chrome.c, export/ndjson.c on a hand-built trace: the
 * OTLP/JSON rules (hex ids, integer enums, 64-bit integers as strings, flags,
 * status), strict X nesting per thread in the Chrome file (a child that
 * outlasts its parent by a few ns is clamped), and NDJSON events in time order
 * with the trace id on each. */
#include "unit.h"

#include <errno.h>
#include <jansson.h>

#include "../../export/export.h"
#include "../../shim/fn.h"
#include "../../shim/span.h"

#define T0 1700000000000000000ull

static struct shim_model_span spans[5];

static void fixture(struct shim_model *m)
{
	memset(m, 0, sizeof(*m));
	m->pid = 4242;
	m->ppid = 1;
	snprintf(m->exe, sizeof(m->exe), "prog");
	m->start_unix_ns = T0;
	for (int i = 0; i < 16; i++)
		m->trace.trace_id[i] = (uint8_t)(0xa0 + i);
	m->trace.flags = 0x03;
	m->trace.remote = 1;
	snprintf(m->trace.host, sizeof(m->trace.host), "box");
	m->trace.service = NULL;
	m->trace.resource = "deployment.environment=prod,service.name=from-attrs";
	/* root: ends last, exit code 2, parent from TRACEPARENT */
	spans[0] = (struct shim_model_span){.span_id = 0x1111, .parent_id = 0x2222,
					     .start_ns = T0, .end_ns = T0 + 10000000,
					     .type = SHIM_SPAN_PROCESS, .fn = SHIM_FN_COUNT,
					     .tid = 4242, .count = 2, .has_exit_code = 1};
	spans[1] = (struct shim_model_span){.span_id = 0x3333, .parent_id = 0x1111,
					     .start_ns = T0 + 1000, .end_ns = T0 + 5000,
					     .type = SHIM_SPAN_DNS, .fn = SHIM_FN_getaddrinfo,
					     .tid = 4242, .count = 2, .target = "example.test"};
	/* a slow call that would outlast the DNS span around it by 2 ns */
	spans[2] = (struct shim_model_span){.span_id = 0x4444, .parent_id = 0x1111,
					     .start_ns = T0 + 2000, .end_ns = T0 + 5002,
					     .type = SHIM_SPAN_SLOW, .fn = SHIM_FN_read,
					     .tid = 4242};
	spans[3] = (struct shim_model_span){.span_id = 0x5555, .parent_id = 0x1111,
					     .start_ns = T0 + 6000, .end_ns = T0 + 9000,
					     .type = SHIM_SPAN_CLIENT, .fn = SHIM_FN_COUNT,
					     .tid = 4243, .wbytes = 10, .rbytes = 20, .wops = 1,
					     .rops = 2, .ops = 4, .target = "tcp [::1]:8080",
					     .target2 = "example.test"};
	spans[4] = (struct shim_model_span){.span_id = 0x6666, .parent_id = 0x1111,
					     .start_ns = T0 + 7000, .end_ns = T0 + 7000,
					     .type = SHIM_SPAN_FILE, .fn = SHIM_FN_COUNT,
					     .tid = 4242, .err = ENOENT, .target = "/no/such"};
	m->trace.spans = spans;
	m->trace.nspans = 5;
}

static const char *attr(json_t *attrs, const char *key, const char *type)
{
	size_t i;
	json_t *kv;
	json_array_foreach(attrs, i, kv)
	{
		if (strcmp(json_string_value(json_object_get(kv, "key")), key) == 0) {
			json_t *v = json_object_get(json_object_get(kv, "value"), type);
			return json_is_string(v) ? json_string_value(v) : json_is_true(v) ? "true" : "?";
		}
	}
	return NULL;
}

static void test_otlp(void **state)
{
	struct shim_model m;
	struct shim_sink s;
	json_error_t err;
	json_t *req, *rs;
	(void)state;

	fixture(&m);
	shim_sink_init(&s);
	assert_int_equal(shim_export_otlp(&m, &s), 0);
	assert_int_equal(unit_count_lines(s.buf, "{"), 1);
	req = json_loadb(s.buf, s.len, 0, &err);
	assert_non_null(req);
	rs = json_object_get(json_array_get(json_object_get(req, "resourceSpans"), 0), "resource");
	/* OTEL_SERVICE_NAME unset: OTEL_RESOURCE_ATTRIBUTES' service.name wins */
	assert_string_equal(attr(json_object_get(rs, "attributes"), "service.name", "stringValue"),
			    "from-attrs");
	assert_string_equal(attr(json_object_get(rs, "attributes"), "deployment.environment",
				 "stringValue"),
			    "prod");
	assert_string_equal(attr(json_object_get(rs, "attributes"), "process.pid", "intValue"),
			    "4242");
	{
		json_t *list = json_object_get(
			json_array_get(json_object_get(json_array_get(json_object_get(req,
										      "resourceSpans"),
								      0),
						       "scopeSpans"),
				       0),
			"spans");
		json_t *root = json_array_get(list, 0), *dns = json_array_get(list, 1),
		       *cl = json_array_get(list, 3), *file = json_array_get(list, 4);
		assert_int_equal(json_array_size(list), 5);
		assert_string_equal(json_string_value(json_object_get(root, "traceId")),
				    "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf");
		assert_string_equal(json_string_value(json_object_get(root, "spanId")),
				    "0000000000001111");
		assert_string_equal(json_string_value(json_object_get(root, "parentSpanId")),
				    "0000000000002222");
		assert_string_equal(json_string_value(json_object_get(root, "startTimeUnixNano")),
				    "1700000000000000000");
		assert_int_equal(json_integer_value(json_object_get(root, "flags")), 0x303);
		assert_int_equal(json_integer_value(json_object_get(root, "kind")), 1);
		assert_int_equal(json_integer_value(
					 json_object_get(json_object_get(root, "status"), "code")),
				 2);
		assert_string_equal(attr(json_object_get(root, "attributes"), "process.exit.code",
					 "intValue"),
				    "2");
		assert_string_equal(json_string_value(json_object_get(dns, "name")), "dns lookup");
		assert_string_equal(attr(json_object_get(dns, "attributes"), "dns.question.name",
					 "stringValue"),
				    "example.test");
		assert_int_equal(json_integer_value(json_object_get(dns, "flags")), 0x103);
		assert_int_equal(json_integer_value(json_object_get(cl, "kind")), 3);
		assert_string_equal(attr(json_object_get(cl, "attributes"), "network.type",
					 "stringValue"),
				    "ipv6");
		assert_string_equal(attr(json_object_get(cl, "attributes"), "server.address",
					 "stringValue"),
				    "example.test");
		assert_string_equal(attr(json_object_get(cl, "attributes"), "shimmer.bytes_received",
					 "intValue"),
				    "20");
		assert_string_equal(attr(json_object_get(file, "attributes"), "error.type",
					 "stringValue"),
				    "ENOENT");
		assert_null(attr(json_object_get(file, "attributes"), "shimmer.bytes_read",
				 "intValue"));
	}
	json_decref(req);
	shim_sink_free(&s);
}

/* The push's request and traces.otlp.json's line of the same model are the
 * same bytes (the second may be the first, kept); any change to what the
 * request is made of is in the next one: nothing stale is handed back. */
static void test_otlp_same_request_kept_fresh(void **state)
{
	struct shim_model m;
	struct shim_sink a, b, c;
	static const struct {
		const char *what, *want;
	} changes[] = {
		{"rbytes", "\"21\""}, {"host", "\"box2\""}, {"target", "/no/such2"},
		{"end", "\"1700000000000009001\""}, {"pid", "\"4243\""},
	};
	(void)state;

	fixture(&m);
	shim_sink_init(&a);
	shim_sink_init(&b);
	assert_int_equal(shim_export_otlp_request(&m, 0, m.trace.nspans, &a), 0);
	assert_int_equal(shim_export_otlp(&m, &b), 0);
	assert_int_equal(b.len, a.len + 1);
	assert_memory_equal(a.buf, b.buf, a.len);
	assert_int_equal(b.buf[a.len], '\n');
	for (size_t i = 0; i < sizeof(changes) / sizeof(changes[0]); i++) {
		fixture(&m);
		if (!strcmp(changes[i].what, "rbytes"))
			spans[3].rbytes = 21;
		else if (!strcmp(changes[i].what, "host"))
			snprintf(m.trace.host, sizeof(m.trace.host), "box2");
		else if (!strcmp(changes[i].what, "target"))
			spans[4].target = "/no/such2";
		else if (!strcmp(changes[i].what, "end"))
			spans[3].end_ns = T0 + 9001;
		else
			m.pid = 4243;
		shim_sink_init(&c);
		assert_int_equal(shim_export_otlp(&m, &c), 0);
		assert_non_null(strstr(c.buf, changes[i].want));
		assert_true(c.len != b.len || memcmp(c.buf, b.buf, b.len) != 0);
		shim_sink_free(&c);
	}
	/* a part of the spans is its own request, never the whole one */
	fixture(&m);
	shim_sink_init(&c);
	assert_int_equal(shim_export_otlp_request(&m, 1, 2, &c), 0);
	assert_true(c.len < a.len);
	shim_sink_free(&c);
	shim_sink_free(&a);
	shim_sink_free(&b);
}

static void test_chrome_nesting(void **state)
{
	struct shim_model m;
	struct shim_sink s;
	json_error_t err;
	json_t *doc, *ev, *e;
	size_t i;
	double dns_end = -1, slow_end = -1;
	int b = 0, en = 0;
	(void)state;

	fixture(&m);
	shim_sink_init(&s);
	assert_int_equal(shim_export_chrome(&m, &s), 0);
	doc = json_loadb(s.buf, s.len, 0, &err);
	assert_non_null(doc);
	ev = json_object_get(doc, "traceEvents");
	json_array_foreach(ev, i, e)
	{
		const char *ph = json_string_value(json_object_get(e, "ph"));
		const char *name = json_string_value(json_object_get(e, "name"));
		assert_int_equal(json_integer_value(json_object_get(e, "pid")), 4242);
		if (strcmp(ph, "X") == 0 && strcmp(name, "dns lookup") == 0)
			dns_end = json_real_value(json_object_get(e, "ts")) +
				  json_real_value(json_object_get(e, "dur"));
		if (strcmp(ph, "X") == 0 && strcmp(name, "read") == 0)
			slow_end = json_real_value(json_object_get(e, "ts")) +
				   json_real_value(json_object_get(e, "dur"));
		b += strcmp(ph, "b") == 0;
		en += strcmp(ph, "e") == 0;
	}
	assert_true(dns_end > 0 && slow_end > 0);
	assert_true(slow_end <= dns_end); /* clamped into its parent */
	assert_int_equal(b, 2);		  /* the connection and the file */
	assert_int_equal(en, 2);
	json_decref(doc);
	shim_sink_free(&s);
}

static void test_ndjson(void **state)
{
	struct shim_model m;
	struct shim_sink s;
	char *line, *save = NULL;
	int n = 0;
	(void)state;

	fixture(&m);
	m.trace.export_dropped = 3;
	snprintf(m.trace.export_error, sizeof(m.trace.export_error), "HTTP 400");
	shim_sink_init(&s);
	assert_int_equal(shim_export_ndjson(&m, &s), 0);
	shim_sink_write(&s, "", 1);
	assert_non_null(strstr(s.buf, "\"severity\":\"ERROR\""));
	assert_non_null(strstr(s.buf, "3 not delivered by the OTLP push: HTTP 400"));
	for (line = strtok_r(s.buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save), n++) {
		json_error_t err;
		json_t *o = json_loads(line, 0, &err);
		assert_non_null(o);
		assert_string_equal(json_string_value(json_object_get(o, "trace_id")),
				    "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf");
		if (n == 0)
			assert_string_equal(json_string_value(json_object_get(o, "timestamp")),
					    "2023-11-14T22:13:20.000000000Z");
		json_decref(o);
	}
	/* start, dns, slow read, connection open+close, failed open, exit, drops */
	assert_int_equal(n, 8);
	shim_sink_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_otlp),
		cmocka_unit_test(test_otlp_same_request_kept_fresh),
		cmocka_unit_test(test_chrome_nesting),
		cmocka_unit_test(test_ndjson),
	};
	return unit_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
