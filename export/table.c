/* SPDX-License-Identifier: MIT */
/* profile.txt: the cProfile table a Python user already reads. The first two
 * sections follow Lib/pstats.py print_stats and print_callers to the column;
 * the sections after them (bytes, errors, resources, drops) are ours. Reads
 * only the model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../shim/fdtab.h"
#include "../shim/fn.h"
#include "export.h"

/* "%s:%d(%s)" as pstats' func_std_string prints a (file, line, name) key. */
static char *std_string(const char *file, int line, const char *func)
{
	struct shim_sink s;
	shim_sink_init(&s);
	shim_sink_printf(&s, "%s:%d(%s)", file, line, func);
	return s.failed ? NULL : s.buf;
}

static int cmp_cumulative(const void *a, const void *b)
{
	const struct shim_model_call *x = *(const struct shim_model_call *const *)a;
	const struct shim_model_call *y = *(const struct shim_model_call *const *)b;
	if (x->seconds != y->seconds)
		return x->seconds < y->seconds ? 1 : -1;
	if (x->calls != y->calls)
		return x->calls < y->calls ? 1 : -1;
	return strcmp(x->name, y->name);
}

static void f8(struct shim_sink *o, double v)
{
	shim_sink_printf(o, "%8.3f ", v);
}

/* One print_stats row: ncalls tottime percall cumtime percall name. The
 * intercepted call is a leaf: cumtime = tottime, every call primitive. */
static void row(struct shim_sink *o, const struct shim_model_call *c, const char *name)
{
	shim_sink_printf(o, "%9llu ", (unsigned long long)c->calls);
	f8(o, c->seconds);
	/* pstats leaves percall blank (8 spaces) when there were no calls */
	if (c->calls)
		f8(o, c->seconds / (double)c->calls);
	else
		shim_sink_puts(o, "         ");
	f8(o, c->seconds);
	if (c->calls)
		f8(o, c->seconds / (double)c->calls);
	else
		shim_sink_puts(o, "         ");
	shim_sink_printf(o, "%s\n", name);
}

struct caller_ref {
	const struct shim_model_caller *c;
	char *name;
};

static int cmp_caller_name(const void *a, const void *b)
{
	const struct caller_ref *x = a, *y = b;
	int r = strcmp(x->c->where.file, y->c->where.file);
	if (r)
		return r;
	if (x->c->where.line != y->c->where.line)
		return x->c->where.line < y->c->where.line ? -1 : 1;
	return strcmp(x->c->where.func, y->c->where.func);
}

/* print_callers: "name.ljust(width)<-" then one caller a line, pstats' own
 * alignment (the first caller on the same line). */
static int callers(struct shim_sink *o, const struct shim_model_call *c, const char *name,
		   size_t width)
{
	struct caller_ref *refs;
	size_t n = c->ncallers;

	/* print_call_line prints the arrow with end=' ': the space stays even
	 * when no caller follows */
	shim_sink_printf(o, "%-*s<- ", (int)width, name);
	if (!n) {
		shim_sink_puts(o, "\n");
		return 0;
	}
	refs = calloc(n, sizeof(*refs));
	if (!refs)
		return -1;
	for (size_t i = 0; i < n; i++) {
		refs[i].c = &c->callers[i];
		refs[i].name = std_string(c->callers[i].where.file, c->callers[i].where.line,
					  c->callers[i].where.func);
		if (!refs[i].name) {
			for (size_t j = 0; j < i; j++)
				free(refs[j].name);
			free(refs);
			return -1;
		}
	}
	qsort(refs, n, sizeof(*refs), cmp_caller_name);
	for (size_t i = 0; i < n; i++) {
		char calls[32];
		snprintf(calls, sizeof(calls), "%llu", (unsigned long long)refs[i].c->calls);
		/* pstats: the first caller follows "<- " right-justified to 7, the
		 * others are indented width+1 and right-justified to 9 */
		if (i > 0)
			shim_sink_printf(o, "%*s", (int)width + 1, "");
		shim_sink_printf(o, "%*s %8.3f %8.3f  %s\n", i == 0 ? 7 : 9, calls,
				 refs[i].c->seconds, refs[i].c->seconds, refs[i].name);
		free(refs[i].name);
	}
	free(refs);
	return 0;
}

static void io_section(struct shim_sink *o, const struct shim_model *m,
		       const struct shim_model_call *const *rows, size_t n, char *const *names)
{
	shim_sink_puts(o, "   Calls by function (exact)\n\n");
	shim_sink_puts(o, "   family        calls     errors          bytes   seconds "
			  "function\n");
	for (size_t i = 0; i < n; i++) {
		const struct shim_model_call *c = rows[i];
		shim_sink_printf(o, "   %-6s %12llu %10llu %14llu %9.6f %s\n",
				 shim_family_name(c->family), (unsigned long long)c->calls,
				 (unsigned long long)c->errors, (unsigned long long)c->bytes,
				 c->seconds, names[i]);
	}
	(void)m;
	shim_sink_puts(o, "\n");
}

static void errors_section(struct shim_sink *o, const struct shim_model *m)
{
	char e[64];

	if (!m->nerrs)
		return;
	shim_sink_puts(o, "   Errors (exact)\n\n");
	shim_sink_puts(o, "      count  errno            function\n");
	for (size_t i = 0; i < m->nerrs; i++) {
		const char *en = strerrorname_np(m->errs[i].err);
		if (en)
			snprintf(e, sizeof(e), "%s", en);
		else
			snprintf(e, sizeof(e), "%d", m->errs[i].err);
		shim_sink_printf(o, "   %8llu  %-16s %s\n", (unsigned long long)m->errs[i].count, e,
				 shim_fninfo[m->errs[i].fn].name);
	}
	shim_sink_puts(o, "\n");
}

#define TOP_RESOURCES 25

static void resource_section(struct shim_sink *o, const struct shim_model *m, const char *title,
			     unsigned k1, unsigned k2)
{
	size_t shown = 0, total = 0;

	for (size_t i = 0; i < m->nres; i++)
		total += m->res[i].kind == k1 || m->res[i].kind == k2;
	if (!total)
		return;
	shim_sink_printf(o, "   %s (top %d by time, of %zu)\n\n", title, TOP_RESOURCES, total);
	shim_sink_puts(o, "        ops   errors     bytes read  bytes written   seconds kind   "
			  "name\n");
	for (size_t i = 0; i < m->nres && shown < TOP_RESOURCES; i++) {
		const struct shim_model_res *r = &m->res[i];
		if (r->kind != k1 && r->kind != k2)
			continue;
		shim_sink_printf(o, "   %8llu %8llu %14llu %14llu %9.6f %-6s %s\n",
				 (unsigned long long)r->ops, (unsigned long long)r->errors,
				 (unsigned long long)r->rbytes, (unsigned long long)r->wbytes,
				 r->seconds, shim_kind_name(r->kind), r->name);
		shown++;
	}
	shim_sink_puts(o, "\n");
}

int shim_export_table(const struct shim_model *m, struct shim_sink *o)
{
	const struct shim_model_call **rows;
	char **names;
	size_t n = m->ncalls, width = 0;
	uint64_t total = shim_model_total_calls(m);
	int rc = 0;

	rows = calloc(n ? n : 1, sizeof(*rows));
	names = calloc(n ? n : 1, sizeof(*names));
	if (!rows || !names) {
		free(rows);
		free(names);
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		rows[i] = &m->calls[i];
	qsort(rows, n, sizeof(*rows), cmp_cumulative);
	for (size_t i = 0; i < n; i++) {
		names[i] = std_string(rows[i]->module, 0, rows[i]->name);
		if (!names[i]) {
			rc = -1;
			goto out;
		}
		if (strlen(names[i]) > width)
			width = strlen(names[i]);
	}
	width += 2;

	shim_sink_printf(o, "Shimmer profile of %s (pid %d, parent %d), %.3f s wall, %llu "
			    "thread(s)\n\n",
			 m->exe, m->pid, m->ppid, m->wall_seconds, (unsigned long long)m->threads);
	shim_sink_printf(o, "         %llu function calls in %.3f seconds\n\n",
			 (unsigned long long)total, shim_model_total_seconds(m));
	/* pstats prints neither section when there is no row (get_print_list) */
	if (n) {
		int any_callers = 0;
		shim_sink_puts(o, "   Ordered by: cumulative time\n\n");
		shim_sink_puts(o, "   ncalls  tottime  percall  cumtime  percall "
				  "filename:lineno(function)\n");
		for (size_t i = 0; i < n; i++)
			row(o, rows[i], names[i]);
		shim_sink_puts(o, "\n\n");

		shim_sink_puts(o, "   Ordered by: cumulative time\n\n");
		shim_sink_printf(o, "%-*s%s\n", (int)width, "Function ", "was called by...");
		/* print_call_heading: the sub-header only when some entry has callers */
		for (size_t i = 0; i < n; i++)
			any_callers |= rows[i]->ncallers != 0;
		if (any_callers)
			shim_sink_printf(o, "%*s    ncalls  tottime  cumtime\n", (int)width, "");
		for (size_t i = 0; i < n; i++)
			if (callers(o, rows[i], names[i], width) != 0) {
				rc = -1;
				goto out;
			}
		shim_sink_puts(o, "\n\n");
	}

	io_section(o, m, rows, n, names);
	errors_section(o, m);
	resource_section(o, m, "Files", SHIM_KIND_FILE, SHIM_KIND_FILE);
	resource_section(o, m, "Peers", SHIM_KIND_SOCKET, SHIM_KIND_SOCKET);
	resource_section(o, m, "Pipes and other fds", SHIM_KIND_PIPE, SHIM_KIND_OTHER);
	resource_section(o, m, "DNS names", SHIM_KIND_DNS, SHIM_KIND_DNS);
	if (m->dropped.sites || m->dropped.errs || m->dropped.res || m->dropped.threads)
		shim_sink_printf(o, "   Dropped: %llu calls without caller, %llu errors without "
				    "errno, %llu resources past the table, %llu calls of "
				    "untracked threads\n",
				 (unsigned long long)m->dropped.sites,
				 (unsigned long long)m->dropped.errs,
				 (unsigned long long)m->dropped.res,
				 (unsigned long long)m->dropped.threads);
out:
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(rows);
	return rc;
}
