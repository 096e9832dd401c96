/* SPDX-License-Identifier: MIT */
/* cpu.pb.gz from the hand-built model: gzip framing, then the protobuf decoded
 * by hand (tests/e2e/pprofcheck.py: ids, references, string table) and read by
 * the real consumer, go tool pprof (-top and -traces). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "../../export/export.h"
#include "model_fixture.h"

/* stdout of cmd, malloc'd; fails the test when the command fails. */
static char *run(const char *cmd)
{
	FILE *p = popen(cmd, "r");
	struct shim_sink s;
	char buf[4096];
	size_t n;

	assert_non_null(p);
	shim_sink_init(&s);
	while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
		shim_sink_write(&s, buf, n);
	assert_int_equal(pclose(p), 0);
	shim_sink_write(&s, "", 0);
	return s.buf;
}

static char path[256];

static void render(int samples)
{
	struct shim_model m;
	struct shim_sink s;
	const char *p;

	fixture_build(&m, samples);
	shim_sink_init(&s);
	assert_int_equal(shim_export_pprof(&m, &s), 0);
	assert_true(s.len > 20);
	assert_memory_equal(s.buf, "\x1f\x8b", 2);
	p = fixture_file(&s, ".pb.gz");
	assert_non_null(p);
	snprintf(path, sizeof(path), "%s", p);
	shim_sink_free(&s);
}

static json_int_t num(json_t *root, const char *obj, const char *key)
{
	json_t *v = json_object_get(json_object_get(root, obj), key);
	assert_non_null(v);
	return json_integer_value(v);
}

static void pprof_decodes(void **state)
{
	char cmd[512], *out;
	json_t *j, *f;
	(void)state;

	render(1);
	snprintf(cmd, sizeof(cmd), "python3 tests/e2e/pprofcheck.py %s", path);
	out = run(cmd);
	j = json_loads(out, 0, NULL);
	assert_non_null(j);
	assert_int_equal(num(j, "flat", "spin"), 70);
	assert_int_equal(num(j, "flat", "work"), 30);
	assert_int_equal(num(j, "flat", "write"), 5);
	assert_int_equal(num(j, "flat", "tmpl<a&b;c>"), 2);
	assert_int_equal(num(j, "cum", "main"), 110);
	assert_int_equal(num(j, "threads", "100"), 95);
	assert_int_equal(num(j, "threads", "101"), 15);
	assert_int_equal(json_integer_value(json_object_get(j, "total")), 110);
	assert_int_equal(json_integer_value(json_object_get(j, "period")), 10000000);
	assert_int_equal(json_integer_value(json_object_get(j, "time_nanos")),
			 1700000000000000000ll);
	f = json_object_get(json_object_get(j, "functions"), "spin");
	assert_string_equal(json_string_value(json_array_get(f, 0)), "t.c");
	assert_int_equal(json_integer_value(json_array_get(f, 1)), 40);
	assert_non_null(json_object_get(json_object_get(j, "functions"), "bad?name"));
	/* the main binary first, symbolized: pprof must not re-symbolize */
	f = json_array_get(json_object_get(j, "mappings"), 0);
	assert_string_equal(json_string_value(json_object_get(f, "filename")), "/opt/t/t_prog");
	assert_true(json_is_true(json_object_get(f, "has_functions")));
	assert_true(json_is_true(json_object_get(f, "has_line_numbers")));
	f = json_array_get(json_object_get(j, "mappings"), 1);
	assert_string_equal(json_string_value(json_object_get(f, "build_id")), "0123456789abcdef");
	assert_string_equal(json_string_value(json_object_get(j, "default_sample_type")), "cpu");
	json_decref(j);
	free(out);
	unlink(path);
}

static void pprof_go_tool(void **state)
{
	char cmd[512], *out;
	(void)state;

	assert_true(have("go"));
	render(1);
	snprintf(cmd, sizeof(cmd), "go tool pprof -top -symbolize=none %s 2>&1", path);
	out = run(cmd);
	/* flat 700 ms of 1100 ms: 63.64% */
	assert_non_null(strstr(out, "File: t_prog"));
	assert_non_null(strstr(out, "Total samples = 1100ms"));
	assert_non_null(strstr(out, "700ms 63.64% 63.64%      700ms 63.64%  spin"));
	assert_non_null(strstr(out, "300ms 27.27% 90.91%     1000ms 90.91%  work"));
	assert_non_null(strstr(out, "t_prog+0x1234"));
	free(out);
	snprintf(cmd, sizeof(cmd), "go tool pprof -traces -symbolize=none %s 2>&1", path);
	out = run(cmd);
	assert_non_null(strstr(out, "thread id:  100"));
	assert_non_null(strstr(out, "thread name:  worker"));
	assert_non_null(strstr(out, "tmpl<a&b;c>"));
	free(out);
	unlink(path);
}

/* No samples (sampling off): still a valid profile the tools open. */
static void pprof_empty(void **state)
{
	char cmd[512], *out;
	(void)state;

	render(0);
	snprintf(cmd, sizeof(cmd), "python3 tests/e2e/pprofcheck.py %s >/dev/null", path);
	free(run(cmd));
	snprintf(cmd, sizeof(cmd), "go tool pprof -top -symbolize=none %s 2>&1", path);
	out = run(cmd);
	assert_non_null(strstr(out, "Total samples = 0"));
	free(out);
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pprof_decodes),
		cmocka_unit_test(pprof_go_tool),
		cmocka_unit_test(pprof_empty),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
