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
#include <zlib.h>

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

/* The gzip member of s inflated with zlib: its length, and the type of its
 * first deflate block (RFC 1951 BTYPE: 0 stored, 1 fixed, 2 dynamic
 * Huffman). zlib writes a 10-byte header (no name, no extra fields). */
static size_t inflated(const struct shim_sink *s, int *btype)
{
	static unsigned char out[1 << 20];
	z_stream z;

	assert_true(s->len > 18);
	assert_memory_equal(s->buf, "\x1f\x8b\x08\x00", 4);
	*btype = ((unsigned char)s->buf[10] >> 1) & 3;
	memset(&z, 0, sizeof(z));
	assert_int_equal(inflateInit2(&z, 16 + 15), Z_OK);
	z.next_in = (unsigned char *)s->buf;
	z.avail_in = (uInt)s->len;
	z.next_out = out;
	z.avail_out = sizeof(out);
	assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
	assert_int_equal(z.avail_in, 0);
	inflateEnd(&z);
	return z.total_out;
}

/* A short process's profile (the fixture: about 1 KiB) is stored, which
 * costs its exit a tenth of deflating it; a large one is compressed. Both
 * are one valid gzip member (the tools above read the stored one). */
static void pprof_small_stored_large_compressed(void **state)
{
	enum { N = 800 };
	static struct shim_model_func funcs[N];
	static struct shim_model_loc locs[N];
	static struct shim_model_stack stacks[N];
	static uint32_t idx[N][2];
	static char names[N][48];
	struct shim_model m;
	struct shim_sink s;
	size_t raw;
	int btype;
	(void)state;

	fixture_build(&m, 1);
	shim_sink_init(&s);
	assert_int_equal(shim_export_pprof(&m, &s), 0);
	raw = inflated(&s, &btype);
	assert_int_equal(btype, 0);
	assert_true(raw < 8192 && s.len > raw);
	shim_sink_free(&s);

	/* the fixture's samples spread over 800 functions and stacks */
	for (uint32_t i = 0; i < N; i++) {
		snprintf(names[i], sizeof(names[i]), "generated_function_number_%04u", i);
		funcs[i] = (struct shim_model_func){.name = names[i], .file = "gen.c",
						    .line = (int)i + 1, .module = "t_prog",
						    .self = 1, .total = 2, .call = -1};
		locs[i] = (struct shim_model_loc){.address = 0x20000 + 0x40 * i, .mapping = 1,
						  .func = i, .line = (int)i + 3};
		idx[i][0] = i;
		idx[i][1] = (i + 1) % N;
		stacks[i] = (struct shim_model_stack){.locs = idx[i], .depth = 2, .tid = 100,
						      .count = 1, .seconds = 0.01};
	}
	m.funcs = funcs;
	m.nfuncs = N;
	m.locs = locs;
	m.nlocs = N;
	m.stacks = stacks;
	m.nstacks = N;
	m.nedges = 0;
	m.samples = N;
	shim_sink_init(&s);
	assert_int_equal(shim_export_pprof(&m, &s), 0);
	raw = inflated(&s, &btype);
	assert_int_not_equal(btype, 0);
	assert_true(raw >= 8192 && s.len * 2 < raw);
	shim_sink_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pprof_decodes),
		cmocka_unit_test(pprof_go_tool),
		cmocka_unit_test(pprof_empty),
		cmocka_unit_test(pprof_small_stored_large_compressed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
