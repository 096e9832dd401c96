/* SPDX-License-Identifier: MIT */
/* shim/otlp_json.c (the push's request, without jansson) against
 * export/otlp.c (the file's, with jansson) on hand-built traces: the same
 * bytes for every span type, error statuses, remote parents, names that are
 * not UTF-8 or hold control characters, quotes and backslashes, and
 * OTEL_RESOURCE_ATTRIBUTES that repeat keys, percent-encode or override ours. */
#include "unit.h"

#include <errno.h>

#include "../../export/export.h"
#include "../../shim/fn.h"
#include "../../shim/otlp.h"
#include "../../shim/sink.h"
#include "../../shim/span.h"

#define T0 1700000000000000000ull

static struct shim_model_span spans[6];

static void fixture(struct shim_model *m, const char *service, const char *resource, int remote)
{
	memset(m, 0, sizeof(*m));
	m->pid = 4242;
	m->ppid = 1;
	snprintf(m->exe, sizeof(m->exe), "pr\"og\\");
	m->start_unix_ns = T0;
	for (int i = 0; i < 16; i++)
		m->trace.trace_id[i] = (uint8_t)(0x0a + i * 7);
	m->trace.flags = 0x01;
	m->trace.remote = remote;
	snprintf(m->trace.host, sizeof(m->trace.host), "b\xc3\xa9x");
	snprintf(m->trace.exe_path, sizeof(m->trace.exe_path), "/usr/bin/pr\"og\\");
	snprintf(m->trace.tracestate, sizeof(m->trace.tracestate), "%s", remote ? "k=v,a=b" : "");
	m->trace.service = service;
	m->trace.resource = resource;
	spans[0] = (struct shim_model_span){.span_id = 0x1111, .parent_id = remote ? 0x2222 : 0,
					     .start_ns = T0, .end_ns = T0 + 10000000,
					     .type = SHIM_SPAN_PROCESS, .fn = SHIM_FN_COUNT,
					     .tid = 4242, .count = 2, .has_exit_code = 1};
	spans[1] = (struct shim_model_span){.span_id = 0x3333, .parent_id = 0x1111,
					     .start_ns = T0 + 1000, .end_ns = T0 + 5000,
					     .type = SHIM_SPAN_DNS, .fn = SHIM_FN_getaddrinfo,
					     .tid = 4242, .count = 2, .err = -2 /* EAI_NONAME */,
					     .target = "ex\x01\x1f\x7f.test"};
	spans[2] = (struct shim_model_span){.span_id = 0x4444, .parent_id = 0x1111,
					     .start_ns = T0 + 2000, .end_ns = T0 + 5002,
					     .type = SHIM_SPAN_SLOW, .fn = SHIM_FN_read, .tid = 4242};
	spans[3] = (struct shim_model_span){.span_id = 0x5555, .parent_id = 0x1111,
					     .start_ns = T0 + 6000, .end_ns = T0 + 9000,
					     .type = SHIM_SPAN_CLIENT, .fn = SHIM_FN_COUNT,
					     .tid = 4243, .wbytes = 10, .rbytes = 20, .wops = 1,
					     .rops = 2, .ops = 4, .target = "tcp [::1]:8080",
					     .target2 = "\xe2\x82\xac\xf0\x9f\x98\x80.test"};
	/* not UTF-8 (a lone continuation byte, a surrogate, an overlong '/') */
	spans[4] = (struct shim_model_span){.span_id = 0x6666, .parent_id = 0x1111,
					     .start_ns = T0 + 7000, .end_ns = T0 + 7000,
					     .type = SHIM_SPAN_FILE, .fn = SHIM_FN_COUNT,
					     .tid = 4242, .err = ENOENT,
					     .target = "/no/\x80\xed\xa0\x80\xc0\xaf\t\"x\\"};
	spans[5] = (struct shim_model_span){.span_id = 0x7777, .parent_id = 0x1111,
					     .start_ns = T0 + 7500, .end_ns = T0 + 8000,
					     .type = SHIM_SPAN_SERVER, .fn = SHIM_FN_COUNT,
					     .tid = 4242, .rbytes = 5, .target = "tcp 10.0.0.1:5555"};
	m->trace.spans = spans;
	m->trace.nspans = 6;
}

static void same(const struct shim_model *m, size_t first, size_t n)
{
	struct shim_sink a, b;

	shim_sink_init(&a);
	shim_sink_init(&b);
	assert_int_equal(shim_export_otlp_request(m, first, n, &a), 0);
	assert_int_equal(shim_otlp_json_request(m, first, n, &b), 0);
	shim_sink_puts(&a, "");
	shim_sink_puts(&b, "");
	assert_int_equal(a.failed, 0);
	assert_int_equal(b.failed, 0);
	if (a.len != b.len || memcmp(a.buf, b.buf, a.len) != 0)
		fail_msg("jansson:\n%.*s\nours:\n%.*s", (int)a.len, a.buf, (int)b.len, b.buf);
	shim_sink_free(&a);
	shim_sink_free(&b);
}

static void test_same_bytes(void **state)
{
	static const char *resources[] = {
		NULL,
		"",
		"deployment.environment=prod,service.name=from-attrs",
		"a=1,b=%41%42%zz,a=2,host.name=override,x=%FF%01y,z=\xc3\xa9,=novalue,noeq,c=",
		"service.name=s1,service.name=s2,telemetry.sdk.name=mine",
	};
	struct shim_model m;

	(void)state;
	for (size_t r = 0; r < sizeof(resources) / sizeof(resources[0]); r++)
		for (int svc = 0; svc < 2; svc++)
			for (int remote = 0; remote < 2; remote++) {
				fixture(&m, svc ? "svc\"\n" : NULL, resources[r], remote);
				same(&m, 0, m.trace.nspans);
				same(&m, 2, 3);
				same(&m, 5, 10);
			}
}

static void test_empty(void **state)
{
	struct shim_model m;

	(void)state;
	fixture(&m, NULL, NULL, 0);
	m.trace.nspans = 0;
	same(&m, 0, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_bytes),
		cmocka_unit_test(test_empty),
	};
	return unit_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
