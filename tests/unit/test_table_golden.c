/* SPDX-License-Identifier: MIT */
/* export/table.c (profile.txt): a hand-built model rendered into a memory sink, compared
 * with tests/golden/table.txt (SHIMMER_UPDATE_GOLDEN=1 rewrites it), and its
 * pstats part compared with what CPython's own pstats prints for the same
 * numbers (tests/golden/pstats_ref.py). */
#include "unit.h"

#include <errno.h>

#include "../../export/export.h"
#include "../../shim/fdtab.h"
#include "../../shim/fn.h"

#define FRAME(mod, fn_, ln) {.module = (char *)(mod), .file = (char *)(mod), .line = (ln), .func = (char *)(fn_)}

static struct shim_model_caller write_callers[] = {
	{.where = FRAME("t_demo", "main", 0), .calls = 1, .bytes = 100, .seconds = 0.0001},
	{.where = FRAME("t_demo", "do_writes", 0), .calls = 999, .bytes = 99900, .seconds = 0.0124},
	{.where = FRAME("libfoo.so.1", "foo_flush", 12), .calls = 2000, .bytes = 0, .seconds = 0.25},
};

static struct shim_model_caller open_callers[] = {
	{.where = FRAME("t_demo", "fail_opens", 0), .calls = 17, .errors = 17, .seconds = 0.0017},
	{.where = FRAME("t_demo", "main", 0), .calls = 1, .seconds = 0.0003},
};

static struct shim_model_caller getaddrinfo_callers[] = {
	{.where = FRAME("t_demo", "t_demo+0x1a2b", 0), .calls = 2, .errors = 1, .seconds = 1.5},
};

static struct shim_model_call calls[] = {
	{.fn = SHIM_FN_write, .name = "write", .module = "libc.so.6", .family = SHIM_FAM_FILE,
	 .dir = SHIM_DIR_OUT, .calls = 3000, .bytes = 100000, .seconds = 0.2625,
	 .callers = write_callers, .ncallers = 3},
	{.fn = SHIM_FN_open, .name = "open", .module = "libc.so.6", .family = SHIM_FAM_FILE,
	 .calls = 18, .errors = 17, .seconds = 0.002, .callers = open_callers, .ncallers = 2},
	{.fn = SHIM_FN_read, .name = "read", .module = "libc.so.6", .family = SHIM_FAM_FILE,
	 .dir = SHIM_DIR_IN, .calls = 3, .bytes = 12, .seconds = 0.0004},
	{.fn = SHIM_FN_malloc, .name = "malloc", .module = "libc.so.6", .family = SHIM_FAM_ALLOC,
	 .calls = 5, .bytes = 4096},
	{.fn = SHIM_FN_getaddrinfo, .name = "getaddrinfo", .module = "libc.so.6",
	 .family = SHIM_FAM_DNS, .calls = 2, .errors = 1, .seconds = 1.5,
	 .callers = getaddrinfo_callers, .ncallers = 1},
};

static struct shim_model_err errs[] = {
	{.fn = SHIM_FN_open, .err = ENOENT, .count = 17},
	{.fn = SHIM_FN_read, .err = 4095, .count = 1}, /* no name: printed as a number */
};

static struct shim_model_res res[] = {
	{.id = 3, .kind = SHIM_KIND_DNS, .name = "example.invalid", .ops = 2, .errors = 1,
	 .seconds = 1.5},
	{.id = 1, .kind = SHIM_KIND_FILE, .name = "/tmp/data.bin", .ops = 1001, .wbytes = 100000,
	 .seconds = 0.0125},
	{.id = 2, .kind = SHIM_KIND_SOCKET, .name = "tcp 127.0.0.1:8080", .ops = 4, .rbytes = 12,
	 .wbytes = 64, .seconds = 0.001},
	{.id = 4, .kind = SHIM_KIND_PIPE, .name = "pipe:[1234]", .ops = 3, .rbytes = 3,
	 .seconds = 0.0001},
	{.id = 0, .kind = SHIM_KIND_OTHER, .name = "(other)", .ops = 1, .seconds = 0},
};

static void hand_model(struct shim_model *m)
{
	memset(m, 0, sizeof(*m));
	m->pid = 4242;
	m->ppid = 1;
	strncpy(m->exe, "t_demo", sizeof(m->exe) - 1);
	m->wall_seconds = 2.5;
	m->threads = 2;
	m->calls = calls;
	m->ncalls = sizeof(calls) / sizeof(calls[0]);
	m->errs = errs;
	m->nerrs = sizeof(errs) / sizeof(errs[0]);
	m->res = res;
	m->nres = sizeof(res) / sizeof(res[0]);
	m->dropped.sites = 1;
	m->dropped.res = 2;
}

static char *render(const struct shim_model *m)
{
	struct shim_sink s;

	shim_sink_init(&s);
	assert_int_equal(shim_export_table(m, &s), 0);
	assert_int_equal(s.failed, 0);
	assert_non_null(s.buf);
	return s.buf;
}

static void test_golden(void **state)
{
	struct shim_model m;
	char path[4096], *got, *want;
	(void)state;

	hand_model(&m);
	got = render(&m);
	unit_golden("table.txt", path, sizeof(path));
	if (getenv("SHIMMER_UPDATE_GOLDEN")) {
		FILE *f = fopen(path, "w");
		assert_non_null(f);
		fputs(got, f);
		fclose(f);
	}
	want = unit_slurp(path, NULL);
	if (!want)
		fail_msg("%s missing (run with SHIMMER_UPDATE_GOLDEN=1 to create it)", path);
	if (strcmp(got, want) != 0) {
		fprintf(stderr, "---- got\n%s---- want\n%s----\n", got, want);
		fail_msg("profile.txt differs from %s", path);
	}
	free(got);
	free(want);
}

/* The text between the summary line and our own sections. */
static char *pstats_part(char *text)
{
	char *a = strstr(text, "         "), *b = strstr(text, "   Calls by function");
	assert_non_null(a);
	assert_non_null(b);
	*b = '\0';
	return a;
}

static void test_matches_cpython_pstats(void **state)
{
	struct shim_model m;
	char tmp[] = "/tmp/shimmer-pstats-XXXXXX", cmd[4200], path[4096], *got, *want, *part;
	size_t len = 0, n;
	FILE *f, *p;
	int fd;
	(void)state;

	if (system("python3 -c 'import pstats' >/dev/null 2>&1") != 0)
		skip();
	hand_model(&m);
	fd = mkstemp(tmp);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	for (size_t i = 0; i < m.ncalls; i++) {
		const struct shim_model_call *c = &m.calls[i];
		fprintf(f, "F\t%s\t%s\t%llu\t%.17g\n", c->module, c->name,
			(unsigned long long)c->calls, c->seconds);
		for (size_t j = 0; j < c->ncallers; j++)
			fprintf(f, "C\t%s\t%d\t%s\t%llu\t%.17g\n", c->callers[j].where.file,
				c->callers[j].where.line, c->callers[j].where.func,
				(unsigned long long)c->callers[j].calls, c->callers[j].seconds);
	}
	fclose(f);
	unit_golden("pstats_ref.py", path, sizeof(path));
	snprintf(cmd, sizeof(cmd), "python3 %s < %s", path, tmp);
	p = popen(cmd, "r");
	assert_non_null(p);
	want = malloc(65536);
	assert_non_null(want);
	while ((n = fread(want + len, 1, 65535 - len, p)) > 0)
		len += n;
	want[len] = '\0';
	assert_int_equal(pclose(p), 0);
	unlink(tmp);

	got = render(&m);
	part = pstats_part(got);
	if (strcmp(part, want) != 0) {
		fprintf(stderr, "---- ours\n%s---- pstats\n%s----\n", part, want);
		fail_msg("the pstats sections differ from CPython's pstats output");
	}
	free(got);
	free(want);
}

/* Column rules, checked on the text itself (independent of the golden file). */
static void test_columns(void **state)
{
	struct shim_model m;
	char *text, *line, *save = NULL;
	int rows = 0, in_rows = 0;
	(void)state;

	hand_model(&m);
	text = render(&m);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		if (strncmp(line, "   ncalls  tottime  percall  cumtime  percall "
				  "filename:lineno(function)", 71) == 0) {
			in_rows = 1;
			continue;
		}
		if (!in_rows)
			continue;
		if (strncmp(line, "   Ordered by", 13) == 0)
			break;
		/* ncalls rjust(9), then four "%8.3f" fields each followed by a space */
		assert_true(strlen(line) > 46);
		assert_true(line[8] >= '0' && line[8] <= '9');
		assert_int_equal(line[9], ' ');
		for (int f = 0; f < 4; f++) {
			const char *c = line + 10 + 9 * f;
			assert_int_equal(c[4], '.');
			assert_int_equal(c[8], ' ');
		}
		assert_non_null(strstr(line + 46, "libc.so.6:0("));
		rows++;
	}
	assert_int_equal(rows, (int)m.ncalls);
	free(text);
}

static void test_order_and_totals(void **state)
{
	struct shim_model m;
	char *text;
	(void)state;

	hand_model(&m);
	text = render(&m);
	/* 3000 + 18 + 3 + 5 + 2 calls; 0.2625 + 0.002 + 0.0004 + 1.5 s */
	assert_non_null(strstr(text, "\n         3028 function calls in 1.765 seconds\n\n"));
	/* cumulative time, descending: getaddrinfo, write, open, read, malloc */
	assert_true(strstr(text, "(getaddrinfo)\n") < strstr(text, "(write)\n"));
	assert_true(strstr(text, "(write)\n") < strstr(text, "(open)\n"));
	assert_true(strstr(text, "(open)\n") < strstr(text, "(read)\n"));
	assert_true(strstr(text, "(read)\n") < strstr(text, "(malloc)\n"));
	free(text);
}

static void test_empty_model(void **state)
{
	struct shim_model m;
	char *text;
	(void)state;

	memset(&m, 0, sizeof(m));
	strncpy(m.exe, "true", sizeof(m.exe) - 1);
	text = render(&m);
	assert_string_equal(text, "Shimmer profile of true (pid 0, parent 0), 0.000 s wall, 0 "
				  "thread(s)\n\n"
				  "         0 function calls in 0.000 seconds\n\n"
				  "   Calls by function (exact)\n\n"
				  "   family        calls     errors          bytes   seconds "
				  "function\n\n");
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_matches_cpython_pstats),
		cmocka_unit_test(test_columns),
		cmocka_unit_test(test_order_and_totals),
		cmocka_unit_test(test_empty_model),
	};
	return unit_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
