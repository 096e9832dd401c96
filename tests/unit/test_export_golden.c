/* SPDX-License-Identifier: MIT */
/* traces.otlp.json, trace.chrome.json, events.ndjson and metrics.prom of
 * hand-built models compared byte for byte with tests/golden/export_*
 * (SHIMMER_UPDATE_GOLDEN=1 rewrites them): every span type, names that need
 * escaping or are not UTF-8, OTEL_RESOURCE_ATTRIBUTES, a process with nothing
 * but its root span, and one with no span at all; and the OTLP file of more
 * spans than a line holds. The files hold the writers' exact bytes; a change
 * of format shows here. */
#include "unit.h"

#include <errno.h>
#include <jansson.h>
#include <netdb.h>

#include "../../export/export.h"
#include "../../shim/config.h"
#include "../../shim/fdtab.h"
#include "../../shim/fn.h"
#include "../../shim/span.h"

#define T0 1700000000123456789ull
#define NBIG 600 /* spans of the big model: two OTLP lines */

static struct shim_model_span spans[24];
static struct shim_model_span big[NBIG];
static char cmdline[] = "prog --name \"a b\" \\x\t\x01 caf\xc3\xa9 bad\xff end";

static void trace_common(struct shim_model *m)
{
	memset(m, 0, sizeof(*m));
	m->pid = 4242;
	m->ppid = 77;
	snprintf(m->exe, sizeof(m->exe), "prog");
	m->start_unix_ns = T0 + 500;
	for (int i = 0; i < 16; i++)
		m->trace.trace_id[i] = (uint8_t)(0x0f + 17 * i);
	m->trace.flags = 0x01;
	snprintf(m->trace.exe_path, sizeof(m->trace.exe_path), "/opt/bin/prog");
	snprintf(m->trace.host, sizeof(m->trace.host), "box-1");
}

#define SPAN(...) (struct shim_model_span){__VA_ARGS__}

/* Every span type, success and failure, three threads, odd names. */
static void rich(struct shim_model *m)
{
	size_t n = 0;

	trace_common(m);
	m->trace.remote = 1;
	snprintf(m->trace.tracestate, sizeof(m->trace.tracestate), "vendor=abc,other=x y");
	m->trace.command_line = cmdline;
	m->trace.resource = "deployment.environment=prod%20eu,service.name=from-attrs,"
			    "host.name=over%2Cride,bad,=x,process.pid=1";
	m->trace.dropped = 3;
	m->trace.export_dropped = 2;
	snprintf(m->trace.export_error, sizeof(m->trace.export_error), "HTTP 503 \"busy\"");
	spans[n++] = SPAN(.span_id = 0x1111222233334444ull, .parent_id = 0xaaaabbbbccccddddull,
			  .start_ns = T0, .end_ns = T0 + 98765432, .type = SHIM_SPAN_PROCESS,
			  .fn = SHIM_FN_COUNT, .tid = 4242, .count = 3, .has_exit_code = 1);
	spans[n++] = SPAN(.span_id = 2, .parent_id = 0x1111222233334444ull, .start_ns = T0 + 1001,
			  .end_ns = T0 + 5003, .type = SHIM_SPAN_DNS, .fn = SHIM_FN_getaddrinfo,
			  .tid = 4242, .count = 2, .target = "example.test");
	spans[n++] = SPAN(.span_id = 3, .parent_id = 0x1111222233334444ull, .start_ns = T0 + 2000,
			  .end_ns = T0 + 5005, .type = SHIM_SPAN_SLOW, .fn = SHIM_FN_read,
			  .tid = 4242, .target = "pipe:[77]");
	spans[n++] = SPAN(.span_id = 4, .parent_id = 0x1111222233334444ull, .start_ns = T0 + 6000,
			  .end_ns = T0 + 7000, .type = SHIM_SPAN_DNS, .fn = SHIM_FN_gethostbyname,
			  .tid = 4243, .err = EAI_NONAME, .target = "nope.invalid");
	spans[n++] = SPAN(.span_id = 5, .start_ns = T0 + 7100, .end_ns = T0 + 7300,
			  .type = SHIM_SPAN_CONNECT, .fn = SHIM_FN_connect, .tid = 4243,
			  .err = ECONNREFUSED, .target = "tcp 127.0.0.1:9");
	spans[n++] = SPAN(.span_id = 6, .parent_id = 0x1111222233334444ull, .start_ns = T0 + 8000,
			  .end_ns = T0 + 9000123, .type = SHIM_SPAN_CLIENT, .fn = SHIM_FN_COUNT,
			  .tid = 4243, .wbytes = 10, .rbytes = 20000000000ull, .wops = 1, .rops = 2,
			  .ops = 4, .target = "tcp [::1]:8080", .target2 = "example.test");
	spans[n++] = SPAN(.span_id = 7, .parent_id = 6, .start_ns = T0 + 8000, .end_ns = T0 + 8500,
			  .type = SHIM_SPAN_CONNECT, .fn = SHIM_FN_connect, .tid = 4243,
			  .target = "tcp [::1]:8080");
	spans[n++] = SPAN(.span_id = 8, .parent_id = 0x1111222233334444ull, .start_ns = T0 + 9100,
			  .end_ns = T0 + 19100, .type = SHIM_SPAN_SERVER, .fn = SHIM_FN_COUNT,
			  .tid = 4244, .wbytes = 5, .rbytes = 6, .wops = 1, .rops = 1, .ops = 3,
			  .target = "tcp accepted 127.0.0.1:45678",
			  .target2 = "tcp listen 0.0.0.0:8000");
	spans[n++] = SPAN(.span_id = 9, .start_ns = T0 + 9200, .end_ns = T0 + 99999999,
			  .type = SHIM_SPAN_CLIENT, .fn = SHIM_FN_COUNT, .tid = 4242,
			  .unfinished = 1, .wbytes = 1, .ops = 1, .target = "unix /run/x \"q\".sock");
	spans[n++] = SPAN(.span_id = 10, .start_ns = T0 + 9300, .end_ns = T0 + 9400,
			  .type = SHIM_SPAN_CLIENT, .fn = SHIM_FN_COUNT, .tid = 4242,
			  .target = "udp (unconnected)");
	spans[n++] = SPAN(.span_id = 11, .parent_id = 0x1111222233334444ull, .start_ns = T0 + 10000,
			  .end_ns = T0 + 30000000, .type = SHIM_SPAN_FILE, .fn = SHIM_FN_COUNT,
			  .tid = 4242, .rbytes = 200, .wbytes = 300, .rops = 2, .wops = 3, .ops = 6,
			  .target = "/tmp/d\xc3\xa9j\xc3\xa0/\xe6\x97\xa5\xe6\x9c\xac.txt");
	spans[n++] = SPAN(.span_id = 12, .start_ns = T0 + 11000, .end_ns = T0 + 11000,
			  .type = SHIM_SPAN_FILE, .fn = SHIM_FN_COUNT, .tid = 4242, .err = ENOENT,
			  .target = "/no/such \"x\"\\y\n\x7f\xfe");
	spans[n++] = SPAN(.span_id = 13, .start_ns = T0 + 12000, .end_ns = T0 + 312000000,
			  .type = SHIM_SPAN_SLOW, .fn = SHIM_FN_poll, .tid = 4244, .err = EINTR);
	spans[n++] = SPAN(.span_id = 14, .start_ns = T0 + 13000, .end_ns = T0 + 13000,
			  .type = SHIM_SPAN_FILE, .fn = SHIM_FN_COUNT, .tid = 4242, .target = "/");
	m->trace.spans = spans;
	m->trace.nspans = n;
}

/* What /bin/true leaves: the root span only, a service name set. */
static void tiny(struct shim_model *m)
{
	trace_common(m);
	m->trace.service = "svc-true";
	spans[0] = SPAN(.span_id = 0x0123456789abcdefull, .start_ns = T0, .end_ns = T0 + 250000,
			.type = SHIM_SPAN_PROCESS, .fn = SHIM_FN_COUNT, .tid = 4242,
			.has_exit_code = 1);
	m->trace.spans = spans;
	m->trace.nspans = 1;
}

/* An exec'd image (no exit code) with more spans than one OTLP line holds. */
static void many(struct shim_model *m)
{
	trace_common(m);
	m->trace.flags = 0;
	big[0] = SPAN(.span_id = 1, .start_ns = T0, .end_ns = T0 + 1000000000ull,
		      .type = SHIM_SPAN_PROCESS, .fn = SHIM_FN_COUNT, .tid = 4242, .by_exec = 1);
	for (size_t i = 1; i < NBIG; i++)
		big[i] = SPAN(.span_id = 1000 + i, .parent_id = 1, .start_ns = T0 + 1000 * i,
			      .end_ns = T0 + 1000 * i + 333 * (i % 7), .type = SHIM_SPAN_FILE,
			      .fn = SHIM_FN_COUNT, .tid = 4242 + (int)(i % 3),
			      .err = i % 5 ? 0 : EACCES, .rbytes = i, .rops = 1, .ops = 1,
			      .target = i % 2 ? "/etc/hosts" : "/var/lib/x");
	m->trace.spans = big;
	m->trace.nspans = NBIG;
}

static struct shim_model_call calls[4];
static struct shim_model_err errs[3];
static struct shim_model_res res[5];

static void metrics(struct shim_model *m)
{
	rich(m);
	snprintf(m->service, sizeof(m->service), "svc \"q\" \\ end\nx");
	calls[0] = (struct shim_model_call){.fn = SHIM_FN_write, .name = "write",
					    .family = SHIM_FAM_FILE, .dir = SHIM_DIR_OUT,
					    .calls = 10, .errors = 1, .bytes = 900,
					    .seconds = 0.000123456789012345};
	for (unsigned b = 0; b < SHIM_HIST_BUCKETS; b++)
		calls[0].hist[b] = b % 3;
	calls[1] = (struct shim_model_call){.fn = SHIM_FN_recv, .name = "recv",
					    .family = SHIM_FAM_NET, .dir = SHIM_DIR_IN,
					    .calls = 18446744073709551615ull, .bytes = 1ull << 40,
					    .seconds = 12345.678901234567};
	calls[1].hist[3] = 7;
	calls[2] = (struct shim_model_call){.fn = SHIM_FN_getaddrinfo, .name = "getaddrinfo",
					    .family = SHIM_FAM_DNS, .calls = 2, .errors = 1,
					    .seconds = 1.5};
	calls[2].hist[SHIM_HIST_BUCKETS - 1] = 2;
	calls[3] = (struct shim_model_call){.fn = SHIM_FN_malloc, .name = "malloc",
					    .family = SHIM_FAM_ALLOC, .calls = 5, .bytes = 640};
	m->calls = calls;
	m->ncalls = 4;
	errs[0] = (struct shim_model_err){.fn = SHIM_FN_write, .err = ENOSPC, .count = 1};
	errs[1] = (struct shim_model_err){.fn = SHIM_FN_getaddrinfo, .err = EAI_NONAME, .count = 1};
	errs[2] = (struct shim_model_err){.fn = SHIM_FN_write, .err = 4095, .count = 9};
	m->errs = errs;
	m->nerrs = 3;
	res[0] = (struct shim_model_res){.kind = SHIM_KIND_FILE, .name = "/tmp/a\"b\\c\nd", .ops = 7,
					 .rbytes = 1, .wbytes = 2, .errors = 3, .seconds = 0.25};
	res[1] = (struct shim_model_res){.kind = SHIM_KIND_SOCKET, .name = "tcp 127.0.0.1:80",
					 .ops = 2, .seconds = 1e-7};
	res[2] = (struct shim_model_res){.kind = SHIM_KIND_DNS, .name = "caf\xc3\xa9\xff.test",
					 .ops = 1, .seconds = 0.1 + 0.2};
	res[3] = (struct shim_model_res){.kind = SHIM_KIND_PIPE, .name = "pipe:[9]", .ops = 1,
					 .seconds = 3e21};
	res[4] = (struct shim_model_res){.kind = SHIM_KIND_OTHER, .name = "(other)", .ops = 1};
	m->res = res;
	m->nres = 5;
	m->threads = 3;
	m->threads_live = 2;
	m->open_fds[SHIM_KIND_FILE] = 4;
	m->open_fds[SHIM_KIND_SOCKET] = 1;
	m->dropped.sites = 1;
	m->dropped.threads = 12345678901ull;
	m->hz = 99;
	m->samples = 110;
	m->samples_dropped = 1;
	m->heap_live.known = 1;
	m->heap_live.live_bytes = 4096;
	m->heap_live.peak_bytes = 8192;
	m->proc.known = 1;
	m->proc.cpu_seconds = 0.01;
	m->proc.rss_bytes = 5 << 20;
	m->proc.vm_bytes = 1ull << 33;
	m->proc.open_fds = 6;
	m->proc.max_fds = 1024;
	m->proc.start_unix = 1700000000.25;
}

/* The bare minimum metrics.prom: no call, no /proc figures. */
static void metrics_empty(struct shim_model *m)
{
	tiny(m);
	snprintf(m->service, sizeof(m->service), "unknown_service:true");
}

static void render(const struct shim_model *m, const char *name, struct shim_sink *s)
{
	int rc = -1;

	shim_sink_init(s);
	if (strstr(name, "otlp"))
		rc = shim_export_otlp(m, s);
	else if (strstr(name, "chrome"))
		rc = shim_export_chrome(m, s);
	else if (strstr(name, "ndjson"))
		rc = shim_export_ndjson(m, s);
	else if (strstr(name, "prom"))
		rc = shim_export_prom(m, s);
	assert_int_equal(rc, 0);
	assert_int_equal(s->failed, 0);
}

static void golden(const struct shim_model *m, const char *name)
{
	struct shim_sink s;
	char path[4096], *want;
	size_t len = 0;

	render(m, name, &s);
	unit_golden(name, path, sizeof(path));
	if (getenv("SHIMMER_UPDATE_GOLDEN")) {
		FILE *f = fopen(path, "w");
		assert_non_null(f);
		fwrite(s.buf ? s.buf : "", 1, s.len, f);
		fclose(f);
	}
	want = unit_slurp(path, &len);
	if (!want)
		fail_msg("%s missing (run with SHIMMER_UPDATE_GOLDEN=1 to create it)", path);
	if (len != s.len || memcmp(want, s.buf ? s.buf : "", len) != 0) {
		fprintf(stderr, "---- got\n%.*s---- want\n%s----\n", (int)s.len,
			s.buf ? s.buf : "", want);
		fail_msg("%s differs from %s", name, path);
	}
	free(want);
	shim_sink_free(&s);
}

static void test_rich(void **state)
{
	struct shim_model m;
	(void)state;

	rich(&m);
	golden(&m, "export_rich.otlp.json");
	golden(&m, "export_rich.chrome.json");
	golden(&m, "export_rich.ndjson");
}

static void test_tiny(void **state)
{
	struct shim_model m;
	(void)state;

	tiny(&m);
	golden(&m, "export_tiny.otlp.json");
	golden(&m, "export_tiny.chrome.json");
	golden(&m, "export_tiny.ndjson");
}

/* More spans than a line holds: two requests, each what
 * shim_export_otlp_request makes of its share, the resource in both. */
static void test_many(void **state)
{
	struct shim_model m;
	struct shim_sink all, one;
	const char *nl;
	size_t counts[2] = {512, NBIG - 512}, off = 0;
	(void)state;

	many(&m);
	render(&m, "otlp", &all);
	for (int i = 0; i < 2; i++) {
		json_t *doc, *j;
		json_error_t err;
		shim_sink_init(&one);
		assert_int_equal(shim_export_otlp_request(&m, 512 * (size_t)i, 512, &one), 0);
		nl = memchr(all.buf + off, '\n', all.len - off);
		assert_non_null(nl);
		assert_int_equal((size_t)(nl - all.buf) - off, one.len);
		assert_memory_equal(all.buf + off, one.buf, one.len);
		off += one.len + 1;
		doc = json_loadb(one.buf, one.len, 0, &err);
		assert_non_null(doc);
		j = json_object_get(json_array_get(json_object_get(doc, "resourceSpans"), 0),
				    "scopeSpans");
		assert_int_equal(json_array_size(json_object_get(json_array_get(j, 0), "spans")),
				 counts[i]);
		json_decref(doc);
		shim_sink_free(&one);
	}
	assert_int_equal(off, all.len);
	shim_sink_free(&all);
}

static void test_none(void **state)
{
	struct shim_model m;
	(void)state;

	trace_common(&m);
	golden(&m, "export_none.otlp.json");
	golden(&m, "export_none.chrome.json");
	golden(&m, "export_none.ndjson");
}

static void test_prom(void **state)
{
	struct shim_model m;
	(void)state;

	shim_config.metrics_top = 4;
	metrics(&m);
	golden(&m, "export_rich.prom");
	metrics_empty(&m);
	golden(&m, "export_tiny.prom");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rich), cmocka_unit_test(test_tiny),
		cmocka_unit_test(test_many), cmocka_unit_test(test_none),
		cmocka_unit_test(test_prom),
	};
	return unit_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
