/* SPDX-License-Identifier: MIT */
/* A hand-built model for the writers' unit tests: two threads, six distinct
 * stacks (110 samples at 10 ms), two intercepted functions with exact callers,
 * an unnamed frame (module+0xoffset), names that need escaping and one with a
 * byte that is not UTF-8. Self/total/edges are derived from the stacks the way
 * the model defines them (once per sample). Static storage: do not free. */
#ifndef TEST_MODEL_FIXTURE_H
#define TEST_MODEL_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../shim/model.h"

enum { F_MAIN, F_WORK, F_SPIN, F_DOWR, F_WRITE, F_MEMCPY, F_ANON, F_TMPL, F_BAD, F_N };

static struct shim_model_func fx_funcs[F_N] = {
	{.name = "main", .file = "t.c", .line = 10, .module = "t_prog", .call = -1},
	{.name = "work", .file = "t.c", .line = 30, .module = "t_prog", .call = -1},
	{.name = "spin", .file = "t.c", .line = 40, .module = "t_prog", .call = -1},
	{.name = "do_writes", .file = "t.c", .line = 18, .module = "t_prog", .call = -1},
	{.name = "write", .file = "libc.so.6", .line = 0, .module = "libc.so.6", .call = 0},
	{.name = "memcpy", .file = "libc.so.6", .line = 0, .module = "libc.so.6", .call = -1},
	{.name = "t_prog+0x1234", .file = "t_prog", .line = 0, .module = "t_prog", .call = -1},
	{.name = "tmpl<a&b;c>", .file = "t.c", .line = 50, .module = "t_prog", .call = -1},
	{.name = "bad\xffname", .file = "t.c", .line = 60, .module = "t_prog", .call = -1},
};

static struct shim_model_loc fx_locs[F_N];
static struct shim_model_mapping fx_maps[2] = {
	{.start = 0x400000, .limit = 0x500000, .offset = 0, .path = "/usr/lib/x86_64-linux-gnu/libc.so.6",
	 .build_id = "0123456789abcdef"},
	{.start = 0x10000, .limit = 0x20000, .offset = 0, .path = "/opt/t/t_prog", .build_id = NULL},
};

static uint32_t fx_s0[] = {F_SPIN, F_WORK, F_MAIN};
static uint32_t fx_s1[] = {F_WORK, F_MAIN};
static uint32_t fx_s2[] = {F_WRITE, F_DOWR, F_MAIN};
static uint32_t fx_s3[] = {F_SPIN, F_WORK, F_MAIN};
static uint32_t fx_s4[] = {F_MEMCPY, F_ANON, F_MAIN};
static uint32_t fx_s5[] = {F_TMPL, F_BAD, F_MAIN};

static struct shim_model_stack fx_stacks[] = {
	{.locs = fx_s0, .depth = 3, .tid = 100, .count = 60},
	{.locs = fx_s1, .depth = 2, .tid = 100, .count = 30},
	{.locs = fx_s2, .depth = 3, .tid = 100, .count = 5},
	{.locs = fx_s3, .depth = 3, .tid = 101, .count = 10},
	{.locs = fx_s4, .depth = 3, .tid = 101, .count = 3},
	{.locs = fx_s5, .depth = 3, .tid = 101, .count = 2},
};
#define FX_NSTACKS (sizeof(fx_stacks) / sizeof(fx_stacks[0]))

static struct shim_model_edge fx_edges[32];
static struct shim_model_thread fx_threads[2] = {
	{.tid = 100, .name = "t_prog", .samples = 95, .cpu_seconds = 0.95, .period_ns = 1e7},
	{.tid = 101, .name = "worker", .samples = 15, .cpu_seconds = 0.15, .period_ns = 1e7},
};

static struct shim_model_caller fx_write_callers[1];
static struct shim_model_caller fx_open_callers[1];
static struct shim_model_call fx_calls[3] = {
	{.name = "write", .module = "libc.so.6", .family = 1, .calls = 1000, .bytes = 100000, .seconds = 0.05,
	 .callers = fx_write_callers, .ncallers = 1},
	{.name = "open", .module = "libc.so.6", .family = 1, .calls = 17, .errors = 17, .seconds = 0.002,
	 .callers = fx_open_callers, .ncallers = 1},
	/* more calls than 32 bits hold: pstats needs TYPE_LONG for it */
	{.name = "malloc", .module = "libc.so.6", .calls = 5000000000ull, .seconds = 0},
};

static inline void fx_edge(struct shim_model *m, uint32_t caller, uint32_t callee, uint64_t n)
{
	for (size_t i = 0; i < m->nedges; i++)
		if (m->edges[i].caller == caller && m->edges[i].callee == callee) {
			m->edges[i].samples += n;
			m->edges[i].seconds = (double)m->edges[i].samples * 0.01;
			return;
		}
	m->edges[m->nedges].caller = caller;
	m->edges[m->nedges].callee = callee;
	m->edges[m->nedges].samples = n;
	m->edges[m->nedges].seconds = (double)n * 0.01;
	m->nedges++;
}

/* Fill m with the fixture; with samples = 0, only the intercepted calls. */
static inline void fixture_build(struct shim_model *m, int samples)
{
	memset(m, 0, sizeof(*m));
	memset(fx_edges, 0, sizeof(fx_edges));
	m->pid = 4242;
	m->ppid = 1;
	snprintf(m->exe, sizeof(m->exe), "t_prog");
	m->start_unix_ns = 1700000000000000000ull;
	m->wall_seconds = 1.5;
	m->threads = 2;
	fx_write_callers[0] = (struct shim_model_caller){
		.where = {.module = "t_prog", .file = "t.c", .line = 21, .func = "do_writes"},
		.calls = 1000, .bytes = 100000, .seconds = 0.05};
	fx_open_callers[0] = (struct shim_model_caller){
		.where = {.module = "t_prog", .file = "t.c", .line = 25, .func = "fail_opens"},
		.calls = 17, .seconds = 0.002};
	m->calls = fx_calls;
	m->ncalls = 3;
	if (!samples)
		return;
	m->hz = 99;
	m->period_ns = 1e7;
	m->mappings = fx_maps;
	m->nmappings = 2;
	m->funcs = fx_funcs;
	m->nfuncs = F_N;
	for (uint32_t i = 0; i < F_N; i++) {
		fx_locs[i].address = 0x10100 + 0x10 * i;
		fx_locs[i].mapping = fx_funcs[i].module[0] == 'l' ? 0 : 1;
		fx_locs[i].func = i;
		fx_locs[i].line = fx_funcs[i].line ? fx_funcs[i].line + 2 : 0;
		fx_funcs[i].self = fx_funcs[i].total = 0;
	}
	m->locs = fx_locs;
	m->nlocs = F_N;
	m->stacks = fx_stacks;
	m->nstacks = FX_NSTACKS;
	m->edges = fx_edges;
	m->threads_info = fx_threads;
	m->nthreads = 2;
	for (size_t i = 0; i < FX_NSTACKS; i++) {
		struct shim_model_stack *s = &fx_stacks[i];
		s->seconds = (double)s->count * 0.01;
		m->samples += s->count;
		fx_funcs[s->locs[0]].self += s->count;
		for (uint32_t d = 0; d < s->depth; d++) {
			fx_funcs[s->locs[d]].total += s->count;
			if (d + 1 < s->depth)
				fx_edge(m, s->locs[d + 1], s->locs[d], s->count);
		}
	}
	for (uint32_t i = 0; i < F_N; i++) {
		fx_funcs[i].self_seconds = (double)fx_funcs[i].self * 0.01;
		fx_funcs[i].total_seconds = (double)fx_funcs[i].total * 0.01;
	}
}

/* Write a sink to a fresh temporary file; returns its path (static buffer). */
static inline const char *fixture_file(const struct shim_sink *s, const char *suffix)
{
	static char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "/tmp/shimmer-unit-%d%s", (int)getpid(), suffix);
	f = fopen(path, "wb");
	if (!f)
		return NULL;
	fwrite(s->buf ? s->buf : "", 1, s->len, f);
	fclose(f);
	return path;
}

/* Whether a program is on PATH (the real consumers are optional in a unit run). */
static inline int have(const char *prog)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", prog);
	return system(cmd) == 0;
}

#endif
