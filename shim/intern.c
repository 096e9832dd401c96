/* SPDX-License-Identifier: MIT */
/* Interning tables for the model builders (CPU and heap samples): a map from
 * a 64-bit key to an index, a name hash and array growth. Export time only:
 * allocates. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "intern.h"
#include "symbols.h"

static int imap_grow(struct shim_imap *m)
{
	struct shim_imap g = {0};

	g.cap = m->cap ? m->cap * 2 : 1024;
	g.keys = calloc(g.cap, sizeof(*g.keys));
	g.vals = calloc(g.cap, sizeof(*g.vals));
	if (!g.keys || !g.vals) {
		free(g.keys);
		free(g.vals);
		return -1;
	}
	for (size_t i = 0; i < m->cap; i++) {
		size_t j;
		if (!m->keys[i])
			continue;
		j = (m->keys[i] * 0x9e3779b97f4a7c15ull) >> 20 & (g.cap - 1);
		while (g.keys[j])
			j = (j + 1) & (g.cap - 1);
		g.keys[j] = m->keys[i];
		g.vals[j] = m->vals[i];
	}
	g.n = m->n;
	free(m->keys);
	free(m->vals);
	*m = g;
	return 0;
}

/* The slot for key: *found says whether it holds key already. NULL: no memory. */
uint32_t *shim_imap_slot(struct shim_imap *m, uint64_t key, int *found)
{
	size_t j;

	if ((m->n + 1) * 2 > m->cap && imap_grow(m) != 0)
		return NULL;
	j = (key * 0x9e3779b97f4a7c15ull) >> 20 & (m->cap - 1);
	while (m->keys[j] && m->keys[j] != key)
		j = (j + 1) & (m->cap - 1);
	*found = m->keys[j] == key;
	if (!*found) {
		m->keys[j] = key;
		m->n++;
	}
	return &m->vals[j];
}

void shim_imap_free(struct shim_imap *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}

uint64_t shim_str_hash(const char *a, const char *b)
{
	uint64_t h = 0xcbf29ce484222325ull;
	for (; *a; a++)
		h = (h ^ (unsigned char)*a) * 0x100000001b3ull;
	h = (h ^ 0xff) * 0x100000001b3ull;
	for (; *b; b++)
		h = (h ^ (unsigned char)*b) * 0x100000001b3ull;
	return h ? h : 1;
}

int shim_grow(void **arr, size_t *cap, size_t n, size_t size)
{
	void *p;
	size_t ncap;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 64;
	p = realloc(*arr, ncap * size);
	if (!p)
		return -1;
	*arr = p;
	*cap = ncap;
	return 0;
}

static int64_t intern_func(struct shim_symtab *t, struct shim_frame *f)
{
	int found;
	uint32_t *v = shim_imap_slot(&t->funcmap,
				     shim_str_hash(f->path ? f->path : f->module, f->func), &found);
	struct shim_model_func *fn;

	if (!v)
		return -1;
	if (found)
		return *v;
	if (shim_grow((void **)t->funcs, &t->cap_funcs, *t->nfuncs, sizeof(*fn)) != 0)
		return -1;
	fn = &(*t->funcs)[*t->nfuncs];
	memset(fn, 0, sizeof(*fn));
	fn->name = f->func;
	fn->file = f->file;
	fn->module = f->module;
	fn->line = f->line;
	fn->call = -1;
	f->func = f->file = f->module = NULL; /* the model owns them now */
	*v = (uint32_t)*t->nfuncs;
	return (int64_t)(*t->nfuncs)++;
}

int64_t shim_symtab_loc(struct shim_symtab *t, uint64_t addr)
{
	int found;
	uint32_t *v = shim_imap_slot(&t->locmap, addr ? addr : ~0ull, &found);
	struct shim_frame f;
	struct shim_model_loc *l;
	int64_t fi;

	if (!v)
		return -1;
	if (found)
		return *v;
	if (shim_sym_pc((uintptr_t)addr, &f) != 0)
		return -1;
	fi = intern_func(t, &f);
	if (fi < 0 || shim_grow((void **)t->locs, &t->cap_locs, *t->nlocs, sizeof(*l)) != 0) {
		shim_sym_frame_free(&f);
		return -1;
	}
	l = &(*t->locs)[*t->nlocs];
	l->address = addr;
	l->mapping = UINT32_MAX;
	for (size_t i = *t->nmappings; i-- > 0;)
		if (addr >= (*t->mappings)[i].start && addr < (*t->mappings)[i].limit) {
			l->mapping = (uint32_t)i;
			break;
		}
	l->func = (uint32_t)fi;
	l->line = f.pc_line;
	shim_sym_frame_free(&f);
	*v = (uint32_t)*t->nlocs;
	return (int64_t)(*t->nlocs)++;
}

void shim_symtab_free(struct shim_symtab *t)
{
	shim_imap_free(&t->funcmap);
	shim_imap_free(&t->locmap);
}
