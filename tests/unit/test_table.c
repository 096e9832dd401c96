/* SPDX-License-Identifier: MIT */
/* profile.txt from the hand-built model: pstats.print_stats columns to the
 * character, exact counts for intercepted functions, "?" (never a number) for
 * sampled ones, the four sort orders, the callers section. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../export/export.h"
#include "../../export/view.h"
#include "model_fixture.h"

static char *render(int samples, int sort)
{
	struct shim_model m;
	struct shim_sink s;

	fixture_build(&m, samples);
	shim_sink_init(&s);
	assert_int_equal(shim_export_table_sorted(&m, &s, sort), 0);
	return s.buf;
}

/* The first row after the header. */
static void first_row(const char *text, const char *want)
{
	const char *p = strstr(text, "filename:lineno(function)\n");
	assert_non_null(p);
	p += strlen("filename:lineno(function)\n");
	assert_memory_equal(p, want, strlen(want));
}

static void table_rows(void **state)
{
	char *t = render(1, SHIM_VIEW_CUMULATIVE);
	(void)state;

	assert_non_null(strstr(t, "         5000001017 function calls in 1.102 seconds\n"));
	assert_non_null(strstr(t, "   Ordered by: cumulative time\n"));
	first_row(t, "        ?    0.000             1.100          t.c:10(main)\n"
		     "        ?    0.300             1.000          t.c:30(work)\n"
		     "        ?    0.700             0.700          t.c:40(spin)\n"
		     "     1000    0.050    0.000    0.050    0.000 libc.so.6:0(write)\n");
	assert_non_null(strstr(t, "5000000000    0.000    0.000    0.000    0.000 libc.so.6:0(malloc)\n"));
	assert_non_null(strstr(t, "        ?    0.000             0.020          t.c:60(bad?name)\n"));
	/* callers: exact for libc, "?" for sampled edges, pstats alignment */
	assert_non_null(strstr(t, "libc.so.6:0(write)       <-    1000    0.050    0.050  "
				  "t.c:18(do_writes)\n"));
	assert_non_null(strstr(t, "t.c:30(work)             <-       ?    0.300    1.000  "
				  "t.c:10(main)\n"));
	assert_non_null(strstr(t, "libc.so.6:0(open)        <-      17    0.002    0.002  "
				  "t.c:25(fail_opens)\n"));
	assert_non_null(strstr(t, "t.c:10(main)             <- \n"));
	assert_non_null(strstr(t, "CPU samples: 110 (CPU time), effective period 10.000 ms"));
	/* the exact sections that follow */
	assert_non_null(strstr(t, "   file           1000          0         100000  0.050000 "
				  "libc.so.6:0(write)\n"));
	free(t);
}

static void table_sorts(void **state)
{
	char *t;
	(void)state;

	t = render(1, SHIM_VIEW_TOTTIME);
	assert_non_null(strstr(t, "   Ordered by: internal time\n"));
	first_row(t, "        ?    0.700             0.700          t.c:40(spin)\n"
		     "        ?    0.300             1.000          t.c:30(work)\n"
		     "     1000    0.050    0.000    0.050    0.000 libc.so.6:0(write)\n");
	free(t);
	t = render(1, SHIM_VIEW_NCALLS);
	assert_non_null(strstr(t, "   Ordered by: call count\n"));
	first_row(t, "5000000000    0.000    0.000    0.000    0.000 libc.so.6:0(malloc)\n"
		     "     1000    0.050    0.000    0.050    0.000 libc.so.6:0(write)\n"
		     "       17    0.002    0.000    0.002    0.000 libc.so.6:0(open)\n"
		     "        ?    0.000             1.100          t.c:10(main)\n");
	free(t);
	t = render(1, SHIM_VIEW_NAME);
	assert_non_null(strstr(t, "   Ordered by: function name\n"));
	first_row(t, "        ?    0.000             0.020          t.c:60(bad?name)\n"
		     "        ?    0.000             0.050          t.c:18(do_writes)\n"
		     "        ?    0.000             1.100          t.c:10(main)\n"
		     "5000000000    0.000    0.000    0.000    0.000 libc.so.6:0(malloc)\n");
	free(t);
}

/* Sampling off: the table of the core, no samples line, no "?" rows. */
static void table_calls_only(void **state)
{
	char *t = render(0, SHIM_VIEW_CUMULATIVE);
	(void)state;

	assert_null(strstr(t, "CPU samples"));
	assert_null(strstr(t, "        ? "));
	first_row(t, "     1000    0.050    0.000    0.050    0.000 libc.so.6:0(write)\n");
	assert_non_null(strstr(t, "libc.so.6:0(write)   <-    1000    0.050    0.050  "
				  "t.c:21(do_writes)\n"));
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(table_rows),
		cmocka_unit_test(table_sorts),
		cmocka_unit_test(table_calls_only),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
