/* SPDX-License-Identifier: MIT */
/* flamegraph.svg from the hand-built model: well-formed XML (xmllint), one
 * frame per tree node with "name (N samples, P%)" tooltips, widths in
 * proportion to samples, escaped and cleaned names, the zoom/search script. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../export/export.h"
#include "model_fixture.h"

static char *render(int samples, size_t *len)
{
	struct shim_model m;
	struct shim_sink s;

	fixture_build(&m, samples);
	shim_sink_init(&s);
	assert_int_equal(shim_export_flamegraph(&m, &s), 0);
	*len = s.len;
	return s.buf;
}

static void xmllint_ok(const char *svg, size_t len)
{
	struct shim_sink s = {.buf = (char *)svg, .len = len};
	char cmd[512];
	const char *p = fixture_file(&s, ".svg");

	assert_non_null(p);
	assert_true(have("xmllint"));
	snprintf(cmd, sizeof(cmd), "xmllint --noout %s", p ? p : "/nonexistent");
	assert_int_equal(system(cmd), 0);
	unlink(p);
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

static void flamegraph_frames(void **state)
{
	size_t len;
	char *svg = render(1, &len);
	(void)state;

	xmllint_ok(svg, len);
	/* all, main, work, spin, do_writes, write, t_prog+0x1234, memcpy, bad?name,
	 * tmpl: spin under work is one frame for both threads */
	assert_int_equal(count(svg, "<g><title>"), 10);
	assert_non_null(strstr(svg, "<title>all (110 samples, 100.00%)</title>"));
	assert_non_null(strstr(svg, "<title>spin (70 samples, 63.64%)</title>"
				    "<rect x=\"117.27\" y=\"51\" width=\"750.91\""));
	assert_non_null(strstr(svg, "<title>work (100 samples, 90.91%)</title>"));
	assert_non_null(strstr(svg, "<title>tmpl&lt;a&amp;b;c&gt; (2 samples, 1.82%)</title>"));
	assert_non_null(strstr(svg, "<title>bad?name (2 samples, 1.82%)</title>"));
	assert_null(strstr(svg, "\xff"));
	/* siblings in name order: bad?name (x 10) left of do_writes left of work */
	assert_non_null(strstr(svg, "<title>bad?name (2 samples, 1.82%)</title><rect x=\"10.00\""));
	assert_non_null(strstr(svg, "<title>do_writes (5 samples, 4.55%)</title><rect x=\"31.45\""));
	/* a frame too narrow for 3 characters has no label */
	assert_non_null(strstr(svg, "<text x=\"13.00\" y=\"62\"></text>"));
	/* the script: click to zoom, Ctrl-F / Search, matched percent */
	assert_non_null(strstr(svg, "function zoom("));
	assert_non_null(strstr(svg, "function search("));
	assert_non_null(strstr(svg, "Matched: "));
	assert_non_null(strstr(svg, "onclick=\"search_prompt()\">Search</text>"));
	assert_non_null(strstr(svg, "width=\"1200\""));
	free(svg);
}

/* Same module, same colour family: spin and work share the red and blue
 * channels, libc's memcpy has its own. */
static void flamegraph_colours(void **state)
{
	size_t len;
	char *svg = render(1, &len);
	int r1, g1, b1, r2, g2, b2, r3, g3, b3;
	const char *p;
	(void)state;

	p = strstr(strstr(svg, "<title>spin "), "fill=\"");
	assert_int_equal(sscanf(p, "fill=\"rgb(%d,%d,%d)", &r1, &g1, &b1), 3);
	p = strstr(strstr(svg, "<title>work "), "fill=\"");
	assert_int_equal(sscanf(p, "fill=\"rgb(%d,%d,%d)", &r2, &g2, &b2), 3);
	p = strstr(strstr(svg, "<title>memcpy "), "fill=\"");
	assert_int_equal(sscanf(p, "fill=\"rgb(%d,%d,%d)", &r3, &g3, &b3), 3);
	assert_int_equal(r1, r2);
	assert_int_equal(b1, b2);
	assert_true(r1 != r3 || b1 != b3);
	assert_true(r1 >= 200 && r3 >= 200); /* warm */
	free(svg);
}

static void flamegraph_empty(void **state)
{
	size_t len;
	char *svg = render(0, &len);
	(void)state;

	xmllint_ok(svg, len);
	assert_int_equal(count(svg, "<g><title>"), 1);
	assert_non_null(strstr(svg, "no CPU samples: sampling is off"));
	assert_non_null(strstr(svg, "width=\"1180.00\""));
	free(svg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(flamegraph_frames),
		cmocka_unit_test(flamegraph_colours),
		cmocka_unit_test(flamegraph_empty),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
