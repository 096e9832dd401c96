/* SPDX-License-Identifier: MIT */
/* The CPU-sample part of the model: drain every thread's interned stacks,
 * symbolize each distinct address once, fold them into functions (self and
 * inclusive samples), caller->callee edges and per-thread effective periods;
 * the mappings (with build IDs) of loaded and of dlclose'd objects, read at
 * the first stack (a process that took no sample never reads them).
 * Export time only: allocates freely, never touches the signal path. */
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dlmods.h"
#include "intern.h"
#include "model.h"
#include "profiler.h"
#include "symbols.h"


struct build {
	struct shim_model *m;
	struct shim_symtab syms;
	struct shim_imap edgemap;
	size_t cap_stacks, cap_edges, cap_threads;
	double period; /* seconds a sample, of the thread being drained */
	int tid;
	int failed;
	uint32_t *seen; /* per func: the stack serial that last counted it */
	size_t cap_seen;
	uint32_t serial;
	int mapped; /* the mappings are read: at the first stack, so a process
		     * that took no sample never reads /proc/self/maps */
};

static int read_mappings(struct shim_model *m);

static int add_edge(struct build *b, uint32_t caller, uint32_t callee, uint64_t count)
{
	struct shim_model *m = b->m;
	uint64_t key = ((uint64_t)caller << 32 | callee) + 1;
	int found;
	uint32_t *v = shim_imap_slot(&b->edgemap, key, &found);

	if (!v)
		return -1;
	if (!found) {
		if (shim_grow((void **)&m->edges, &b->cap_edges, m->nedges, sizeof(*m->edges)) != 0)
			return -1;
		memset(&m->edges[m->nedges], 0, sizeof(*m->edges));
		m->edges[m->nedges].caller = caller;
		m->edges[m->nedges].callee = callee;
		*v = (uint32_t)m->nedges++;
	}
	m->edges[*v].samples += count;
	m->edges[*v].seconds += (double)count * b->period;
	return 0;
}

/* Once per sample: a function (or an edge) on the stack twice (recursion) is
 * counted once. The serial marks what this stack already counted. */
static int first_in_stack(struct build *b, uint32_t func)
{
	if (func >= b->cap_seen) {
		size_t ncap = b->cap_seen ? b->cap_seen : 256;
		uint32_t *p;
		while (ncap <= func)
			ncap *= 2;
		p = realloc(b->seen, ncap * sizeof(*p));
		if (!p)
			return -1;
		memset(p + b->cap_seen, 0, (ncap - b->cap_seen) * sizeof(*p));
		b->seen = p;
		b->cap_seen = ncap;
	}
	if (b->seen[func] == b->serial)
		return 0;
	b->seen[func] = b->serial;
	return 1;
}

static void add_stack(const uintptr_t *pcs, uint32_t depth, uint64_t count, void *arg)
{
	struct build *b = arg;
	struct shim_model *m = b->m;
	struct shim_model_stack *s;
	uint32_t *locs;

	if (b->failed)
		return;
	if (!b->mapped) {
		b->mapped = 1;
		if (read_mappings(m) != 0)
			goto fail;
	}
	if (shim_grow((void **)&m->stacks, &b->cap_stacks, m->nstacks, sizeof(*m->stacks)) != 0 ||
	    !(locs = malloc(depth * sizeof(*locs))))
		goto fail;
	s = &m->stacks[m->nstacks++];
	s->locs = locs;
	s->depth = depth;
	s->tid = b->tid;
	s->count = count;
	s->seconds = (double)count * b->period;
	for (uint32_t i = 0; i < depth; i++) {
		/* callers: the call instruction, one byte before the return address */
		int64_t li = shim_symtab_loc(&b->syms, i == 0 ? pcs[i] : pcs[i] - 1);
		if (li < 0)
			goto fail;
		locs[i] = (uint32_t)li;
	}
	if (++b->serial == 0)
		b->serial = 1;
	m->funcs[m->locs[locs[0]].func].self += count;
	m->funcs[m->locs[locs[0]].func].self_seconds += s->seconds;
	for (uint32_t i = 0; i < depth; i++) {
		uint32_t f = m->locs[locs[i]].func;
		int first = first_in_stack(b, f);
		if (first < 0)
			goto fail;
		if (first) {
			m->funcs[f].total += count;
			m->funcs[f].total_seconds += s->seconds;
		}
	}
	/* edges once per sample: mark with a second serial over edge keys */
	for (uint32_t i = 0; i + 1 < depth; i++) {
		uint32_t callee = m->locs[locs[i]].func, caller = m->locs[locs[i + 1]].func;
		int dup = 0;
		for (uint32_t k = 0; k < i && !dup; k++)
			dup = m->locs[locs[k]].func == callee && m->locs[locs[k + 1]].func == caller;
		if (!dup && add_edge(b, caller, callee, count) != 0)
			goto fail;
	}
	return;
fail:
	b->failed = 1;
}

static void thread_name(int tid, char *name, size_t size)
{
	char path[64];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/self/task/%d/comm", tid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, name, size - 1);
	close(fd);
	if (n > 0 && name[n - 1] == '\n')
		n--;
	name[n > 0 ? n : 0] = '\0';
}

static void add_thread(const struct shim_prof_view *v, void *arg)
{
	struct build *b = arg;
	struct shim_model *m = b->m;
	struct shim_model_thread *t;
	uint64_t n = v->samples + v->dropped;

	if (b->failed)
		return;
	if (shim_grow((void **)&m->threads_info, &b->cap_threads, m->nthreads,
		 sizeof(*m->threads_info)) != 0) {
		b->failed = 1;
		return;
	}
	t = &m->threads_info[m->nthreads++];
	memset(t, 0, sizeof(*t));
	t->tid = v->tid;
	if (v->live)
		thread_name(v->tid, t->name, sizeof(t->name));
	else
		strncpy(t->name, v->name, sizeof(t->name) - 1);
	t->samples = v->samples;
	t->cpu_seconds = v->clock_seconds;
	/* the kernel may deliver fewer signals than asked: the thread's own
	 * clock over the samples it took is the period that really applied */
	t->period_ns = n && v->clock_seconds > 0 ? v->clock_seconds * 1e9 / (double)n
						  : 1e9 / (double)m->hz;
	m->samples += v->samples;
	m->samples_dropped += v->dropped;
	b->period = t->period_ns * 1e-9;
	b->tid = v->tid;
	shim_stk_foreach(v->tab, add_stack, b);
}

static char *hex(const unsigned char *id, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	char *h = malloc(2 * n + 1);

	if (!h)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		h[2 * i] = digits[id[i] >> 4];
		h[2 * i + 1] = digits[id[i] & 15];
	}
	h[2 * n] = '\0';
	return h;
}

struct maps {
	struct shim_model_mapping **v;
	size_t *n, *cap;
	int failed;
	char dir[PATH_MAX];  /* the last folder resolved, as the loader named it */
	char rdir[PATH_MAX]; /* and as the kernel does ("" when unresolved) */
};

/* The path /proc/self/maps shows for the object the loader calls name (an
 * absolute path): the kernel's, every link resolved (Debian's /lib is a link,
 * and libfoo.so.1 often one to libfoo.so.1.2.3). The folder is resolved once
 * for all its objects, the file itself with one readlink. Returns out, or
 * name when it cannot be resolved. */
static const char *kernel_path(struct maps *ms, const char *name, char *out)
{
	const char *base = strrchr(name, '/') + 1;
	size_t dlen = (size_t)(base - name);
	char link[8];

	if (dlen >= sizeof(ms->dir))
		return name;
	if (strncmp(ms->dir, name, dlen) != 0 || ms->dir[dlen] != '\0') {
		memcpy(ms->dir, name, dlen);
		ms->dir[dlen] = '\0';
		if (!realpath(ms->dir, ms->rdir))
			ms->rdir[0] = '\0';
	}
	if (!ms->rdir[0] ||
	    snprintf(out, PATH_MAX, "%s/%s", strcmp(ms->rdir, "/") ? ms->rdir : "", base) >= PATH_MAX)
		return name;
	/* a link: resolve the whole of it (rare past the one hop) */
	if (readlink(out, link, sizeof(link)) >= 0) {
		char tmp[PATH_MAX];
		if (!realpath(out, tmp))
			return name;
		memcpy(out, tmp, strlen(tmp) + 1);
	}
	return out;
}

static struct shim_model_mapping *add_mapping(struct maps *ms, uint64_t lo, uint64_t hi,
					      uint64_t off, const char *path)
{
	struct shim_model_mapping *mp;

	if (ms->failed || shim_grow((void **)ms->v, ms->cap, *ms->n, sizeof(**ms->v)) != 0) {
		ms->failed = 1;
		return NULL;
	}
	mp = memset(&(*ms->v)[*ms->n], 0, sizeof(**ms->v));
	mp->start = lo;
	mp->limit = hi;
	mp->offset = off;
	if (!(mp->path = strdup(path))) {
		ms->failed = 1;
		return NULL;
	}
	(*ms->n)++;
	return mp;
}

/* One loaded object: its executable PT_LOAD segments, widened to pages as the
 * kernel maps them. The program itself has no name in the list (its file is
 * read from /proc/self/exe); names that are not absolute (the vDSO, an
 * object opened by a relative path) are resolved or left out as
 * /proc/self/maps would show them. */
static int loaded_maps(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct maps *ms = arg;
	const uint64_t pg = 4096;
	const char *path = info->dlpi_name;
	char real[PATH_MAX], kern[PATH_MAX];
	unsigned char id[SHIM_BUILD_ID_MAX];
	size_t idn = 0;
	int tried = 0;

	(void)size;
	if (!path || !path[0])
		path = shim_sym_exe_path();
	else if (path[0] != '/')
		path = strchr(path, '/') && realpath(path, real) ? real : "";
	if (path[0] != '/')
		return ms->failed;
	path = kernel_path(ms, path, kern);
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uint64_t a = info->dlpi_addr + ph->p_vaddr;
		struct shim_model_mapping *mp;
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X) || !ph->p_memsz)
			continue;
		mp = add_mapping(ms, a & ~(pg - 1), (a + ph->p_memsz + pg - 1) & ~(pg - 1),
				 ph->p_offset & ~(pg - 1), path);
		if (!mp)
			break;
		if (!tried++)
			idn = shim_dlmod_build_id(info, id, sizeof(id));
		if (idn)
			mp->build_id = hex(id, idn); /* NULL (no memory): no build ID */
	}
	return ms->failed;
}

/* Objects unloaded before the export: their executable segments as they were. */
static void add_gone(const struct shim_dlmod *g, void *arg)
{
	struct maps *ms = arg;

	for (int i = 0; i < g->nseg && !ms->failed; i++) {
		struct shim_model_mapping *mp;
		if (!g->seg[i].exec)
			continue;
		mp = add_mapping(ms, g->seg[i].start, g->seg[i].limit, g->seg[i].offset, g->path);
		if (mp && g->build_id_len)
			mp->build_id = hex(g->build_id, g->build_id_len);
	}
}

int shim_model_read_mappings(struct shim_model_mapping **v, size_t *n, size_t *cap)
{
	struct maps ms = {.v = v, .n = n, .cap = cap};

	dl_iterate_phdr(loaded_maps, &ms);
	if (!ms.failed)
		shim_dlmod_foreach(add_gone, &ms);
	return ms.failed ? -1 : 0;
}

static int read_mappings(struct shim_model *m)
{
	size_t cap = 0;

	return shim_model_read_mappings(&m->mappings, &m->nmappings, &cap);
}

/* Link functions that are intercepted libc calls (a sample inside our hook or
 * inside libc's own function of that name) to their exact statistics. */
static void link_calls(struct shim_model *m)
{
	for (size_t i = 0; i < m->nfuncs; i++) {
		struct shim_model_func *f = &m->funcs[i];
		if (strncmp(f->module, "libc.so", 7) != 0 && !strstr(f->module, "shimmer"))
			continue;
		for (size_t j = 0; j < m->ncalls; j++)
			if (strcmp(f->name, m->calls[j].name) == 0)
				f->call = (int)j;
	}
}

int shim_model_build_cpu(struct shim_model *m)
{
	struct build b;
	double clock = 0;
	uint64_t n = 0;

	m->hz = shim_profiler_hz();
	m->clock_wall = shim_profiler_wall();
	if (!m->hz)
		return 0;
	memset(&b, 0, sizeof(b));
	b.m = m;
	b.syms = SHIM_SYMTAB_OF(m);
	shim_profiler_foreach(add_thread, &b);
	shim_symtab_free(&b.syms);
	shim_imap_free(&b.edgemap);
	free(b.seen);
	if (b.failed)
		return -1;
	for (size_t i = 0; i < m->nthreads; i++) {
		clock += m->threads_info[i].cpu_seconds;
		n += m->threads_info[i].samples;
	}
	m->period_ns = n && clock > 0 ? clock * 1e9 / (double)(n + m->samples_dropped)
				      : 1e9 / (double)m->hz;
	link_calls(m);
	return 0;
}

void shim_model_free_cpu(struct shim_model *m)
{
	for (size_t i = 0; m->funcs && i < m->nfuncs; i++) {
		free(m->funcs[i].name);
		free(m->funcs[i].file);
		free(m->funcs[i].module);
	}
	for (size_t i = 0; m->stacks && i < m->nstacks; i++)
		free(m->stacks[i].locs);
	for (size_t i = 0; m->mappings && i < m->nmappings; i++) {
		free(m->mappings[i].path);
		free(m->mappings[i].build_id);
	}
	free(m->funcs);
	free(m->stacks);
	free(m->mappings);
	free(m->locs);
	free(m->edges);
	free(m->threads_info);
}
