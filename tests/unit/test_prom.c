/* SPDX-License-Identifier: MIT */
/* export/prom.c from a hand-built model (exact lines, escaping, cumulative
 * buckets, the SHIMMER_METRICS_TOP bound), the recorder's bucket search
 * (shim/record.h) against the bounds in seconds, and SHIMMER_METRICS_ADDR
 * parsing (shim/config.c). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../export/export.h"
#include "../../shim/config.h"
#include "../../shim/fdtab.h"
#include "../../shim/record.h"

static struct shim_model_call calls[2];
static struct shim_model_err errs[1];
static struct shim_model_res res[3];

static void model(struct shim_model *m)
{
	memset(m, 0, sizeof(*m));
	m->pid = 42;
	snprintf(m->service, sizeof(m->service), "svc \"q\" \\ end");
	memset(calls, 0, sizeof(calls));
	calls[0] = (struct shim_model_call){.fn = SHIM_FN_write, .name = "write",
					   .family = SHIM_FAM_FILE, .dir = SHIM_DIR_OUT,
					   .calls = 10, .errors = 1, .bytes = 900, .seconds = 0.25};
	calls[0].hist[0] = 3;
	calls[0].hist[2] = 6;
	calls[0].hist[SHIM_HIST_BUCKETS - 1] = 1;
	calls[1] = (struct shim_model_call){.fn = SHIM_FN_malloc, .name = "malloc",
					   .family = SHIM_FAM_ALLOC, .calls = 5, .bytes = 640};
	m->calls = calls;
	m->ncalls = 2;
	errs[0] = (struct shim_model_err){.fn = SHIM_FN_write, .err = 28, .count = 1};
	m->errs = errs;
	m->nerrs = 1;
	res[0] = (struct shim_model_res){.kind = SHIM_KIND_FILE, .name = "/tmp/a\"b", .ops = 7};
	res[1] = (struct shim_model_res){.kind = SHIM_KIND_SOCKET, .name = "tcp 127.0.0.1:80",
					 .ops = 2};
	res[2] = (struct shim_model_res){.kind = SHIM_KIND_FILE, .name = "/tmp/c", .ops = 1};
	m->res = res;
	m->nres = 3;
	m->open_fds[SHIM_KIND_FILE] = 4;
	m->proc.known = 1;
	m->proc.cpu_seconds = 1.5;
	m->proc.start_unix = 1700000000.25;
}

static void has(const char *text, const char *line)
{
	if (!strstr(text, line))
		fail_msg("missing line: %s\n--- in ---\n%s", line, text);
}

static void prom_lines(void **state)
{
	struct shim_model m;
	struct shim_sink s;
	(void)state;

	model(&m);
	shim_config.metrics_top = 2;
	shim_sink_init(&s);
	assert_int_equal(shim_export_prom(&m, &s), 0);
#define B "service_name=\"svc \\\"q\\\" \\\\ end\",pid=\"42\""
	has(s.buf, "# TYPE shimmer_calls_total counter\n");
	has(s.buf, "shimmer_calls_total{" B ",family=\"file\",function=\"write\"} 10\n");
	has(s.buf, "shimmer_calls_total{" B ",family=\"alloc\",function=\"malloc\"} 5\n");
	has(s.buf, "shimmer_errors_total{" B ",family=\"file\",function=\"write\","
		   "error_type=\"ENOSPC\"} 1\n");
	has(s.buf, "shimmer_io_bytes_total{" B ",family=\"file\",function=\"write\","
		   "direction=\"write\"} 900\n");
	has(s.buf, "shimmer_alloc_requested_bytes_total{" B ",function=\"malloc\"} 640\n");
	/* cumulative: 3 at 1 us, 3 at 5 us, 9 from 10 us on, the last call only at +Inf */
	has(s.buf, "# TYPE shimmer_call_duration_seconds histogram\n");
	has(s.buf, "_bucket{" B ",family=\"file\",function=\"write\",le=\"1e-06\"} 3\n");
	has(s.buf, "_bucket{" B ",family=\"file\",function=\"write\",le=\"5e-06\"} 3\n");
	has(s.buf, "_bucket{" B ",family=\"file\",function=\"write\",le=\"1e-05\"} 9\n");
	has(s.buf, "_bucket{" B ",family=\"file\",function=\"write\",le=\"10\"} 9\n");
	has(s.buf, "_bucket{" B ",family=\"file\",function=\"write\",le=\"+Inf\"} 10\n");
	has(s.buf, "shimmer_call_duration_seconds_sum{" B ",family=\"file\",function=\"write\"} "
		   "0.25\n");
	has(s.buf, "shimmer_call_duration_seconds_count{" B ",family=\"file\","
		   "function=\"write\"} 10\n");
	assert_null(strstr(s.buf, "function=\"malloc\",le="));
	/* the top 2 resources only, names escaped */
	has(s.buf, "shimmer_resource_operations_total{" B ",kind=\"file\","
		   "resource=\"/tmp/a\\\"b\"} 7\n");
	has(s.buf, "shimmer_resource_operations_total{" B ",kind=\"socket\","
		   "resource=\"tcp 127.0.0.1:80\"} 2\n");
	assert_null(strstr(s.buf, "/tmp/c"));
	has(s.buf, "shimmer_open_fds{" B ",kind=\"file\"} 4\n");
	has(s.buf, "process_cpu_seconds_total{" B "} 1.5\n");
	has(s.buf, "process_start_time_seconds{" B "} 1700000000.25\n");
	assert_null(strstr(s.buf, "shimmer_heap_live_bytes"));
	assert_int_equal(s.buf[s.len - 1], '\n');
#undef B
	shim_sink_free(&s);
	shim_config.metrics_top = SHIM_METRICS_TOP_DEFAULT;
}

/* Each bound's HELP and TYPE once, before its samples. */
static void prom_families_once(void **state)
{
	struct shim_model m;
	struct shim_sink s;
	(void)state;

	model(&m);
	m.heap_live.known = 1;
	m.heap_live.live_bytes = 4096;
	shim_sink_init(&s);
	assert_int_equal(shim_export_prom(&m, &s), 0);
	for (const char *l = s.buf; (l = strstr(l, "# TYPE ")); l++) {
		char name[128], pat[160];
		sscanf(l + 7, "%127s", name);
		snprintf(pat, sizeof(pat), "# TYPE %s ", name);
		assert_ptr_equal(strstr(s.buf, pat), l); /* the first and only one */
	}
	assert_non_null(strstr(s.buf, "shimmer_heap_live_bytes{"));
	shim_sink_free(&s);
}

/* Bucket i holds the calls whose time exceeds bound i-1 and is at most bound
 * i; values within 1 % of a bound are left out (calibration moves). */
static void hist_buckets(void **state)
{
	double npt;
	(void)state;

	usleep(20000); /* an interval to calibrate over */
	shim_rec_hist_calibrate();
	npt = shim_clock_ns_per_tick();
	for (double ns = 0.5; ns < 100e9; ns *= 1.07) {
		uint64_t dt = (uint64_t)(ns / npt);
		double sec = (double)dt * npt * 1e-9;
		unsigned want = 0, near = 0;
		for (unsigned i = 0; i < SHIM_HIST_BUCKETS - 1; i++) {
			want += sec > shim_hist_le[i];
			near |= sec > shim_hist_le[i] * 0.99 && sec < shim_hist_le[i] * 1.01;
		}
		if (!near)
			assert_int_equal(shim_hist_bucket(dt), want);
	}
	assert_int_equal(shim_hist_bucket(0), 0);
	assert_int_equal(shim_hist_bucket(UINT64_MAX), SHIM_HIST_BUCKETS - 1);
}

static void addr_ok(const char *s, int family, const char *ip, int port)
{
	struct sockaddr_storage ss;
	socklen_t len = 0;
	const char *why = "unset";
	char got[64];

	assert_int_equal(shim_config_parse_addr(s, &ss, &len, &why), 0);
	assert_null(why);
	assert_int_equal(ss.ss_family, family);
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		assert_int_equal(len, sizeof(*a));
		inet_ntop(AF_INET, &a->sin_addr, got, sizeof(got));
		assert_int_equal(ntohs(a->sin_port), port);
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		assert_int_equal(len, sizeof(*a));
		inet_ntop(AF_INET6, &a->sin6_addr, got, sizeof(got));
		assert_int_equal(ntohs(a->sin6_port), port);
	}
	assert_string_equal(got, ip);
}

static void addr_parse(void **state)
{
	static const char *const bad[] = {"", "9464", "127.0.0.1", "127.0.0.1:", ":65536",
					  ":-1", ":12x", "host.example:80", "::1:80", "[::1]80",
					  "[::1", "[nonsense]:80", "1.2.3:80", ": 80"};
	(void)state;

	addr_ok("127.0.0.1:9464", AF_INET, "127.0.0.1", 9464);
	addr_ok(":9464", AF_INET, "127.0.0.1", 9464);
	addr_ok(":0", AF_INET, "127.0.0.1", 0);
	addr_ok("localhost:80", AF_INET, "127.0.0.1", 80);
	addr_ok("0.0.0.0:9464", AF_INET, "0.0.0.0", 9464);
	addr_ok("[::1]:9464", AF_INET6, "::1", 9464);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sockaddr_storage ss;
		socklen_t len;
		const char *why = NULL;
		if (shim_config_parse_addr(bad[i], &ss, &len, &why) != -1 || !why)
			fail_msg("accepted %s", bad[i]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(prom_lines),
		cmocka_unit_test(prom_families_once),
		cmocka_unit_test(hist_buckets),
		cmocka_unit_test(addr_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
