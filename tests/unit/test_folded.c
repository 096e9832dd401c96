/* SPDX-License-Identifier: MIT */
/* cpu.folded from the hand-built model: the exact text flamegraph.pl and
 * speedscope read (root first, merged across threads, sorted, ';' escaped). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../export/export.h"
#include "model_fixture.h"

static void folded_text(void **state)
{
	struct shim_model m;
	struct shim_sink s;
	(void)state;

	fixture_build(&m, 1);
	shim_sink_init(&s);
	assert_int_equal(shim_export_folded(&m, &s), 0);
	assert_string_equal(s.buf, "main;bad?name;tmpl<a&b:c> 2\n"
				   "main;do_writes;write 5\n"
				   "main;t_prog+0x1234;memcpy 3\n"
				   "main;work 30\n"
				   "main;work;spin 70\n");
	shim_sink_free(&s);
}

static void folded_empty(void **state)
{
	struct shim_model m;
	struct shim_sink s;
	(void)state;

	fixture_build(&m, 0);
	shim_sink_init(&s);
	assert_int_equal(shim_export_folded(&m, &s), 0);
	assert_int_equal(s.len, 0);
	shim_sink_free(&s);
}

/* Every line matches speedscope's importer regex /^(.*) (\d+)$/ and the counts
 * add up to the samples. */
static void folded_counts(void **state)
{
	struct shim_model m;
	struct shim_sink s;
	unsigned long long sum = 0;
	(void)state;

	fixture_build(&m, 1);
	shim_sink_init(&s);
	assert_int_equal(shim_export_folded(&m, &s), 0);
	for (char *line = s.buf; *line;) {
		char *nl = strchr(line, '\n'), *sp;
		assert_non_null(nl);
		*nl = '\0';
		sp = strrchr(line, ' ');
		assert_non_null(sp);
		assert_true(strspn(sp + 1, "0123456789") == strlen(sp + 1));
		sum += strtoull(sp + 1, NULL, 10);
		line = nl + 1;
	}
	assert_int_equal(sum, m.samples);
	shim_sink_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(folded_text),
		cmocka_unit_test(folded_empty),
		cmocka_unit_test(folded_counts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
