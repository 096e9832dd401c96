/* SPDX-License-Identifier: MIT */
/* Merging the slots into the model: sum every thread, convert ticks to seconds
 * with one calibration, symbolize each caller address once, group callers by
 * function. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "fdtab.h"
#include "fn.h"
#include "heap.h"
#include "model.h"
#include "profiler.h"
#include "record.h"
#include "span.h"
#include "thread.h"
#include "unwind.h"
#include "zone.h"

static void add(const struct shim_thread *t, void *arg)
{
	shim_thread_merge(arg, t);
}

static int cmp_caller(const void *a, const void *b)
{
	const struct shim_model_caller *x = a, *y = b;
	if (x->seconds != y->seconds)
		return x->seconds < y->seconds ? 1 : -1;
	if (x->calls != y->calls)
		return x->calls < y->calls ? 1 : -1;
	return strcmp(x->where.func, y->where.func);
}

static int cmp_err(const void *a, const void *b)
{
	const struct shim_model_err *x = a, *y = b;
	if (x->count != y->count)
		return x->count < y->count ? 1 : -1;
	return x->fn != y->fn ? (x->fn < y->fn ? -1 : 1) : x->err - y->err;
}

static int cmp_res(const void *a, const void *b)
{
	const struct shim_model_res *x = a, *y = b;
	if (x->seconds != y->seconds)
		return x->seconds < y->seconds ? 1 : -1;
	if (x->ops != y->ops)
		return x->ops < y->ops ? 1 : -1;
	return strcmp(x->name, y->name);
}

/* The object that defines the intercepted functions: the one holding getpid,
 * found by its segments (dladdr would also scan libc's whole symbol table
 * for a name not needed here). */
static const char *libc_module(void)
{
	static char name[64];

	if (!name[0]) {
		const char *path = NULL, *s = "libc.so.6";
		if (shim_unwind_text_of((const void *)(uintptr_t)getpid, NULL, NULL, &path) == 0 &&
		    path && path[0]) {
			const char *b = strrchr(path, '/');
			s = b ? b + 1 : path;
		}
		strncpy(name, s, sizeof(name) - 1);
	}
	return name;
}

/* Callers of one function: the sites of fn, symbolized, merged by function. */
static int build_callers(struct shim_model_call *c, const struct shim_thread *all, double npt)
{
	size_t cap = 0;

	for (uint32_t k = 0, n = shim_site_count(all); k < n; k++) {
		const struct shim_site *s = shim_site_nth(all, k);
		struct shim_frame f;
		size_t j;

		if (!s || !s->pc || s->fn != c->fn || !s->st.calls)
			continue;
		if (shim_sym_lookup(s->pc, &f) != 0)
			return -1;
		for (j = 0; j < c->ncallers; j++)
			if (strcmp(c->callers[j].where.func, f.func) == 0 &&
			    strcmp(c->callers[j].where.module, f.module) == 0)
				break;
		if (j == c->ncallers) {
			if (c->ncallers == cap) {
				size_t ncap = cap ? cap * 2 : 4;
				void *p = realloc(c->callers, ncap * sizeof(*c->callers));
				if (!p) {
					shim_sym_frame_free(&f);
					return -1;
				}
				c->callers = p;
				cap = ncap;
			}
			memset(&c->callers[j], 0, sizeof(c->callers[j]));
			c->callers[j].where = f;
			c->ncallers++;
		} else {
			shim_sym_frame_free(&f);
		}
		c->callers[j].calls += s->st.calls;
		c->callers[j].errors += s->st.errors;
		c->callers[j].bytes += s->st.bytes;
		c->callers[j].seconds += (double)s->st.ticks * npt * 1e-9;
	}
	/* counted-only calls (allocations) have no callers: callers stays NULL,
	 * and qsort's pointer must not be NULL even for no elements */
	if (c->ncallers > 1)
		qsort(c->callers, c->ncallers, sizeof(*c->callers), cmp_caller);
	return 0;
}

/* How hard to look for names (shim/symbols.h): a short process with a sample
 * or two (a build's many) gets the symbols its objects carry; one that ran a
 * tenth of a second, for which the milliseconds hardly show, also those of
 * the separate debug files; a real profile also the system libraries' DWARF. */
#define SYM_SYSTEM_DWARF_SAMPLES 100
#define SYM_DEBUG_FILES_SECONDS 0.1

static int sym_level(uint64_t samples)
{
	if (!samples)
		return SHIM_SYM_DYNAMIC;
	if (samples >= SYM_SYSTEM_DWARF_SAMPLES)
		return SHIM_SYM_FULL;
	return shim_clock_run_seconds() >= SYM_DEBUG_FILES_SECONDS ? SHIM_SYM_DEBUG : SHIM_SYM_OWN;
}

/* The trace part for the trace files only (the executable's path, the host,
 * every span converted); without them the rings are still drained into the
 * store, so what is kept or dropped does not depend on SHIMMER_FORMATS. */
static int build_trace(struct shim_model *m)
{
	const unsigned trace_files = 1u << SHIM_FMT_OTLP | 1u << SHIM_FMT_CHROME |
				     1u << SHIM_FMT_NDJSON;

	if (shim_config.formats & trace_files)
		return shim_model_build_trace(m);
	shim_span_drain();
	return 0;
}

/* The zeroed slot every thread is summed into, whose untouched pages cost
 * nothing: a piece of the zone kept between builds and zeroed again (madvise)
 * at the start of the next one, so a process that builds once, at its exit,
 * pays no mmap and no munmap (about 20 us). A build that finds it in use (a
 * scrape during a flush) maps one of its own. */
static struct shim_thread *scratch;
static int scratch_busy, scratch_used; /* atomic; under scratch_busy */

static struct shim_thread *sum_slot(void)
{
	void *p;

	if (!__atomic_exchange_n(&scratch_busy, 1, __ATOMIC_ACQUIRE)) {
		if (!scratch)
			scratch = shim_zone_map(sizeof(*scratch));
		else if (scratch_used)
			madvise(scratch, sizeof(*scratch), MADV_DONTNEED);
		if (scratch) {
			scratch_used = 1;
			return scratch;
		}
		__atomic_store_n(&scratch_busy, 0, __ATOMIC_RELEASE);
	}
	p = mmap(NULL, sizeof(*scratch), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		 0);
	return p == MAP_FAILED ? NULL : p;
}

static void sum_slot_done(struct shim_thread *t)
{
	if (t == scratch)
		__atomic_store_n(&scratch_busy, 0, __ATOMIC_RELEASE);
	else
		munmap(t, sizeof(*t));
}

/* full: callers and CPU samples too (symbolizes); else counts only. */
static int build(struct shim_model *m, int full)
{
	struct shim_thread *all;
	const char *libc = libc_module();
	double npt;
	size_t n;

	memset(m, 0, sizeof(*m));
	m->pid = getpid();
	m->ppid = getppid();
	strncpy(m->exe, program_invocation_short_name, sizeof(m->exe) - 1);
	m->start_unix_ns = shim_clock_start_unix_ns();
	npt = m->ns_per_tick = shim_clock_ns_per_tick();

	all = sum_slot();
	if (!all)
		return -1;
	/* the latency bounds follow the calibration just taken */
	shim_rec_hist_calibrate();
	/* DWARF only when there are samples: a short process (most of a build)
	 * should not pay for loading libdw at its exit */
	if (full)
		shim_sym_begin(sym_level(shim_profiler_samples() + shim_heap_samples()));
	shim_thread_foreach(add, all);
	m->threads = shim_thread_seen();
	m->dropped.sites = all->sites_dropped;
	m->dropped.errs = all->errs_dropped;
	m->dropped.res = shim_res_dropped();
	m->dropped.threads = shim_threads_untracked;

	for (unsigned fn = 0; fn < SHIM_FN_COUNT; fn++)
		m->ncalls += all->fn[fn].calls != 0;
	m->calls = calloc(m->ncalls ? m->ncalls : 1, sizeof(*m->calls));
	if (!m->calls)
		goto fail;
	n = 0;
	for (unsigned fn = 0; fn < SHIM_FN_COUNT; fn++) {
		struct shim_model_call *c;
		const uint64_t *h;
		if (!all->fn[fn].calls)
			continue;
		c = &m->calls[n++];
		c->fn = fn;
		c->name = shim_fninfo[fn].name;
		c->module = libc;
		c->family = shim_fninfo[fn].family;
		c->dir = shim_fninfo[fn].dir;
		c->calls = all->fn[fn].calls;
		c->errors = all->fn[fn].errors;
		c->bytes = all->fn[fn].bytes;
		c->seconds = (double)all->fn[fn].ticks * npt * 1e-9;
		if ((h = shim_hist_find(all, fn)) != NULL)
			memcpy(c->hist, h, sizeof(c->hist));
		if (full && build_callers(c, all, npt) != 0)
			goto fail;
	}

	for (unsigned i = 0; i < SHIM_ERR_CAP; i++)
		m->nerrs += all->err[i].err != 0;
	m->errs = calloc(m->nerrs ? m->nerrs : 1, sizeof(*m->errs));
	if (!m->errs)
		goto fail;
	n = 0;
	for (unsigned i = 0; i < SHIM_ERR_CAP; i++) {
		if (!all->err[i].err)
			continue;
		m->errs[n].fn = all->err[i].fn;
		m->errs[n].err = all->err[i].err;
		m->errs[n].count = all->err[i].count;
		n++;
	}
	qsort(m->errs, m->nerrs, sizeof(*m->errs), cmp_err);

	for (unsigned i = 0; i < all->res_hi && i < SHIM_RES_CAP; i++)
		m->nres += all->res[i].ops != 0;
	m->res = calloc(m->nres ? m->nres : 1, sizeof(*m->res));
	if (!m->res)
		goto fail;
	n = 0;
	for (unsigned i = 0; i < all->res_hi && i < SHIM_RES_CAP; i++) {
		const struct shim_resource *r = shim_res_get(i);
		struct shim_model_res *d;
		if (!all->res[i].ops || !r)
			continue;
		d = &m->res[n];
		d->id = i;
		d->kind = r->kind;
		d->name = malloc((size_t)r->len + 4);
		if (!d->name)
			goto fail;
		memcpy(d->name, r->name, r->len);
		if (r->len == SHIM_RES_NAME)
			memcpy(d->name + r->len, "...", 4);
		else
			d->name[r->len] = '\0';
		d->ops = all->res[i].ops;
		d->rbytes = all->res[i].rbytes;
		d->wbytes = all->res[i].wbytes;
		d->errors = all->res[i].errors;
		d->seconds = (double)all->res[i].ticks * npt * 1e-9;
		n++;
	}
	m->nres = n;
	qsort(m->res, m->nres, sizeof(*m->res), cmp_res);

	if (full && (shim_model_build_cpu(m) != 0 || build_trace(m) != 0 ||
		     shim_model_build_heap(m) != 0))
		goto fail;
	/* the /proc figures and the fd census are for metrics.prom and scrapes
	 * only: a short process that writes no metrics should not pay for them */
	if (!full || (shim_config.formats & (1u << SHIM_FMT_METRICS)))
		shim_model_build_metrics(m);
	if (full)
		shim_sym_end();
	m->wall_seconds = shim_clock_run_seconds();
	sum_slot_done(all);
	return 0;
fail:
	if (full)
		shim_sym_end();
	sum_slot_done(all);
	shim_model_free(m);
	return -1;
}

int shim_model_build(struct shim_model *m)
{
	return build(m, 1);
}

int shim_model_build_counts(struct shim_model *m)
{
	return build(m, 0);
}

void shim_model_free(struct shim_model *m)
{
	for (size_t i = 0; m->calls && i < m->ncalls; i++) {
		for (size_t j = 0; j < m->calls[i].ncallers; j++)
			shim_sym_frame_free(&m->calls[i].callers[j].where);
		free(m->calls[i].callers);
	}
	for (size_t i = 0; m->res && i < m->nres; i++)
		free(m->res[i].name);
	shim_model_free_cpu(m);
	shim_model_free_spans(m);
	shim_model_free_heap(m);
	free(m->calls);
	free(m->errs);
	free(m->res);
	memset(m, 0, sizeof(*m));
}

uint64_t shim_model_total_calls(const struct shim_model *m)
{
	uint64_t n = 0;
	for (size_t i = 0; i < m->ncalls; i++)
		n += m->calls[i].calls;
	return n;
}

double shim_model_total_seconds(const struct shim_model *m)
{
	double s = 0;
	for (size_t i = 0; i < m->ncalls; i++)
		s += m->calls[i].seconds;
	return s;
}
