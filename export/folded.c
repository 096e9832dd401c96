/* SPDX-License-Identifier: MIT */
/* cpu.folded and heap.folded: Brendan Gregg's collapsed stacks, "root;...;leaf
 * count", one line per distinct stack, integer counts (CPU samples; estimated
 * bytes allocated), sorted, for flamegraph.pl, inferno and speedscope. All
 * threads are merged (no thread frame: the same code on two threads is one
 * tower). A ';' in a name becomes ':'. Reads only the model. */
#include <stdlib.h>
#include <string.h>

#include "export.h"
#include "view.h"

/* The stacks one file draws and the tables they index: the CPU part's or
 * the heap part's. */
struct src {
	const struct shim_model_func *funcs;
	size_t nfuncs;
	const struct shim_model_loc *locs;
	const struct shim_model_stack *stacks;
	size_t nstacks;
};

struct line {
	char *text;
	uint64_t count;
};

static int cmp_line(const void *a, const void *b)
{
	return strcmp(((const struct line *)a)->text, ((const struct line *)b)->text);
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
}

/* Cleaned names of every function (folded-safe), or NULL out of memory. */
static char **func_names(const struct src *m)
{
	char **names = calloc(m->nfuncs + 1, sizeof(*names));

	if (!names)
		return NULL;
	for (size_t i = 0; i < m->nfuncs; i++) {
		names[i] = shim_view_clean(m->funcs[i].name, 1);
		if (!names[i]) {
			free_names(names, i);
			return NULL;
		}
	}
	return names;
}

/* One stack, root first. */
static char *fold(const struct src *m, char *const *names, const struct shim_model_stack *s)
{
	struct shim_sink b;

	shim_sink_init(&b);
	for (uint32_t d = s->depth; d-- > 0;) {
		uint32_t f = m->locs[s->locs[d]].func;
		shim_sink_puts(&b, f < m->nfuncs ? names[f] : "?");
		if (d)
			shim_sink_puts(&b, ";");
	}
	if (b.failed || !b.buf) {
		shim_sink_free(&b);
		return NULL;
	}
	return b.buf;
}

static int render(const struct src *m, struct shim_sink *o)
{
	char **names = func_names(m);
	struct line *lines = calloc(m->nstacks + 1, sizeof(*lines));
	size_t n = 0;
	int rc = -1;

	if (!names || !lines)
		goto out;
	for (size_t i = 0; i < m->nstacks; i++) {
		const struct shim_model_stack *s = &m->stacks[i];
		if (!s->count || !s->depth)
			continue;
		lines[n].text = fold(m, names, s);
		if (!lines[n].text)
			goto out;
		lines[n++].count = s->count;
	}
	qsort(lines, n, sizeof(*lines), cmp_line);
	for (size_t i = 0; i < n;) {
		uint64_t count = lines[i].count;
		size_t j = i + 1;
		/* the same names from different addresses or threads: one line */
		while (j < n && !strcmp(lines[j].text, lines[i].text))
			count += lines[j++].count;
		shim_sink_printf(o, "%s %llu\n", lines[i].text, (unsigned long long)count);
		i = j;
	}
	rc = o->failed ? -1 : 0;
out:
	for (size_t i = 0; lines && i < n; i++)
		free(lines[i].text);
	free(lines);
	if (names)
		free_names(names, m->nfuncs);
	return rc;
}

int shim_export_folded(const struct shim_model *m, struct shim_sink *o)
{
	struct src s = {m->funcs, m->nfuncs, m->locs, m->stacks, m->nstacks};

	return render(&s, o);
}

int shim_export_folded_heap(const struct shim_model *m, struct shim_sink *o)
{
	const struct shim_model_heap *h = &m->heap;
	struct src s = {h->funcs, h->nfuncs, h->locs, h->stacks, h->nstacks};

	return render(&s, o);
}
