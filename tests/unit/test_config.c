/* SPDX-License-Identifier: MIT */
/* shim/config.c: SHIMMER_HOOKS parsing, and every bad SHIMMER_* value giving
 * disabled=1 with exactly one "shimmer: SHIMMER_X=..." line on fd 2. */
#include "unit.h"

#include <limits.h>

#include "../../shim/config.h"
#include "../../shim/fn.h"
#include "../../shim/log.h"

#define ALL ((1u << SHIM_FAM_COUNT) - 1)
#define FAM(f) (1u << SHIM_FAM_##f)

static const char *const vars[] = {"SHIMMER_LOG", "SHIMMER_DISABLE", "SHIMMER_HOOKS",
				   "SHIMMER_OUT"};

static void clear_env(void)
{
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
		unsetenv(vars[i]);
}

/* ---- shim_config_parse_families ---- */

static void parse_ok(const char *s, unsigned want)
{
	unsigned mask = 0xdead;
	const char *bad = "unset";
	assert_int_equal(shim_config_parse_families(s, &mask, &bad), 0);
	assert_int_equal(mask, want);
	assert_null(bad);
}

static void parse_bad(const char *s, const char *want_bad)
{
	unsigned mask = 0xdead;
	const char *bad = NULL;
	assert_int_equal(shim_config_parse_families(s, &mask, &bad), -1);
	assert_non_null(bad);
	assert_string_equal(bad, want_bad);
	assert_int_equal(mask, 0xdead); /* untouched on failure */
}

static void test_families_good(void **state)
{
	(void)state;
	parse_ok("file", FAM(FILE));
	parse_ok("file,net", FAM(FILE) | FAM(NET));
	parse_ok("net,file,file", FAM(FILE) | FAM(NET));
	parse_ok("alloc,file,stdio,net,dns,proc", ALL);
	parse_ok("all", ALL);
	parse_ok("none", 0);
	parse_ok("none,dns", FAM(DNS));
	parse_ok("all,none", ALL);
	for (unsigned f = 0; f < SHIM_FAM_COUNT; f++)
		parse_ok(shim_family_name(f), 1u << f);
}

static void test_families_bad_names(void **state)
{
	(void)state;
	parse_bad("bogus", "bogus");
	parse_bad("file,bogus,net", "bogus");
	parse_bad("FILE", "FILE"); /* names are lower case, as documented */
	parse_bad("file net", "file net");
	parse_bad("al", "al");
}

static void test_families_empty_items(void **state)
{
	(void)state;
	parse_bad("", "(empty)");
	parse_bad(",file", "(empty)");
	parse_bad("file,,net", "(empty)");
	parse_bad("file,", "(empty)");
	parse_bad(",", "(empty)");
}

static void test_families_long_name(void **state)
{
	unsigned mask = 0;
	const char *bad = NULL;
	const char *s = "file,averyveryveryverylongfamilynamethatisnotreal";
	(void)state;
	assert_int_equal(shim_config_parse_families(s, &mask, &bad), -1);
	assert_non_null(bad);
	assert_true(strncmp(bad, "averyveryvery", 13) == 0);
}

/* ---- shim_config_load ---- */

struct loaded {
	int rc;
	struct unit_capture cap;
};

/* Load the config with exactly the given SHIMMER_* variables set (NULL ends). */
static void load(struct loaded *l, ...)
{
	va_list ap;
	const char *k;

	clear_env();
	va_start(ap, l);
	while ((k = va_arg(ap, const char *)) != NULL)
		assert_int_equal(setenv(k, va_arg(ap, const char *), 1), 0);
	va_end(ap);
	shim_log_reset();
	shim_log_level = SHIM_LOG_ERROR;
	unit_capture_begin(&l->cap);
	l->rc = shim_config_load();
	unit_capture_end(&l->cap);
	clear_env();
}

/* A bad value: -1, disabled, and exactly one stderr line naming it. */
static void expect_bad(struct loaded *l, const char *line_prefix)
{
	assert_int_equal(l->rc, -1);
	assert_int_equal(shim_config.disabled, 1);
	assert_int_equal(unit_count_lines(l->cap.text, "shimmer: "), 1);
	assert_int_equal(unit_count_lines(l->cap.text, ""), 1);
	if (strncmp(l->cap.text, line_prefix, strlen(line_prefix)) != 0)
		fail_msg("stderr %s does not start with %s", l->cap.text, line_prefix);
	assert_non_null(strstr(l->cap.text, "instrumentation is off"));
	assert_int_equal(l->cap.text[l->cap.len - 1], '\n');
}

static void test_load_defaults(void **state)
{
	struct loaded l;
	char cwd[PATH_MAX], want[PATH_MAX + 32];
	(void)state;

	load(&l, NULL);
	assert_int_equal(l.rc, 0);
	assert_int_equal(l.cap.len, 0);
	assert_int_equal(shim_config.disabled, 0);
	assert_int_equal(shim_config.families, ALL);
	assert_int_equal(shim_config.log_level, SHIM_LOG_ERROR);
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(want, sizeof(want), "%s/shimmer-out", cwd);
	assert_string_equal(shim_config.out, want);
}

static void test_load_good_values(void **state)
{
	struct loaded l;
	char cwd[PATH_MAX], want[PATH_MAX + 32];
	(void)state;

	load(&l, "SHIMMER_HOOKS", "file,net", "SHIMMER_LOG", "debug", "SHIMMER_OUT", "/tmp/x/y",
	     "SHIMMER_DISABLE", "0", NULL);
	assert_int_equal(l.rc, 0);
	assert_int_equal(l.cap.len, 0);
	assert_int_equal(shim_config.disabled, 0);
	assert_int_equal(shim_config.families, FAM(FILE) | FAM(NET));
	assert_int_equal(shim_config.log_level, SHIM_LOG_DEBUG);
	assert_int_equal(shim_log_level, SHIM_LOG_DEBUG);
	assert_string_equal(shim_config.out, "/tmp/x/y");

	/* relative: resolved against the start directory once */
	load(&l, "SHIMMER_OUT", "rel/out", "SHIMMER_HOOKS", "none", NULL);
	assert_int_equal(l.rc, 0);
	assert_int_equal(shim_config.families, 0);
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	snprintf(want, sizeof(want), "%s/rel/out", cwd);
	assert_string_equal(shim_config.out, want);

	/* empty SHIMMER_LOG / SHIMMER_DISABLE / SHIMMER_HOOKS mean "not set" */
	load(&l, "SHIMMER_LOG", "", "SHIMMER_DISABLE", "", "SHIMMER_HOOKS", "", NULL);
	assert_int_equal(l.rc, 0);
	assert_int_equal(l.cap.len, 0);
	assert_int_equal(shim_config.disabled, 0);
	assert_int_equal(shim_config.families, ALL);
	assert_int_equal(shim_config.log_level, SHIM_LOG_ERROR);
}

static void test_load_disable(void **state)
{
	struct loaded l;
	(void)state;

	/* the constructor says it; the loader itself is silent */
	load(&l, "SHIMMER_DISABLE", "1", "SHIMMER_HOOKS", "bogus", NULL);
	assert_int_equal(l.rc, 0);
	assert_int_equal(shim_config.disabled, 1);
	assert_int_equal(l.cap.len, 0);
}

static void test_load_bad_hooks(void **state)
{
	struct loaded l;
	(void)state;

	load(&l, "SHIMMER_HOOKS", "bogus", NULL);
	expect_bad(&l, "shimmer: SHIMMER_HOOKS=bogus: unknown family 'bogus'");
	load(&l, "SHIMMER_HOOKS", "file,,net", NULL);
	expect_bad(&l, "shimmer: SHIMMER_HOOKS=file,,net: unknown family '(empty)'");
	load(&l, "SHIMMER_HOOKS", "file,", NULL);
	expect_bad(&l, "shimmer: SHIMMER_HOOKS=file,: ");
}

static void test_load_bad_hooks_long(void **state)
{
	struct loaded l;
	char v[200];
	(void)state;

	/* a name longer than the parser's word buffer: the message quotes at most
	 * 40 bytes of it and must stay inside its own buffer (make asan) */
	memset(v, 'z', sizeof(v) - 1);
	v[sizeof(v) - 1] = '\0';
	load(&l, "SHIMMER_HOOKS", v, NULL);
	expect_bad(&l, "shimmer: SHIMMER_HOOKS=zzzz");
	assert_non_null(strstr(l.cap.text, "(alloc,file,stdio,net,dns,proc,all,none)"));
}

static void test_load_bad_log(void **state)
{
	struct loaded l;
	(void)state;

	load(&l, "SHIMMER_LOG", "loud", NULL);
	expect_bad(&l, "shimmer: SHIMMER_LOG=loud: expected quiet, error, info or debug");
	/* a bad setting speaks even when the log was asked to be quiet */
	load(&l, "SHIMMER_LOG", "quiet", "SHIMMER_DISABLE", "yes", NULL);
	expect_bad(&l, "shimmer: SHIMMER_DISABLE=yes: ");
}

static void test_load_bad_disable(void **state)
{
	struct loaded l;
	(void)state;

	load(&l, "SHIMMER_DISABLE", "2", NULL);
	expect_bad(&l, "shimmer: SHIMMER_DISABLE=2: expected 0 or 1");
}

static void test_load_bad_out(void **state)
{
	struct loaded l;
	char v[PATH_MAX + 10];
	(void)state;

	load(&l, "SHIMMER_OUT", "", NULL);
	expect_bad(&l, "shimmer: SHIMMER_OUT=: empty path");

	v[0] = '/';
	memset(v + 1, 'd', sizeof(v) - 2);
	v[sizeof(v) - 1] = '\0';
	load(&l, "SHIMMER_OUT", v, NULL);
	expect_bad(&l, "shimmer: SHIMMER_OUT=/ddd");
	assert_non_null(strstr(l.cap.text, "path too long"));

	load(&l, "SHIMMER_OUT", v + 1, NULL); /* relative and too long */
	expect_bad(&l, "shimmer: SHIMMER_OUT=ddd");
}

static void test_load_recovers(void **state)
{
	struct loaded l;
	(void)state;

	load(&l, "SHIMMER_LOG", "loud", NULL);
	assert_int_equal(shim_config.disabled, 1);
	load(&l, NULL);
	assert_int_equal(l.rc, 0);
	assert_int_equal(shim_config.disabled, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_families_good),
		cmocka_unit_test(test_families_bad_names),
		cmocka_unit_test(test_families_empty_items),
		cmocka_unit_test(test_families_long_name),
		cmocka_unit_test(test_load_defaults),
		cmocka_unit_test(test_load_good_values),
		cmocka_unit_test(test_load_disable),
		cmocka_unit_test(test_load_bad_hooks),
		cmocka_unit_test(test_load_bad_hooks_long),
		cmocka_unit_test(test_load_bad_log),
		cmocka_unit_test(test_load_bad_disable),
		cmocka_unit_test(test_load_bad_out),
		cmocka_unit_test(test_load_recovers),
	};
	return unit_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
