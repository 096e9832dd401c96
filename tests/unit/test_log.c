/* SPDX-License-Identifier: MIT */
/* shim/log.c: one "shimmer: " line per message on fd 2, levels, errno left
 * alone, long messages cut to one line, and the per-process line budget. */
#include "unit.h"

#include <errno.h>

#include "../../shim/log.h"

static void test_format_and_levels(void **state)
{
	struct unit_capture c;
	(void)state;

	shim_log_reset();
	shim_log_level = SHIM_LOG_INFO;
	unit_capture_begin(&c);
	shim_err("cannot %s: %d", "write", 28);
	shim_info("info %s", "shown");
	shim_debug("debug %s", "hidden");
	shim_log(SHIM_LOG_QUIET, "never"); /* quiet is a level, not a message kind */
	unit_capture_end(&c);
	assert_string_equal(c.text, "shimmer: cannot write: 28\nshimmer: info shown\n");

	shim_log_level = SHIM_LOG_QUIET;
	unit_capture_begin(&c);
	shim_err("silenced");
	unit_capture_end(&c);
	assert_int_equal(c.len, 0);
	shim_log_level = SHIM_LOG_ERROR;
}

static void test_errno_kept(void **state)
{
	struct unit_capture c;
	(void)state;

	shim_log_reset();
	unit_capture_begin(&c);
	errno = 1234;
	shim_err("x");
	assert_int_equal(errno, 1234);
	shim_debug("not printed");
	assert_int_equal(errno, 1234);
	unit_capture_end(&c);
}

static void test_long_line(void **state)
{
	struct unit_capture c;
	char big[2000];
	(void)state;

	memset(big, 'L', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	shim_log_reset();
	unit_capture_begin(&c);
	shim_err("%s", big);
	unit_capture_end(&c);
	assert_int_equal(unit_count_lines(c.text, "shimmer: LLL"), 1);
	assert_int_equal(c.text[c.len - 1], '\n');
	assert_true(c.len <= 512);
	assert_null(memchr(c.text, '\0', c.len));
}

static void test_budget(void **state)
{
	struct unit_capture c;
	(void)state;

	shim_log_reset();
	unit_capture_begin(&c);
	for (int i = 0; i < 200; i++)
		shim_err("line %d", i);
	unit_capture_end(&c);
	assert_int_equal(unit_count_lines(c.text, "shimmer: line "), 64);
	assert_int_equal(unit_count_lines(c.text, "shimmer: further messages suppressed"), 1);
	assert_int_equal(unit_count_lines(c.text, ""), 65);
	assert_non_null(strstr(c.text, "shimmer: line 63\n"));
	assert_null(strstr(c.text, "shimmer: line 64\n"));

	/* after a fork the child speaks for itself */
	shim_log_reset();
	unit_capture_begin(&c);
	shim_err("again");
	unit_capture_end(&c);
	assert_string_equal(c.text, "shimmer: again\n");
}

static void test_control_bytes(void **state)
{
	struct unit_capture c;
	(void)state;

	shim_log_reset();
	unit_capture_begin(&c);
	shim_err("SHIMMER_OUT=%s: bad", "a\nshimmer: fake\tline\x1b[31m");
	unit_capture_end(&c);
	assert_string_equal(c.text, "shimmer: SHIMMER_OUT=a?shimmer: fake?line?[31m: bad\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_and_levels),
		cmocka_unit_test(test_errno_kept),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_budget),
		cmocka_unit_test(test_control_bytes),
	};
	return unit_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
