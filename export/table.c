/* SPDX-License-Identifier: MIT */
/* profile.txt: the cProfile table a Python user already reads. The first two
 * sections follow Lib/pstats.py print_stats and print_callers to the column;
 * the sections after them (bytes, errors, resources, drops) are ours. Reads
 * only the model. */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../shim/fdtab.h"
#include "../shim/config.h"
#include "../shim/fn.h"
#include "../shim/errname.h"
#include "export.h"
#include "view.h"

static const char *const order_names[] = {"cumulative time", "internal time", "call count",
					   "function name"};

/* "%8.3f" into p (at least 32 bytes); returns the end. Integer digits by hand:
 * printf's float path dominated the export of a big profile. */
static char *fmt8(char *p, double v)
{
	unsigned long long c, ip;
	char tmp[32];
	int n = 0;

	if (!(v >= 0) || v >= 1e15) /* negative, NaN or huge: printf's own way */
		return p + snprintf(p, 32, "%8.3f", v);
	c = (unsigned long long)(v * 1000 + 0.5);
	ip = c / 1000;
	tmp[n++] = (char)('0' + c % 10);
	tmp[n++] = (char)('0' + (c / 10) % 10);
	tmp[n++] = (char)('0' + (c / 100) % 10);
	tmp[n++] = '.';
	do
		tmp[n++] = (char)('0' + ip % 10);
	while (ip /= 10);
	while (n < 8)
		tmp[n++] = ' ';
	while (n)
		*p++ = tmp[--n];
	return p;
}

static void f8(struct shim_sink *o, double v)
{
	char b[40], *e = fmt8(b, v);
	*e++ = ' ';
	shim_sink_write(o, b, (size_t)(e - b));
}

/* One print_stats row: ncalls tottime percall cumtime percall name. An
 * intercepted call is exact and primitive; a sampled function's count is not
 * known: "?" and blank per-call columns, as pstats prints a zero count. */
static void row(struct shim_sink *o, const struct shim_view_entry *e, const char *name)
{
	int per = e->known && e->calls;

	if (e->known)
		shim_sink_printf(o, "%9llu ", (unsigned long long)e->calls);
	else
		shim_sink_printf(o, "%9s ", "?");
	f8(o, e->tt);
	if (per)
		f8(o, e->tt / (double)e->calls);
	else
		shim_sink_puts(o, "         ");
	f8(o, e->ct);
	if (per)
		f8(o, e->ct / (double)e->calls);
	else
		shim_sink_puts(o, "         ");
	shim_sink_printf(o, "%s\n", name);
}

static const struct shim_view *sort_view;

static int cmp_caller(const void *a, const void *b)
{
	const struct shim_view_caller *ca = a, *cb = b;
	const struct shim_view_entry *x = &sort_view->e[ca->entry], *y = &sort_view->e[cb->entry];
	int r = strcmp(x->file, y->file);
	if (r)
		return r;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* print_callers: "name.ljust(width)<-" then one caller a line, sorted by key,
 * pstats' own alignment (the first caller on the same line). */
static int callers(struct shim_sink *o, const struct shim_view *v, const struct shim_view_entry *e,
		   char *const *all, const char *name, size_t width)
{
	struct shim_view_caller *list;
	size_t n = e->ncallers;

	shim_sink_printf(o, "%-*s<-", (int)width, name);
	if (!n) {
		shim_sink_puts(o, " \n"); /* print(..., end=' ') then print() */
		return 0;
	}
	list = malloc(n * sizeof(*list));
	if (!list)
		return -1;
	memcpy(list, e->callers, n * sizeof(*list));
	sort_view = v;
	qsort(list, n, sizeof(*list), cmp_caller);
	for (size_t i = 0; i < n; i++) {
		char calls[32];
		const char *cname = all[list[i].entry];
		if (v->e[list[i].entry].known || list[i].calls)
			snprintf(calls, sizeof(calls), "%llu", (unsigned long long)list[i].calls);
		else
			snprintf(calls, sizeof(calls), "?");
		/* pstats: the first caller follows "<- " right-justified to 7, the
		 * others are indented width+1 and right-justified to 9 */
		if (i == 0)
			shim_sink_puts(o, " ");
		else
			shim_sink_printf(o, "%*s", (int)width + 1, "");
		shim_sink_printf(o, "%*s ", i == 0 ? 7 : 9, calls);
		f8(o, list[i].tt);
		f8(o, list[i].ct);
		shim_sink_puts(o, " ");
		shim_sink_puts(o, cname);
		shim_sink_puts(o, "\n");
	}
	free(list);
	return 0;
}

static int cmp_call(const void *a, const void *b)
{
	const struct shim_model_call *x = *(const struct shim_model_call *const *)a;
	const struct shim_model_call *y = *(const struct shim_model_call *const *)b;
	if (x->seconds != y->seconds)
		return x->seconds < y->seconds ? 1 : -1;
	if (x->calls != y->calls)
		return x->calls < y->calls ? 1 : -1;
	return strcmp(x->name, y->name);
}

static int io_section(struct shim_sink *o, const struct shim_model *m)
{
	const struct shim_model_call **rows = calloc(m->ncalls + 1, sizeof(*rows));
	size_t n = m->ncalls;

	if (!rows)
		return -1;
	for (size_t i = 0; i < n; i++)
		rows[i] = &m->calls[i];
	qsort(rows, n, sizeof(*rows), cmp_call);
	shim_sink_puts(o, "   Calls by function (exact)\n\n");
	shim_sink_puts(o, "   family        calls     errors          bytes   seconds "
			  "function\n");
	for (size_t i = 0; i < n; i++) {
		const struct shim_model_call *c = rows[i];
		shim_sink_printf(o, "   %-6s %12llu %10llu %14llu %9.6f %s:0(%s)\n",
				 shim_family_name(c->family), (unsigned long long)c->calls,
				 (unsigned long long)c->errors, (unsigned long long)c->bytes,
				 c->seconds, c->module, c->name);
	}
	shim_sink_puts(o, "\n");
	free(rows);
	return 0;
}


static void errors_section(struct shim_sink *o, const struct shim_model *m)
{
	char e[64];

	if (!m->nerrs)
		return;
	shim_sink_puts(o, "   Errors (exact)\n\n");
	shim_sink_puts(o, "      count  errno            function\n");
	for (size_t i = 0; i < m->nerrs; i++) {
		shim_sink_printf(o, "   %8llu  %-16s %s\n", (unsigned long long)m->errs[i].count,
				 shim_err_name(m->errs[i].err, e, sizeof(e)),
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

#define TOP_INUSE 10 /* stacks listed in the leak report */
#define INUSE_FRAMES 8 /* frames shown per stack */

static const struct shim_model_heap *sort_heap;

static int cmp_inuse(const void *a, const void *b)
{
	const struct shim_model_heap_value *x = &sort_heap->values[*(const size_t *)a];
	const struct shim_model_heap_value *y = &sort_heap->values[*(const size_t *)b];

	if (x->inuse_space != y->inuse_space)
		return x->inuse_space < y->inuse_space ? 1 : -1;
	if (x->inuse_objects != y->inuse_objects)
		return x->inuse_objects < y->inuse_objects ? 1 : -1;
	return (*(const size_t *)a > *(const size_t *)b) - (*(const size_t *)a < *(const size_t *)b);
}

void shim_export_table_heap(const struct shim_model *m, struct shim_sink *o)
{
	const struct shim_model_heap *h = &m->heap;
	size_t *idx, n = 0;

	if (!h->samples)
		return;
	shim_sink_printf(o, "   Heap: %llu bytes in %llu allocations, estimated from %llu samples "
			    "(one every %llu bytes on average), %llu dropped\n\n",
			 (unsigned long long)h->alloc_space, (unsigned long long)h->alloc_objects,
			 (unsigned long long)h->samples, (unsigned long long)h->mean,
			 (unsigned long long)h->dropped);
	shim_sink_printf(o, "   In use at exit (top %d stacks by live bytes, estimated): %llu bytes "
			    "in %llu allocations\n\n",
			 TOP_INUSE, (unsigned long long)h->inuse_space,
			 (unsigned long long)h->inuse_objects);
	idx = calloc(h->nstacks + 1, sizeof(*idx));
	if (!idx) {
		o->failed = 1;
		return;
	}
	for (size_t i = 0; i < h->nstacks; i++)
		if (h->values[i].inuse_space || h->values[i].inuse_objects)
			idx[n++] = i;
	sort_heap = h;
	qsort(idx, n, sizeof(*idx), cmp_inuse);
	shim_sink_puts(o, "          bytes    objects  allocated at (innermost first)\n");
	for (size_t k = 0; k < n && k < TOP_INUSE; k++) {
		const struct shim_model_stack *s = &h->stacks[idx[k]];
		const struct shim_model_heap_value *v = &h->values[idx[k]];
		shim_sink_printf(o, "   %12llu %10llu  ", (unsigned long long)v->inuse_space,
				 (unsigned long long)v->inuse_objects);
		for (uint32_t d = 0; d < s->depth && d < INUSE_FRAMES; d++) {
			const struct shim_model_loc *l = &h->locs[s->locs[d]];
			const struct shim_model_func *f = &h->funcs[l->func];
			char *c = shim_view_clean(f->name, 0);
			if (!c) {
				o->failed = 1;
				break;
			}
			shim_sink_printf(o, "%s%s", d ? " <- " : "", c);
			if (l->line > 0)
				shim_sink_printf(o, " (%s:%d)", f->file ? f->file : "?", l->line);
			free(c);
		}
		if (s->depth > INUSE_FRAMES)
			shim_sink_puts(o, " <- ...");
		shim_sink_puts(o, "\n");
	}
	shim_sink_puts(o, "\n");
	free(idx);
}

static void samples_line(struct shim_sink *o, const struct shim_model *m)
{
	if (!m->hz && !m->samples)
		return;
	shim_sink_printf(o, "   CPU samples: %llu (%s time), effective period %.3f ms (%.0f Hz, %d "
			    "requested), %llu dropped; a sampled function's ncalls is not known "
			    "(\"?\")\n\n",
			 (unsigned long long)m->samples, m->clock_wall ? "wall" : "CPU",
			 m->period_ns / 1e6, m->period_ns > 0 ? 1e9 / m->period_ns : 0.0, m->hz,
			 (unsigned long long)m->samples_dropped);
}

int shim_export_table_sorted(const struct shim_model *m, struct shim_sink *o, int sort)
{
	struct shim_view v;
	size_t *order, n = 0, width = 0;
	char **names = NULL;
	int rc = -1;

	if (sort < 0 || sort > SHIM_VIEW_NAME)
		sort = SHIM_VIEW_CUMULATIVE;
	if (shim_view_build(m, &v) != 0)
		return -1;
	order = shim_view_order(&v, sort, &n);
	if (!order)
		goto out;
	/* every entry's "file:line(name)" once: rows and callers both print them */
	names = calloc(v.n + 1, sizeof(*names));
	if (!names)
		goto out;
	for (size_t i = 0; i < v.n; i++) {
		names[i] = shim_view_std_string(&v.e[i]);
		if (!names[i])
			goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (strlen(names[order[i]]) > width)
			width = strlen(names[order[i]]);
	width += 2;

	shim_sink_printf(o, "Shimmer profile of %s (pid %d, parent %d), %.3f s wall, %llu "
			    "thread(s)\n\n",
			 m->exe, m->pid, m->ppid, m->wall_seconds, (unsigned long long)m->threads);
	samples_line(o, m);
	shim_sink_printf(o, "         %llu function calls in %.3f seconds\n\n",
			 (unsigned long long)v.total_calls, v.total_tt);
	/* pstats prints neither section when there is no row (get_print_list) */
	if (n) {
		shim_sink_printf(o, "   Ordered by: %s\n\n", order_names[sort]);
		shim_sink_puts(o, "   ncalls  tottime  percall  cumtime  percall "
				  "filename:lineno(function)\n");
		for (size_t i = 0; i < n; i++)
			row(o, &v.e[order[i]], names[order[i]]);
		shim_sink_puts(o, "\n\n");

		shim_sink_printf(o, "   Ordered by: %s\n\n", order_names[sort]);
		shim_sink_printf(o, "%-*s%s\n", (int)width, "Function ", "was called by...");
		shim_sink_printf(o, "%*s    ncalls  tottime  cumtime\n", (int)width, "");
		for (size_t i = 0; i < n; i++)
			if (callers(o, &v, &v.e[order[i]], names, names[order[i]], width) != 0)
				goto out;
		shim_sink_puts(o, "\n\n");
	}

	if (io_section(o, m) != 0)
		goto out;
	errors_section(o, m);
	resource_section(o, m, "Files", SHIM_KIND_FILE, SHIM_KIND_FILE);
	resource_section(o, m, "Peers", SHIM_KIND_SOCKET, SHIM_KIND_SOCKET);
	resource_section(o, m, "Pipes and other fds", SHIM_KIND_PIPE, SHIM_KIND_OTHER);
	resource_section(o, m, "DNS names", SHIM_KIND_DNS, SHIM_KIND_DNS);
	shim_export_table_heap(m, o);
	if (m->dropped.sites || m->dropped.errs || m->dropped.res || m->dropped.threads)
		shim_sink_printf(o, "   Dropped: %llu calls without caller, %llu errors without "
				    "errno, %llu resources past the table, %llu calls of "
				    "untracked threads\n",
				 (unsigned long long)m->dropped.sites,
				 (unsigned long long)m->dropped.errs,
				 (unsigned long long)m->dropped.res,
				 (unsigned long long)m->dropped.threads);
	rc = o->failed ? -1 : 0;
out:
	for (size_t i = 0; names && i < v.n; i++)
		free(names[i]);
	free(names);
	free(order);
	shim_view_free(&v);
	return rc;
}

int shim_export_table(const struct shim_model *m, struct shim_sink *o)
{
	return shim_export_table_sorted(m, o, shim_config.sort);
}
