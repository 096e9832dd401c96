/* SPDX-License-Identifier: MIT */
/* The heap part of the model: every interned allocation stack of the heap
 * sampler, symbolized once per distinct address into its own mappings,
 * functions and locations (the CPU part's shapes), leading "operator new"
 * frames left out, with the estimated bytes and objects allocated (every
 * sample) and in use (samples still live now). Export time only: allocates
 * freely; the sampler keeps running meanwhile. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "heap.h"
#include "intern.h"
#include "libs.h"
#include "model.h"


struct build {
	struct shim_model_heap *h;
	struct shim_symtab syms;
	size_t cap_maps;
	/* heap stack id -> 1 + index into h->stacks, 0 none: a mapping of its
	 * own, so only the entries set are pages touched (a memset of -1 was 16
	 * faults, and calloc clears what it takes from the heap's top) */
	int32_t *of_id;
	int failed;
};


#define OF_ID_BYTES (SHIM_HEAP_STACKS * sizeof(int32_t))

static int read_mappings(struct build *b)
{
	return shim_model_read_mappings(&b->h->mappings, &b->h->nmappings, &b->cap_maps);
}

static void add_stack(uint32_t id, const uintptr_t *pcs, uint32_t depth, uint64_t samples,
		      double objects, double bytes, void *arg)
{
	struct build *b = arg;
	struct shim_model_heap *h = b->h;
	struct shim_model_stack *s;
	struct shim_model_heap_value *v;
	uint32_t *locs, skip;

	if (b->failed || !depth)
		return;
	/* stacks and values grow together: one capacity for both */
	if (h->nstacks % 64 == 0) {
		void *ns = realloc(h->stacks, (h->nstacks + 64) * sizeof(*h->stacks));
		void *nv = ns ? realloc(h->values, (h->nstacks + 64) * sizeof(*h->values)) : NULL;
		if (ns)
			h->stacks = ns;
		if (!nv)
			goto fail;
		h->values = nv;
	}
	if (!(locs = malloc(depth * sizeof(*locs))))
		goto fail;
	s = &h->stacks[h->nstacks];
	v = &h->values[h->nstacks];
	memset(s, 0, sizeof(*s));
	memset(v, 0, sizeof(*v));
	s->locs = locs;
	h->nstacks++;
	for (uint32_t i = 0; i < depth; i++) {
		/* the call instruction before the return address */
		int64_t li = shim_symtab_loc(&b->syms, (uint64_t)pcs[i] - 1);
		if (li < 0)
			goto fail;
		locs[i] = (uint32_t)li;
		s->depth = i + 1;
	}
	/* the C++ allocation entry points are the allocator, not the code that
	 * allocates (pprof prunes them for tcmalloc the same way) */
	skip = 0;
	while (skip + 1 < s->depth &&
	       !strncmp(h->funcs[h->locs[locs[skip]].func].name, "operator new", 12))
		skip++;
	if (skip) {
		memmove(locs, locs + skip, (s->depth - skip) * sizeof(*locs));
		s->depth -= skip;
	}
	v->samples = samples;
	v->alloc_objects = shim_round_u64(objects);
	v->alloc_space = shim_round_u64(bytes);
	s->count = v->alloc_space;
	b->of_id[id] = (int32_t)h->nstacks;
	return;
fail:
	b->failed = 1;
}

/* Accumulated in doubles, rounded once per stack (inuse_fx pairs with values). */
struct inuse {
	struct build *b;
	double *objs, *bytes;
};

static void add_live(uint32_t id, uint64_t size, void *arg)
{
	struct inuse *u = arg;
	double w = shim_heap_weight(size, u->b->h->mean);
	int32_t i = id < SHIM_HEAP_STACKS ? u->b->of_id[id] - 1 : -1;

	if (i < 0)
		return;
	u->objs[i] += w;
	u->bytes[i] += w * (double)size;
}

/* Self (leaf) and total (anywhere, once per stack) bytes allocated per function. */
static void func_totals(struct shim_model_heap *h)
{
	for (size_t i = 0; i < h->nstacks; i++) {
		const struct shim_model_stack *s = &h->stacks[i];
		for (uint32_t d = 0; d < s->depth; d++) {
			uint32_t f = h->locs[s->locs[d]].func;
			int dup = 0;
			for (uint32_t k = 0; k < d && !dup; k++)
				dup = h->locs[s->locs[k]].func == f;
			if (!dup)
				h->funcs[f].total += s->count;
		}
		if (s->depth)
			h->funcs[h->locs[s->locs[0]].func].self += s->count;
	}
}

int shim_model_build_heap(struct shim_model *m)
{
	struct shim_model_heap *h = &m->heap;
	struct build b;
	struct inuse u = {0};
	struct shim_heap_stats st;

	memset(h, 0, sizeof(*h));
	h->mean = shim_heap_mean();
	if (!h->mean || !shim_heap_samples())
		return 0;
	memset(&b, 0, sizeof(b));
	b.h = h;
	b.syms = SHIM_SYMTAB_OF(h);
	/* zero pages of its own: only those of the ids set are ever touched */
	b.of_id = mmap(NULL, OF_ID_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		       0);
	if (b.of_id == MAP_FAILED)
		b.of_id = NULL;
	if (!b.of_id || read_mappings(&b) != 0)
		goto fail;
	shim_heap_foreach_stack(add_stack, &b);
	if (b.failed)
		goto fail;
	u.b = &b;
	u.objs = calloc(h->nstacks + 1, sizeof(*u.objs));
	u.bytes = calloc(h->nstacks + 1, sizeof(*u.bytes));
	if (!u.objs || !u.bytes)
		goto fail;
	shim_heap_foreach_live(add_live, &u);
	for (size_t i = 0; i < h->nstacks; i++) {
		struct shim_model_heap_value *v = &h->values[i];
		v->inuse_objects = shim_round_u64(u.objs[i]);
		v->inuse_space = shim_round_u64(u.bytes[i]);
		h->samples += v->samples;
		h->alloc_objects += v->alloc_objects;
		h->alloc_space += v->alloc_space;
		h->inuse_objects += v->inuse_objects;
		h->inuse_space += v->inuse_space;
	}
	func_totals(h);
	shim_heap_stats(&st);
	h->dropped = st.dropped;
	free(u.objs);
	free(u.bytes);
	if (b.of_id)
		munmap(b.of_id, OF_ID_BYTES);
	shim_symtab_free(&b.syms);
	return 0;
fail:
	free(u.objs);
	free(u.bytes);
	if (b.of_id)
		munmap(b.of_id, OF_ID_BYTES);
	shim_symtab_free(&b.syms);
	return -1;
}

void shim_model_free_heap(struct shim_model *m)
{
	struct shim_model_heap *h = &m->heap;

	for (size_t i = 0; h->funcs && i < h->nfuncs; i++) {
		free(h->funcs[i].name);
		free(h->funcs[i].file);
		free(h->funcs[i].module);
	}
	for (size_t i = 0; h->stacks && i < h->nstacks; i++)
		free(h->stacks[i].locs);
	for (size_t i = 0; h->mappings && i < h->nmappings; i++) {
		free(h->mappings[i].path);
		free(h->mappings[i].build_id);
	}
	free(h->funcs);
	free(h->locs);
	free(h->stacks);
	free(h->values);
	free(h->mappings);
	memset(h, 0, sizeof(*h));
}
