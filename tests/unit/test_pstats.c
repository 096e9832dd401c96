/* SPDX-License-Identifier: MIT */
/* profile.pstats from the hand-built model, checked byte by byte where the
 * format is fixed and then loaded by the real consumer, Python's pstats: the
 * exact tuples, callers, TYPE_LONG counts, cleaned names, never empty. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../export/export.h"
#include "model_fixture.h"

/* Runs with the file as argv[1]; exit 0 when every check holds. */
static const char checker[] =
	"import io, marshal, pstats, sys\n"
	"s = pstats.Stats(sys.argv[1])\n"
	"st = s.stats\n"
	"def near(a, b): return abs(a - b) < 1e-9\n"
	"def same(v, w):\n"
	"    assert v[:2] == w[:2], (v, w)\n"
	"    assert near(v[2], w[2]) and near(v[3], w[3]), (v, w)\n"
	"W = ('libc.so.6', 0, 'write')\n"
	"same(st[W], (1000, 1000, 0.05, 0.05))\n"
	"assert list(st[W][4]) == [('t.c', 18, 'do_writes')], st[W][4]\n"
	"same(st[W][4][('t.c', 18, 'do_writes')], (1000, 1000, 0.05, 0.05))\n"
	"O = ('libc.so.6', 0, 'open')\n"
	"same(st[O][4][('t.c', 25, 'fail_opens')], (17, 17, 0.002, 0.002))\n"
	"assert ('t.c', 25, 'fail_opens') not in st\n"
	"same(st[('libc.so.6', 0, 'malloc')], (5000000000, 5000000000, 0, 0))\n"
	"SP = ('t.c', 40, 'spin'); WK = ('t.c', 30, 'work'); MN = ('t.c', 10, 'main')\n"
	"same(st[SP], (0, 0, 0.7, 0.7)); same(st[SP][4][WK], (0, 0, 0.7, 0.7))\n"
	"same(st[WK], (0, 0, 0.3, 1.0)); same(st[WK][4][MN], (0, 0, 0.3, 1.0))\n"
	"same(st[MN], (0, 0, 0, 1.1)); assert st[MN][4] == {}\n"
	"same(st[('t.c', 18, 'do_writes')][4][MN], (0, 0, 0, 0.05))\n"
	"assert ('t_prog', 0, 't_prog+0x1234') in st\n"
	"assert ('t.c', 50, 'tmpl<a&b;c>') in st and ('t.c', 60, 'bad?name') in st\n"
	"assert len(st) == 11, sorted(st)\n"
	"out = io.StringIO()\n"
	"s.stream = out\n"
	"s.sort_stats('cumulative').print_stats()\n"
	"s.print_callers()\n"
	"text = out.getvalue()\n"
	"for name in ('spin', 'work', 'main', 'write', 'fail_opens', 'tmpl<a&b;c>'):\n"
	"    assert '(%s)' % name in text, name\n"
	"assert '5000001017 function calls in 1.102 seconds' in text, text\n";

static void run_checker(const struct shim_sink *s, const char *script)
{
	char cmd[1024], data[256];
	const char *path = fixture_file(s, ".pstats");
	struct shim_sink py;

	assert_non_null(path);
	snprintf(data, sizeof(data), "%s", path);
	assert_true(have("python3"));
	shim_sink_init(&py);
	shim_sink_puts(&py, script);
	path = fixture_file(&py, ".py");
	assert_non_null(path);
	snprintf(cmd, sizeof(cmd), "python3 %.256s %.256s", path, data);
	assert_int_equal(system(cmd), 0);
	snprintf(cmd, sizeof(cmd), "/tmp/shimmer-unit-%d.pstats", (int)getpid());
	unlink(cmd);
	snprintf(cmd, sizeof(cmd), "/tmp/shimmer-unit-%d.py", (int)getpid());
	unlink(cmd);
	shim_sink_free(&py);
}

static void pstats_loads(void **state)
{
	struct shim_model m;
	struct shim_sink s;
	(void)state;

	fixture_build(&m, 1);
	shim_sink_init(&s);
	assert_int_equal(shim_export_pstats(&m, &s), 0);
	/* one dict, NULL-terminated; the first key is a 3-tuple of (u, i, u) */
	assert_int_equal(s.buf[0], '{');
	assert_int_equal(s.buf[s.len - 1], '0');
	assert_memory_equal(s.buf + 1, "(\x03\0\0\0u\x09\0\0\0libc.so.6i\0\0\0\0u\x05\0\0\0write", 28);
	run_checker(&s, checker);
	shim_sink_free(&s);
}

static void pstats_never_empty(void **state)
{
	struct shim_model m;
	struct shim_sink s;
	(void)state;

	memset(&m, 0, sizeof(m));
	shim_sink_init(&s);
	assert_int_equal(shim_export_pstats(&m, &s), 0);
	run_checker(&s, "import pstats, sys\n"
			"st = pstats.Stats(sys.argv[1]).stats\n"
			"assert list(st) == [('~', 0, '<shimmer: no calls and no samples>')], st\n");
	shim_sink_free(&s);
}

/* Sampling off: the intercepted functions alone, still loadable. */
static void pstats_calls_only(void **state)
{
	struct shim_model m;
	struct shim_sink s;
	(void)state;

	fixture_build(&m, 0);
	shim_sink_init(&s);
	assert_int_equal(shim_export_pstats(&m, &s), 0);
	run_checker(&s, "import pstats, sys\n"
			"st = pstats.Stats(sys.argv[1]).stats\n"
			"assert sorted(k[2] for k in st) == ['malloc', 'open', 'write'], st\n"
			"assert st[('libc.so.6', 0, 'write')][4] == "
			"{('t.c', 21, 'do_writes'): (1000, 1000, 0.05, 0.05)}\n");
	shim_sink_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pstats_loads),
		cmocka_unit_test(pstats_never_empty),
		cmocka_unit_test(pstats_calls_only),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
