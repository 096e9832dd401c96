/* SPDX-License-Identifier: MIT */
/* shim/dynsym.h: an object's dynamic symbols read from its dynamic section in
 * memory. The symbol chosen is dladdr's (glibc 2.36 elf/dl-addr.c): of the
 * symbols that are not TLS, not absolute, defined (or with a value), and
 * cover the address (st_size bytes from its value, or exactly its value when
 * st_size is 0), the one with the highest value, the first of equals in
 * symbol order; only the hashed symbols when the object has a GNU hash. */
#include <dlfcn.h>
#include <elf.h>
#include <string.h>

#include "dynsym.h"

struct tables {
	const ElfW(Sym) *sym;
	const char *str;
	uintptr_t strsz;
	uint32_t first, n; /* symbols [first, n) */
};

/* A pointer of the dynamic section: glibc relocates them in place when the
 * section is writable; the vDSO's (read-only) stay offsets. */
static uintptr_t dyn_ptr(const struct link_map *lm, uintptr_t v)
{
	return v && v < lm->l_addr ? v + lm->l_addr : v;
}

/* The symbol count from a GNU hash table: past the highest bucket's chain. */
static uint32_t gnu_count(const uint32_t *h, uint32_t *first)
{
	uint32_t nbuckets = h[0], symoffset = h[1], bloom = h[2], hi = 0;
	const uint32_t *buckets = h + 4 + bloom * (sizeof(ElfW(Addr)) / 4);
	const uint32_t *chain = buckets + nbuckets;

	*first = symoffset;
	for (uint32_t i = 0; i < nbuckets; i++)
		if (buckets[i] > hi)
			hi = buckets[i];
	if (hi < symoffset)
		return symoffset;
	while (!(chain[hi - symoffset] & 1))
		hi++;
	return hi + 1;
}

static int tables_of(const struct link_map *lm, struct tables *t)
{
	const uint32_t *gnu = NULL, *hash = NULL;

	memset(t, 0, sizeof(*t));
	for (const ElfW(Dyn) *d = lm->l_ld; d && d->d_tag != DT_NULL; d++) {
		switch (d->d_tag) {
		case DT_SYMTAB:
			t->sym = (const ElfW(Sym) *)dyn_ptr(lm, d->d_un.d_ptr);
			break;
		case DT_STRTAB:
			t->str = (const char *)dyn_ptr(lm, d->d_un.d_ptr);
			break;
		case DT_STRSZ:
			t->strsz = d->d_un.d_val;
			break;
		case DT_GNU_HASH:
			gnu = (const uint32_t *)dyn_ptr(lm, d->d_un.d_ptr);
			break;
		case DT_HASH:
			hash = (const uint32_t *)dyn_ptr(lm, d->d_un.d_ptr);
			break;
		}
	}
	if (!t->sym || !t->str)
		return -1;
	if (gnu)
		t->n = gnu_count(gnu, &t->first);
	else if (hash)
		t->n = hash[1]; /* nchain: one per symbol */
	else
		return -1;
	return 0;
}

int shim_dynsym_find(uintptr_t pc, struct shim_dynsym *out)
{
	struct dl_find_object fo;
	const ElfW(Sym) *match = NULL;
	struct tables t;

	memset(out, 0, sizeof(*out));
	if (_dl_find_object((void *)pc, &fo) != 0 || !fo.dlfo_link_map)
		return -1;
	out->lm = fo.dlfo_link_map;
	out->base = (uintptr_t)fo.dlfo_map_start;
	if (tables_of(out->lm, &t) != 0)
		return 0;
	for (uint32_t i = t.first; i < t.n; i++) {
		const ElfW(Sym) *s = &t.sym[i];
		uintptr_t v = out->lm->l_addr + s->st_value;
		if (ELF64_ST_TYPE(s->st_info) == STT_TLS || s->st_shndx == SHN_ABS ||
		    (s->st_shndx == SHN_UNDEF && !s->st_value) || pc < v || s->st_name >= t.strsz)
			continue;
		if ((s->st_shndx == SHN_UNDEF || !s->st_size) ? pc != v : pc - v >= s->st_size)
			continue;
		if (!match || match->st_value < s->st_value)
			match = s;
	}
	if (match) {
		out->name = t.str + match->st_name;
		out->addr = out->lm->l_addr + match->st_value;
		out->size = match->st_size;
	}
	return 0;
}
