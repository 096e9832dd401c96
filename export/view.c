/* SPDX-License-Identifier: MIT */
/* The function-level view shared by profile.txt and profile.pstats: every
 * function once, keyed as pstats keys it, with exact numbers for intercepted
 * functions and sampled seconds for the program's own. Never invents a call
 * count: a sampled function's calls stay unknown (known = 0). */
#include <stdlib.h>
#include <string.h>

#include "view.h"

struct builder {
	const struct shim_model *m;
	struct shim_view *v;
	size_t cap;
	size_t *func_entry;  /* func index -> entry */
	uint32_t *by_name;   /* func indices sorted by (name, module) */
	uint32_t *by_edge;   /* edge indices sorted by (callee, caller) */
	double *edge_tt;     /* per edge: seconds with callee as leaf under caller */
};

static int add_entry(struct builder *b, const struct shim_view_entry *src, size_t *idx)
{
	struct shim_view *v = b->v;

	if (v->n == b->cap) {
		size_t ncap = b->cap ? b->cap * 2 : 16;
		void *p = realloc(v->e, ncap * sizeof(*v->e));
		if (!p)
			return -1;
		v->e = p;
		b->cap = ncap;
	}
	v->e[v->n] = *src;
	*idx = v->n++;
	return 0;
}

/* Append a caller; duplicates are merged once at the end (merge_callers), so
 * a function with thousands of callers costs a sort, not a quadratic scan. */
static int add_caller(struct shim_view_entry *e, size_t entry, uint64_t calls, double tt,
		      double ct)
{
	struct shim_view_caller *c;

	/* grow by powers of two: the count is the capacity's only record */
	if ((e->ncallers & (e->ncallers - 1)) == 0) {
		size_t ncap = e->ncallers ? e->ncallers * 2 : 2;
		void *p = realloc(e->callers, ncap * sizeof(*e->callers));
		if (!p)
			return -1;
		e->callers = p;
	}
	c = &e->callers[e->ncallers++];
	c->entry = entry;
	c->calls = calls;
	c->tt = tt;
	c->ct = ct;
	return 0;
}

static int cmp_caller_entry(const void *a, const void *b)
{
	size_t x = ((const struct shim_view_caller *)a)->entry;
	size_t y = ((const struct shim_view_caller *)b)->entry;
	return (x > y) - (x < y);
}

/* Callers that name the same entry (two sampled functions that are one
 * intercepted function, two call sites in one function) become one. */
static void merge_callers(struct shim_view_entry *e)
{
	size_t o = 0;

	if (e->ncallers < 2)
		return;
	qsort(e->callers, e->ncallers, sizeof(*e->callers), cmp_caller_entry);
	for (size_t i = 1; i < e->ncallers; i++) {
		struct shim_view_caller *d = &e->callers[o], *c = &e->callers[i];
		if (c->entry == d->entry) {
			d->calls += c->calls;
			d->tt += c->tt;
			d->ct += c->ct;
		} else {
			e->callers[++o] = *c;
		}
	}
	e->ncallers = o + 1;
}

static const struct shim_model *sort_model;

static int cmp_name(const void *a, const void *b)
{
	const struct shim_model_func *x = &sort_model->funcs[*(const uint32_t *)a];
	const struct shim_model_func *y = &sort_model->funcs[*(const uint32_t *)b];
	int r = strcmp(x->name, y->name);
	return r ? r : strcmp(x->module ? x->module : "", y->module ? y->module : "");
}

static int cmp_edge(const void *a, const void *b)
{
	const struct shim_model_edge *x = &sort_model->edges[*(const uint32_t *)a];
	const struct shim_model_edge *y = &sort_model->edges[*(const uint32_t *)b];
	if (x->callee != y->callee)
		return x->callee < y->callee ? -1 : 1;
	return x->caller < y->caller ? -1 : x->caller > y->caller;
}

/* The function of the model called `name` in `module`, or -1. */
static long find_func(const struct builder *b, const char *name, const char *module)
{
	const struct shim_model *m = b->m;
	size_t lo = 0, hi = m->nfuncs;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const struct shim_model_func *f = &m->funcs[b->by_name[mid]];
		int r = strcmp(f->name, name);
		if (!r)
			r = strcmp(f->module ? f->module : "", module ? module : "");
		if (!r)
			return b->by_name[mid];
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static long find_edge(const struct builder *b, uint32_t caller, uint32_t callee)
{
	const struct shim_model *m = b->m;
	size_t lo = 0, hi = m->nedges;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		const struct shim_model_edge *e = &m->edges[b->by_edge[mid]];
		if (e->callee == callee && e->caller == caller)
			return b->by_edge[mid];
		if (e->callee < callee || (e->callee == callee && e->caller < caller))
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static double secs(const struct shim_model *m, double s, uint64_t samples)
{
	/* a model that gave counts but no seconds: use the effective period */
	if (s == 0 && samples && m->period_ns > 0)
		return (double)samples * m->period_ns * 1e-9;
	return s;
}

/* The entry naming a caller frame of an intercepted function: the sampled
 * function of that name when there is one, else a caller-only entry. */
static int caller_entry(struct builder *b, const struct shim_frame *w, size_t *idx)
{
	long f = find_func(b, w->func, w->module);
	struct shim_view_entry e;

	if (f >= 0) {
		*idx = b->func_entry[f];
		return 0;
	}
	for (size_t i = 0; i < b->v->n; i++) {
		const struct shim_view_entry *x = &b->v->e[i];
		if (!x->listed && x->line == w->line && !strcmp(x->name, w->func) &&
		    !strcmp(x->file, w->file)) {
			*idx = i;
			return 0;
		}
	}
	memset(&e, 0, sizeof(e));
	e.file = w->file;
	e.line = w->line;
	e.name = w->func;
	e.module = w->module;
	return add_entry(b, &e, idx);
}

static int build(struct builder *b)
{
	const struct shim_model *m = b->m;
	struct shim_view *v = b->v;
	size_t idx;

	for (size_t i = 0; i < m->ncalls; i++) {
		const struct shim_model_call *c = &m->calls[i];
		struct shim_view_entry e = {.file = c->module, .name = c->name,
					    .module = c->module, .known = 1, .listed = 1,
					    .calls = c->calls, .tt = c->seconds, .ct = c->seconds};
		if (add_entry(b, &e, &idx) != 0)
			return -1;
	}
	for (size_t i = 0; i < m->nfuncs; i++) {
		const struct shim_model_func *f = &m->funcs[i];
		struct shim_view_entry e = {.file = f->file ? f->file : f->module,
					    .name = f->name, .module = f->module, .line = f->line,
					    .listed = 1,
					    .tt = secs(m, f->self_seconds, f->self),
					    .ct = secs(m, f->total_seconds, f->total)};
		if (f->call >= 0 && (size_t)f->call < m->ncalls) {
			b->func_entry[i] = (size_t)f->call;
			continue;
		}
		if (!e.file)
			e.file = "?";
		if (add_entry(b, &e, &b->func_entry[i]) != 0)
			return -1;
	}
	/* self time per edge: the samples whose leaf is the callee under that caller */
	for (size_t i = 0; i < m->nstacks; i++) {
		const struct shim_model_stack *s = &m->stacks[i];
		long e;
		if (s->depth < 2)
			continue;
		e = find_edge(b, m->locs[s->locs[1]].func, m->locs[s->locs[0]].func);
		if (e >= 0)
			b->edge_tt[e] += secs(m, s->seconds, s->count);
	}
	for (size_t i = 0; i < m->ncalls; i++)
		for (size_t j = 0; j < m->calls[i].ncallers; j++) {
			const struct shim_model_caller *c = &m->calls[i].callers[j];
			if (caller_entry(b, &c->where, &idx) != 0 ||
			    add_caller(&v->e[i], idx, c->calls, c->seconds, c->seconds) != 0)
				return -1;
		}
	for (size_t i = 0; i < m->nedges; i++) {
		const struct shim_model_edge *ed = &m->edges[i];
		size_t callee;
		if (ed->callee >= m->nfuncs || ed->caller >= m->nfuncs)
			continue;
		callee = b->func_entry[ed->callee];
		/* an intercepted function's callers are exact already */
		if (v->e[callee].known)
			continue;
		if (add_caller(&v->e[callee], b->func_entry[ed->caller], 0, b->edge_tt[i],
			       secs(m, ed->seconds, ed->samples)) != 0)
			return -1;
	}
	for (size_t i = 0; i < v->n; i++)
		merge_callers(&v->e[i]);
	for (size_t i = 0; i < v->n; i++)
		if (v->e[i].listed) {
			v->total_calls += v->e[i].calls;
			v->total_tt += v->e[i].tt;
		}
	return 0;
}

int shim_view_build(const struct shim_model *m, struct shim_view *v)
{
	struct builder b = {.m = m, .v = v};
	int rc = -1;

	memset(v, 0, sizeof(*v));
	b.func_entry = calloc(m->nfuncs + 1, sizeof(*b.func_entry));
	b.by_name = calloc(m->nfuncs + 1, sizeof(*b.by_name));
	b.by_edge = calloc(m->nedges + 1, sizeof(*b.by_edge));
	b.edge_tt = calloc(m->nedges + 1, sizeof(*b.edge_tt));
	if (!b.func_entry || !b.by_name || !b.by_edge || !b.edge_tt)
		goto out;
	for (size_t i = 0; i < m->nfuncs; i++)
		b.by_name[i] = (uint32_t)i;
	for (size_t i = 0; i < m->nedges; i++)
		b.by_edge[i] = (uint32_t)i;
	sort_model = m; /* export runs on one thread at a time */
	qsort(b.by_name, m->nfuncs, sizeof(*b.by_name), cmp_name);
	qsort(b.by_edge, m->nedges, sizeof(*b.by_edge), cmp_edge);
	rc = build(&b);
out:
	if (rc != 0)
		shim_view_free(v);
	free(b.func_entry);
	free(b.by_name);
	free(b.by_edge);
	free(b.edge_tt);
	return rc;
}

void shim_view_free(struct shim_view *v)
{
	for (size_t i = 0; v->e && i < v->n; i++)
		free(v->e[i].callers);
	free(v->e);
	memset(v, 0, sizeof(*v));
}

static int cmp_key(const struct shim_view_entry *x, const struct shim_view_entry *y)
{
	int r = strcmp(x->name, y->name);
	if (r)
		return r;
	r = strcmp(x->file, y->file);
	return r ? r : (x->line > y->line) - (x->line < y->line);
}

#define DESC(a, b)                                                                            \
	do {                                                                                  \
		if ((a) != (b))                                                               \
			return (a) < (b) ? 1 : -1;                                            \
	} while (0)

static int cmp_order(const void *a, const void *b, void *arg)
{
	const struct shim_view *v = ((const void **)arg)[0];
	int how = *(const int *)((const void **)arg)[1];
	const struct shim_view_entry *x = &v->e[*(const size_t *)a];
	const struct shim_view_entry *y = &v->e[*(const size_t *)b];

	switch (how) {
	case SHIM_VIEW_TOTTIME:
		DESC(x->tt, y->tt);
		DESC(x->ct, y->ct);
		break;
	case SHIM_VIEW_NCALLS:
		/* unknown counts (sampled functions) after every known one */
		DESC(x->known, y->known);
		DESC(x->calls, y->calls);
		DESC(x->ct, y->ct);
		break;
	case SHIM_VIEW_NAME:
		break;
	default:
		DESC(x->ct, y->ct);
		DESC(x->tt, y->tt);
		DESC(x->calls, y->calls);
		break;
	}
	return cmp_key(x, y);
}

size_t *shim_view_order(const struct shim_view *v, int how, size_t *n)
{
	size_t *idx = calloc(v->n + 1, sizeof(*idx));
	const void *arg[2] = {v, &how};

	*n = 0;
	if (!idx)
		return NULL;
	for (size_t i = 0; i < v->n; i++)
		if (v->e[i].listed)
			idx[(*n)++] = i;
	qsort_r(idx, *n, sizeof(*idx), cmp_order, arg);
	return idx;
}

char *shim_view_std_string(const struct shim_view_entry *e)
{
	struct shim_sink s;
	char *clean;

	shim_sink_init(&s);
	shim_sink_printf(&s, "%s:%d(%s)", e->file, e->line, e->name);
	if (s.failed) {
		shim_sink_free(&s);
		return NULL;
	}
	/* the same text pstats prints from profile.pstats, whose names are clean */
	clean = shim_view_clean(s.buf, 0);
	shim_sink_free(&s);
	return clean;
}

/* Length of the valid UTF-8 sequence at p (1-4), or 0 when it is not one. */
static int utf8_len(const unsigned char *p)
{
	unsigned c = p[0];

	if (c >= 0xc2 && c <= 0xdf)
		return (p[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if ((p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80)
			return 0;
		if ((c == 0xe0 && p[1] < 0xa0) || (c == 0xed && p[1] > 0x9f))
			return 0; /* overlong, surrogate */
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if ((p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 || (p[3] & 0xc0) != 0x80)
			return 0;
		if ((c == 0xf0 && p[1] < 0x90) || (c == 0xf4 && p[1] > 0x8f))
			return 0;
		return 4;
	}
	return 0;
}

char *shim_view_clean(const char *s, int semi)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	size_t n = strlen((const char *)p), o = 0;
	char *out = malloc(n + 1);

	if (!out)
		return NULL;
	while (*p) {
		if (*p >= 0x80) {
			int k = utf8_len(p);
			if (k) {
				memcpy(out + o, p, (size_t)k);
				o += (size_t)k;
				p += k;
				continue;
			}
			out[o++] = '?';
		} else if (*p < 0x20 || *p == 0x7f) {
			out[o++] = '?';
		} else {
			out[o++] = (semi && *p == ';') ? ':' : (char)*p;
		}
		p++;
	}
	out[o] = '\0';
	return out;
}

void shim_view_xml(struct shim_sink *out, const char *s)
{
	const char *run = s;

	for (; *s; s++) {
		const char *rep;
		switch (*s) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		case '\'': rep = "&apos;"; break;
		default: continue;
		}
		shim_sink_write(out, run, (size_t)(s - run));
		shim_sink_puts(out, rep);
		run = s + 1;
	}
	shim_sink_write(out, run, (size_t)(s - run));
}
