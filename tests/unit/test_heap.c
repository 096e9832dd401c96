/* SPDX-License-Identifier: MIT */
/* The heap sampler's weight (Go's scaleHeapSample) and the heap writers on a
 * hand-built heap model: heap.folded's exact text, heap.pb.gz decoded by
 * tests/e2e/pprofcheck.py, heap-flamegraph.svg and the leak report in
 * profile.txt (ordered by live bytes). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "../../export/export.h"
#include "../../shim/heap.h"
#include "model_fixture.h"

static void weight(void **state)
{
	(void)state;
	/* every allocation sampled: each stands for itself */
	assert_true(shim_heap_weight(100, 1) == 1.0);
	assert_true(shim_heap_weight(0, 524288) == 1.0);
	/* a block of the mean's size: 1 / (1 - 1/e) */
	assert_true(fabs(shim_heap_weight(524288, 524288) - 1.0 / (1.0 - exp(-1.0))) < 1e-12);
	/* small blocks: about mean / size + 1/2 */
	assert_true(fabs(shim_heap_weight(16, 524288) - (524288.0 / 16 + 0.5)) < 1e-3);
	/* huge blocks are always sampled */
	assert_true(fabs(shim_heap_weight(1ull << 40, 524288) - 1.0) < 1e-12);
}

/* 1 - e^-t without libm against libm's -expm1(-t): 200k points spread evenly
 * in log t from 1e-18 to 60 (both branches, the seam at 1/2, the cut at 40),
 * within 4 ulps everywhere; 0 at and below 0. */
static void one_minus_exp_neg(void **state)
{
	double worst = 0;
	uint64_t x = 88172645463325252ull;

	(void)state;
	assert_true(shim_heap_one_minus_exp_neg(0) == 0);
	assert_true(shim_heap_one_minus_exp_neg(-1) == 0);
	assert_true(shim_heap_one_minus_exp_neg(1e300) == 1);
	for (int i = 0; i < 200000; i++) {
		double t, want, got, rel;
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		t = exp(log(1e-18) + (double)(x >> 11) / 9007199254740992.0 * (log(60) - log(1e-18)));
		if (i < 14) /* the edges of each branch (the series is cut shorter below
			     * 2^-3, 2^-6 and 2^-10) */
			t = (double[]){0.5, nextafter(0.5, 0), 40, nextafter(40, 41), 1e-300, 0.25, 1,
				       2, 0x1p-10, nextafter(0x1p-10, 0), 0x1p-6, nextafter(0x1p-6, 0),
				       0x1p-3, nextafter(0x1p-3, 0)}[i];
		want = -expm1(-t);
		got = shim_heap_one_minus_exp_neg(t);
		rel = fabs(got - want) / want;
		if (rel > worst)
			worst = rel;
	}
	assert_true(worst < 4 * 2.220446049250313e-16);
}

/* The sampler's intervals: Exp(1) by von Neumann's method. 200k draws: the
 * mean, the variance and the tail P(X > t) = e^-t match within a few
 * standard errors, so a biased draw (uniform, or a wrong run rule) fails. */
static void exp1_draws(void **state)
{
	enum { N = 200000 };
	double sum = 0, sq = 0;
	unsigned over1 = 0, over3 = 0, under01 = 0;

	(void)state;
	for (int i = 0; i < N; i++) {
		double x = shim_heap_exp1();
		assert_true(x >= 0);
		sum += x;
		sq += x * x;
		over1 += x > 1;
		over3 += x > 3;
		under01 += x < 0.1;
	}
	/* mean 1 (se 1/sqrt(N) = 0.0022), variance 1 (se about 0.0063) */
	assert_true(fabs(sum / N - 1.0) < 0.012);
	assert_true(fabs(sq / N - (sum / N) * (sum / N) - 1.0) < 0.04);
	/* tails: e^-1 = 0.3679, e^-3 = 0.0498, 1 - e^-0.1 = 0.0952 */
	assert_true(fabs((double)over1 / N - exp(-1.0)) < 0.006);
	assert_true(fabs((double)over3 / N - exp(-3.0)) < 0.003);
	assert_true(fabs((double)under01 / N - (1 - exp(-0.1))) < 0.004);
}

/* Heap stacks over the fixture's functions: main -> work (leaks), main ->
 * do_writes (allocates and frees), main -> spin (leaks less). */
static uint32_t hx_s0[] = {F_WORK, F_MAIN};
static uint32_t hx_s1[] = {F_DOWR, F_MAIN};
static uint32_t hx_s2[] = {F_SPIN, F_MAIN};
static struct shim_model_stack hx_stacks[3];
static struct shim_model_heap_value hx_values[3] = {
	{.samples = 10, .alloc_objects = 100, .alloc_space = 4096000, .inuse_objects = 100,
	 .inuse_space = 4096000},
	{.samples = 50, .alloc_objects = 50000, .alloc_space = 9000000},
	{.samples = 2, .alloc_objects = 20, .alloc_space = 2000, .inuse_objects = 5,
	 .inuse_space = 500},
};

static void heap_build(struct shim_model *m)
{
	fixture_build(m, 1);
	hx_stacks[0] = (struct shim_model_stack){.locs = hx_s0, .depth = 2};
	hx_stacks[1] = (struct shim_model_stack){.locs = hx_s1, .depth = 2};
	hx_stacks[2] = (struct shim_model_stack){.locs = hx_s2, .depth = 2};
	for (int i = 0; i < 3; i++)
		hx_stacks[i].count = hx_values[i].alloc_space;
	m->heap.mean = 524288;
	m->heap.samples = 62;
	m->heap.alloc_objects = 50120;
	m->heap.alloc_space = 13098000;
	m->heap.inuse_objects = 105;
	m->heap.inuse_space = 4096500;
	m->heap.mappings = m->mappings;
	m->heap.nmappings = m->nmappings;
	m->heap.funcs = m->funcs;
	m->heap.nfuncs = m->nfuncs;
	m->heap.locs = m->locs;
	m->heap.nlocs = m->nlocs;
	m->heap.stacks = hx_stacks;
	m->heap.values = hx_values;
	m->heap.nstacks = 3;
}

static void folded_heap(void **state)
{
	struct shim_model m;
	struct shim_sink s;
	(void)state;

	heap_build(&m);
	shim_sink_init(&s);
	assert_int_equal(shim_export_folded_heap(&m, &s), 0);
	assert_string_equal(s.buf, "main;do_writes 9000000\n"
				   "main;spin 2000\n"
				   "main;work 4096000\n");
	shim_sink_free(&s);
}

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

static void pprof_heap(void **state)
{
	struct shim_model m;
	struct shim_sink s;
	char cmd[512], *out;
	json_t *j, *st;
	(void)state;

	heap_build(&m);
	shim_sink_init(&s);
	assert_int_equal(shim_export_pprof_heap(&m, &s), 0);
	snprintf(cmd, sizeof(cmd), "python3 tests/e2e/pprofcheck.py %s",
		 fixture_file(&s, ".pb.gz"));
	shim_sink_free(&s);
	out = run(cmd);
	j = json_loads(out, 0, NULL);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "default_sample_type")),
			    "inuse_space");
	st = json_object_get(j, "sample_type");
	assert_int_equal(json_array_size(st), 4);
	assert_string_equal(json_string_value(json_array_get(json_array_get(st, 3), 0)),
			    "inuse_space");
	assert_string_equal(json_string_value(json_array_get(json_array_get(st, 1), 1)),
			    "bytes");
	assert_int_equal(json_integer_value(json_object_get(j, "period")), 524288);
	/* pprofcheck sums the first value: alloc_objects by leaf */
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "flat"), "do_writes")),
			 50000);
	assert_int_equal(json_integer_value(json_object_get(j, "total")), 50120);
	json_decref(j);
	free(out);
}

static void flamegraph_heap(void **state)
{
	struct shim_model m;
	struct shim_sink s;
	(void)state;

	heap_build(&m);
	shim_sink_init(&s);
	assert_int_equal(shim_export_flamegraph_heap(&m, &s), 0);
	shim_sink_write(&s, "", 1);
	assert_non_null(strstr(s.buf, "Heap flame graph (bytes allocated): t_prog (pid 4242)"));
	assert_non_null(strstr(s.buf, "<title>work (4096000 bytes, 31.27%)</title>"));
	assert_non_null(strstr(s.buf, "<title>all (13098000 bytes, 100.00%)</title>"));
	shim_sink_free(&s);
}

static void table_inuse(void **state)
{
	struct shim_model m;
	struct shim_sink s;
	char *a, *b;
	(void)state;

	heap_build(&m);
	shim_sink_init(&s);
	shim_export_table_heap(&m, &s);
	shim_sink_write(&s, "", 1);
	assert_non_null(strstr(s.buf, "In use at exit (top 10 stacks by live bytes, estimated): "
				      "4096500 bytes in 105 allocations"));
	a = strstr(s.buf, "      4096000        100  work (t.c:32) <- main (t.c:12)\n");
	b = strstr(s.buf, "          500          5  spin (t.c:42) <- main (t.c:12)\n");
	assert_non_null(a);
	assert_non_null(b);
	assert_true(a < b);
	/* freed everything: not in the leak report */
	assert_null(strstr(strstr(s.buf, "In use at exit"), "do_writes"));
	shim_sink_free(&s);

	/* no heap samples: no section */
	fixture_build(&m, 1);
	shim_sink_init(&s);
	shim_export_table_heap(&m, &s);
	assert_int_equal(s.len, 0);
	shim_sink_free(&s);
}

/* The boot arena's blocks: every 512-byte granule a marked block covers has
 * its filter bucket saturated, so free and realloc send it to their full
 * path; a bucket outside it is left alone. */
static void filter_mark(void **state)
{
	static _Alignas(4096) unsigned char region[8192];
	unsigned char *p = region + 300; /* straddles granules at both ends */
	size_t n = 1500;

	(void)state;
	assert_int_equal(shim_heap_filter[shim_heap_bucket(region + 4096)], 0);
	shim_heap_filter_mark(p, n);
	for (size_t off = 0; off < n; off += 64)
		assert_int_equal(shim_heap_filter[shim_heap_bucket(p + off)], 255);
	assert_int_equal(shim_heap_filter[shim_heap_bucket(p + n - 1)], 255);
	assert_int_equal(shim_heap_filter[shim_heap_bucket(region + 4096)], 0);
	/* a saturated bucket stays so: nothing a free does takes it back */
	assert_int_equal(shim_heap_forget(p), 0);
	assert_int_equal(shim_heap_filter[shim_heap_bucket(p)], 255);
}

/* The filter's bucket of an address: each 32 MiB window of heap fills every
 * bucket exactly once; each 64 KiB of it stays on two lines of the filter;
 * and the same offsets in glibc's thread arenas (64 MiB apart) land on
 * buckets 1024 apart, not on the same ones. */
static void filter_buckets(void **state)
{
	static unsigned char seen[SHIM_HEAP_FILTER];
	const uintptr_t base = (uintptr_t)0x7f3a00000000ull; /* 64 MiB aligned */

	(void)state;
	memset(seen, 0, sizeof(seen));
	for (uintptr_t g = 0; g < SHIM_HEAP_FILTER; g++)
		seen[shim_heap_bucket((const void *)(base + 0x2000000 + (g << 9)))]++;
	for (size_t b = 0; b < SHIM_HEAP_FILTER; b++)
		assert_int_equal(seen[b], 1);
	for (uintptr_t chunk = 0; chunk < 64; chunk++) {
		uintptr_t at = base + (chunk << 16);
		uint32_t lo = UINT32_MAX, hi = 0;
		for (uintptr_t off = 0; off < 65536; off += 512) {
			uint32_t b = shim_heap_bucket((const void *)(at + off));
			lo = b < lo ? b : lo;
			hi = b > hi ? b : hi;
		}
		assert_true(hi / 64 - lo / 64 <= 1);
	}
	for (uintptr_t k = 1; k < 64; k++)
		for (uintptr_t off = 0; off < 512 * 1024; off += 4096) {
			uint32_t a = shim_heap_bucket((const void *)(base + off));
			uint32_t b = shim_heap_bucket((const void *)(base + (k << 26) + off));
			assert_int_equal(a ^ b, (uint32_t)(k << 10) & (SHIM_HEAP_FILTER - 1));
		}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(weight),
		cmocka_unit_test(one_minus_exp_neg),
		cmocka_unit_test(exp1_draws),
		cmocka_unit_test(folded_heap),
		cmocka_unit_test(pprof_heap),
		cmocka_unit_test(flamegraph_heap),
		cmocka_unit_test(table_inuse),
		cmocka_unit_test(filter_mark),
		cmocka_unit_test(filter_buckets),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
