/* SPDX-License-Identifier: MIT */
/* shim/output.c: the run folder <out>/<exe>.<pid>/, profile.txt created 0600
 * with no temporary left behind, and an unusable SHIMMER_OUT giving exactly
 * one "shimmer: " line however often the flush is tried. */
#include "unit.h"

#include <errno.h>
#include <limits.h>
#include <sys/stat.h>

#include "../../shim/config.h"
#include "../../shim/log.h"
#include "../../shim/output.h"

static char base[] = "/tmp/shimmer-unit-out-XXXXXX";

static int setup(void **state)
{
	(void)state;
	return mkdtemp(base) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];
	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	return system(cmd) == 0 ? 0 : -1;
}

static void use_out(const char *path)
{
	snprintf(shim_config.out, sizeof(shim_config.out), "%s", path);
	shim_output_fork_child(); /* forget the folder chosen before */
	shim_log_reset();
	shim_log_level = SHIM_LOG_ERROR;
}

static void test_flush_writes_profile(void **state)
{
	char out[1024], want[1100], file[1200], *text;
	struct unit_capture c;
	struct stat st;
	(void)state;

	snprintf(out, sizeof(out), "%s/a/b", base); /* made with its parents */
	use_out(out);
	unit_capture_begin(&c);
	assert_int_equal(shim_output_flush(), 0);
	unit_capture_end(&c);
	assert_int_equal(c.len, 0);
	snprintf(want, sizeof(want), "%s/test_output.%d", out, getpid());
	assert_string_equal(shim_output_dir(), want);
	assert_int_equal(stat(want, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	snprintf(file, sizeof(file), "%s/profile.txt", want);
	assert_int_equal(stat(file, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	text = unit_slurp(file, NULL);
	assert_non_null(text);
	assert_true(strncmp(text, "Shimmer profile of test_output (pid ", 36) == 0);
	free(text);

	/* a second flush of the same image replaces the file in the same folder */
	assert_int_equal(shim_output_flush(), 0);
	assert_string_equal(shim_output_dir(), want);

	/* a new image of the same pid (exec) gets <exe>.<pid>.2 */
	shim_output_fork_child();
	assert_int_equal(shim_output_flush(), 0);
	snprintf(file, sizeof(file), "%s.2", want);
	assert_string_equal(shim_output_dir(), file);
	snprintf(file, sizeof(file), "%s.2/profile.txt", want);
	assert_int_equal(stat(file, &st), 0);
	/* no temporary file left in either folder */
	snprintf(file, sizeof(file), "%s/.profile.txt.%d.tmp", want, getpid());
	assert_int_not_equal(stat(file, &st), 0);
}

static void expect_one_line(const char *out, const char *must_contain)
{
	struct unit_capture c;

	use_out(out);
	unit_capture_begin(&c);
	assert_int_equal(shim_output_flush(), -1);
	assert_int_equal(shim_output_flush(), -1); /* no second line */
	unit_capture_end(&c);
	assert_int_equal(unit_count_lines(c.text, "shimmer: "), 1);
	assert_int_equal(unit_count_lines(c.text, ""), 1);
	if (!strstr(c.text, must_contain))
		fail_msg("'%s' lacks '%s'", c.text, must_contain);
	assert_string_equal(shim_output_dir(), "");
}

static void test_unusable_out(void **state)
{
	char file[PATH_MAX], out[PATH_MAX + 8];
	FILE *f;
	(void)state;

	/* a path under a regular file: ENOTDIR even for root */
	snprintf(file, sizeof(file), "%s/plain", base);
	f = fopen(file, "w");
	assert_non_null(f);
	fclose(f);
	snprintf(out, sizeof(out), "%s/x", file);
	expect_one_line(out, "Not a directory");
	expect_one_line(file, "Not a directory");
	expect_one_line("/dev/full", "cannot create an output folder in /dev/full");
	expect_one_line("/proc/self/shimmer", "cannot create an output folder");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flush_writes_profile),
		cmocka_unit_test(test_unusable_out),
	};
	return unit_exit(cmocka_run_group_tests(tests, setup, teardown));
}
