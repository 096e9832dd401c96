/* SPDX-License-Identifier: MIT */
/* Export speed (issue 3): symbolization of 5,000 distinct PCs with shim_sym_pc
 * in this real binary (DWARF: it is built -g from the shim's own objects) and
 * in libc.so.6 (ELF symbols), then every CPU writer on a model of 100,000
 * samples over 5,000 distinct stacks built from the symbolized PCs. Linked
 * with the shim's export objects like the unit tests; prints one line a
 * figure (median of the repeats, ms), read by bench/run.py. argv[1]: repeats;
 * argv[2], when given: a folder to write the outputs to (to check them). */
#include <dlfcn.h>
#include <link.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../export/export.h"
#include "../shim/model.h"
#include "../shim/sink.h"
#include "../shim/symbols.h"
#include "bench.h"

#define NPCS 5000
#define NSTACKS 5000
#define NSAMPLES 100000
#define NTHREADS 4
#define PERIOD_NS 4e6 /* 250 Hz: what the kernel delivers when 999 is asked */
#define MAXREP 15

struct range {
	const char *want; /* "" = the executable */
	uintptr_t lo, hi;
};

static int find_text(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct range *r = arg;
	const char *name = info->dlpi_name ? info->dlpi_name : "";

	(void)size;
	if (r->want[0] ? !strstr(name, r->want) : name[0] != '\0')
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *p = &info->dlpi_phdr[i];
		if (p->p_type == PT_LOAD && (p->p_flags & PF_X)) {
			r->lo = info->dlpi_addr + p->p_vaddr;
			r->hi = r->lo + p->p_memsz;
			return 1;
		}
	}
	return 0;
}

/* NPCS distinct addresses evenly over the text of one object. */
static int pcs_of(const char *want, uintptr_t *pcs)
{
	struct range r = {.want = want};

	dl_iterate_phdr(find_text, &r);
	if (r.hi - r.lo < NPCS * 4)
		return -1;
	for (int i = 0; i < NPCS; i++)
		pcs[i] = r.lo + (uintptr_t)((double)(r.hi - r.lo) * (i + 0.5) / NPCS);
	return 0;
}

static int cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmpd);
	return v[n / 2];
}

/* One timed session: open, describe every PC, close. Keeps the frames when
 * keep is set (the model is built from them). */
static double symbolize(const uintptr_t *pcs, struct shim_frame *keep)
{
	double t0 = bench_now();
	struct shim_frame f;

	shim_sym_begin(SHIM_SYM_FULL);
	for (int i = 0; i < NPCS; i++) {
		if (shim_sym_pc(pcs[i], keep ? &keep[i] : &f) != 0)
			exit(3);
		if (!keep)
			shim_sym_frame_free(&f);
	}
	shim_sym_end();
	return (bench_now() - t0) / 1e6;
}

static uint64_t rnd(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ull;
	return x ^ (x >> 33);
}

static uint32_t intern(struct shim_model *m, char **names, uint32_t *slots, struct shim_frame *f)
{
	uint64_t h = 1469598103934665603ull;

	for (const char *p = f->func; *p; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211ull;
	for (uint32_t i = (uint32_t)(h % (NPCS * 4));; i = (i + 1) % (NPCS * 4)) {
		if (slots[i] && strcmp(names[slots[i] - 1], f->func) == 0)
			return slots[i] - 1;
		if (!slots[i]) {
			struct shim_model_func *fn = &m->funcs[m->nfuncs];
			fn->name = f->func;
			fn->file = f->file;
			fn->line = f->line;
			fn->module = f->module;
			fn->call = -1;
			names[m->nfuncs] = f->func;
			slots[i] = (uint32_t)++m->nfuncs;
			return slots[i] - 1;
		}
	}
}

static void mappings(struct shim_model *m)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[1024];

	m->mappings = calloc(256, sizeof(*m->mappings));
	while (f && fgets(line, sizeof(line), f) && m->nmappings < 256) {
		unsigned long lo, hi, off;
		char perm[8], path[512];
		if (sscanf(line, "%lx-%lx %7s %lx %*s %*s %511s", &lo, &hi, perm, &off, path) == 5 &&
		    perm[2] == 'x' && path[0] == '/') {
			struct shim_model_mapping *mp = &m->mappings[m->nmappings++];
			mp->start = lo;
			mp->limit = hi;
			mp->offset = off;
			mp->path = strdup(path);
		}
	}
	if (f)
		fclose(f);
}

struct edge {
	uint64_t key; /* caller << 32 | callee, + 1; 0 = empty */
	uint32_t idx, stamp;
};

/* 5,000 distinct stacks: 3 common root frames, 5 levels of a 6-way tree
 * (distinct by construction), then a tail of 0..24 frames; 100,000 samples
 * spread 1/rank-like over them, on NTHREADS threads. */
static void build(struct shim_model *m, struct shim_frame *fr, const uintptr_t *pcs)
{
	static char *names[NPCS];
	static uint32_t slots[NPCS * 4], fstamp[NPCS];
	static struct edge eh[1 << 18];
	uint64_t left = NSAMPLES, wsum = 0;

	memset(m, 0, sizeof(*m));
	m->pid = getpid();
	m->ppid = getppid();
	snprintf(m->exe, sizeof(m->exe), "x_export");
	m->start_unix_ns = 1700000000000000000ull;
	m->wall_seconds = NSAMPLES * PERIOD_NS / 1e9 / NTHREADS;
	m->hz = 999;
	m->period_ns = PERIOD_NS;
	mappings(m);
	m->funcs = calloc(NPCS, sizeof(*m->funcs));
	m->locs = calloc(NPCS, sizeof(*m->locs));
	for (int i = 0; i < NPCS; i++) {
		struct shim_model_loc *l = &m->locs[i];
		l->address = pcs[i];
		l->mapping = UINT32_MAX;
		for (size_t k = 0; k < m->nmappings; k++)
			if (pcs[i] >= m->mappings[k].start && pcs[i] < m->mappings[k].limit)
				l->mapping = (uint32_t)k;
		l->func = intern(m, names, slots, &fr[i]);
		l->line = fr[i].pc_line;
	}
	m->nlocs = NPCS;
	m->stacks = calloc(NSTACKS, sizeof(*m->stacks));
	m->edges = calloc(NSTACKS * 40, sizeof(*m->edges));
	m->threads_info = calloc(NTHREADS, sizeof(*m->threads_info));
	m->nthreads = NTHREADS;
	for (int t = 0; t < NTHREADS; t++) {
		m->threads_info[t].tid = 1000 + t;
		snprintf(m->threads_info[t].name, sizeof(m->threads_info[t].name), "worker-%d", t);
		m->threads_info[t].period_ns = PERIOD_NS;
	}
	for (int i = 0; i < NSTACKS; i++)
		wsum += 1000000 / (uint64_t)(i + 10);
	for (uint32_t i = 0; i < NSTACKS; i++) {
		struct shim_model_stack *s = &m->stacks[i];
		uint32_t path[40], d = 0, tail = (uint32_t)(rnd(i) % 25);
		uint64_t prefix = 0;
		/* root first here, reversed into leaf-first below */
		path[d++] = 0;
		path[d++] = 1;
		path[d++] = 2;
		/* siblings: one parent's base + a different digit: distinct frames */
		for (uint32_t lv = 0, x = i; lv < 5; lv++, x /= 6) {
			path[d++] = (uint32_t)((rnd(prefix + ((uint64_t)lv << 56)) + x % 6) % (NPCS - 3)) + 3;
			prefix = prefix * 7 + x % 6 + 1;
		}
		for (uint32_t k = 0; k < tail; k++)
			path[d++] = (uint32_t)(rnd(((uint64_t)i << 8) + k) % NPCS);
		s->locs = malloc(d * sizeof(*s->locs));
		for (uint32_t k = 0; k < d; k++)
			s->locs[k] = path[d - 1 - k];
		s->depth = d;
		s->tid = 1000 + (int)(i % NTHREADS);
		s->count = i + 1 == NSTACKS ? left : 1 + (NSAMPLES - NSTACKS) * (1000000 / (i + 10)) / wsum;
		left -= s->count;
		s->seconds = (double)s->count * PERIOD_NS / 1e9;
		m->threads_info[i % NTHREADS].samples += s->count;
		m->samples += s->count;
		m->funcs[m->locs[s->locs[0]].func].self += s->count;
		for (uint32_t k = 0; k < d; k++) {
			uint32_t f = m->locs[s->locs[k]].func;
			if (fstamp[f] != i + 1) {
				fstamp[f] = i + 1;
				m->funcs[f].total += s->count;
			}
			if (k + 1 < d) {
				uint32_t caller = m->locs[s->locs[k + 1]].func;
				uint64_t key = ((uint64_t)caller << 32 | f) + 1;
				uint32_t j = (uint32_t)rnd(key) & ((1 << 18) - 1);
				while (eh[j].key && eh[j].key != key)
					j = (j + 1) & ((1 << 18) - 1);
				if (!eh[j].key) {
					eh[j].key = key;
					eh[j].idx = (uint32_t)m->nedges;
					m->edges[m->nedges].caller = caller;
					m->edges[m->nedges++].callee = f;
				}
				if (eh[j].stamp != i + 1) {
					eh[j].stamp = i + 1;
					m->edges[eh[j].idx].samples += s->count;
					m->edges[eh[j].idx].seconds += s->seconds;
				}
			}
		}
	}
	m->nstacks = NSTACKS;
	for (size_t f = 0; f < m->nfuncs; f++) {
		m->funcs[f].self_seconds = (double)m->funcs[f].self * PERIOD_NS / 1e9;
		m->funcs[f].total_seconds = (double)m->funcs[f].total * PERIOD_NS / 1e9;
	}
	for (int t = 0; t < NTHREADS; t++)
		m->threads_info[t].cpu_seconds = (double)m->threads_info[t].samples * PERIOD_NS / 1e9;
}

static const struct {
	const char *name, *file;
	int (*fn)(const struct shim_model *, struct shim_sink *);
} writers[] = {
	{"table", "profile.txt", shim_export_table},
	{"pstats", "profile.pstats", shim_export_pstats},
	{"folded", "cpu.folded", shim_export_folded},
	{"flamegraph", "flamegraph.svg", shim_export_flamegraph},
	{"speedscope", "profile.speedscope.json", shim_export_speedscope},
	{"pprof", "cpu.pb.gz", shim_export_pprof},
};

int main(int argc, char **argv)
{
	static uintptr_t exe_pcs[NPCS], libc_pcs[NPCS];
	static struct shim_frame frames[NPCS];
	int rep = argc > 1 ? atoi(argv[1]) : 3;
	double t[MAXREP], total = 0;
	struct shim_model m;

	/* the shim's constructor is linked in: keep its profiler and exit flush out */
	if (!getenv("SHIMMER_DISABLE") || strcmp(getenv("SHIMMER_DISABLE"), "1") != 0) {
		setenv("SHIMMER_DISABLE", "1", 1);
		execv("/proc/self/exe", argv);
		return 2;
	}
	if (rep < 1 || rep > MAXREP || pcs_of("", exe_pcs) != 0 || pcs_of("libc.so.6", libc_pcs) != 0)
		return 2;

	for (int r = 0; r < rep; r++)
		t[r] = symbolize(exe_pcs, NULL);
	printf("sym exe %d %.3f\n", NPCS, median(t, rep));
	total += t[rep / 2];
	for (int r = 0; r < rep; r++)
		t[r] = symbolize(libc_pcs, NULL);
	printf("sym libc %d %.3f\n", NPCS, median(t, rep));

	symbolize(exe_pcs, frames);
	build(&m, frames, exe_pcs);
	printf("model samples %llu stacks %zu funcs %zu locs %zu edges %zu\n",
	       (unsigned long long)m.samples, m.nstacks, m.nfuncs, m.nlocs, m.nedges);
	for (size_t w = 0; w < sizeof(writers) / sizeof(writers[0]); w++) {
		size_t len = 0;
		for (int r = 0; r < rep; r++) {
			struct shim_sink s;
			double t0;
			shim_sink_init(&s);
			t0 = bench_now();
			if (writers[w].fn(&m, &s) != 0 || s.failed)
				return 4;
			t[r] = (bench_now() - t0) / 1e6;
			len = s.len;
			if (argc > 2 && r == 0) {
				char path[512];
				FILE *f;
				snprintf(path, sizeof(path), "%s/%s", argv[2], writers[w].file);
				if (!(f = fopen(path, "wb")) || fwrite(s.buf, 1, s.len, f) != s.len)
					return 5;
				fclose(f);
			}
			shim_sink_free(&s);
		}
		printf("writer %s %.3f %zu\n", writers[w].name, median(t, rep), len);
		total += t[rep / 2];
	}
	printf("total %.3f\n", total);
	fflush(stdout);
	_exit(0); /* the model's memory is the OS's to take back */
}
