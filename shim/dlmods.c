/* SPDX-License-Identifier: MIT */
/* The table of unloaded objects. Filled from the dlclose hook without malloc,
 * stdio or a lock of ours: a slot is claimed with a compare-and-swap, filled,
 * and published (or given back) after the real dlclose. Read at export. A
 * library's pages are gone after dlclose, so everything is copied before. */
#include <dlfcn.h>
#include <elf.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/auxv.h>

#include "dlmods.h"
#include "zone.h"

enum { FREE, CLAIMING, USED };

static struct shim_dlmod mods[SHIM_DLMODS] SHIM_BIG;
static atomic_int state[SHIM_DLMODS] SHIM_BIG;
static atomic_uint_fast64_t seq;
static atomic_uint_fast64_t dropped;
static struct {
	uintptr_t lo, hi;
} ours[16]; /* spans of objects Shimmer loaded at export */
static int nours, ours_mark;

size_t shim_dlmod_build_id(const struct dl_phdr_info *info, unsigned char *out, size_t cap)
{
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		const unsigned char *p, *end;
		size_t align = ph->p_align == 8 ? 8 : 4;

		if (ph->p_type != PT_NOTE)
			continue;
		p = (const unsigned char *)(info->dlpi_addr + ph->p_vaddr);
		end = p + ph->p_memsz;
		while (p + sizeof(ElfW(Nhdr)) <= end) {
			const ElfW(Nhdr) *n = (const ElfW(Nhdr) *)p;
			const unsigned char *name = p + sizeof(*n);
			const unsigned char *desc = name + ((n->n_namesz + align - 1) & ~(align - 1));
			const unsigned char *next = desc + ((n->n_descsz + align - 1) & ~(align - 1));
			if (next > end || next <= p)
				break;
			if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 &&
			    memcmp(name, "GNU", 4) == 0 && n->n_descsz && n->n_descsz <= cap) {
				memcpy(out, desc, n->n_descsz);
				return n->n_descsz;
			}
			p = next;
		}
	}
	return 0;
}

struct fill {
	struct shim_dlmod *m;
	const struct link_map *lm;
	int found;
};

static int fill_one(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct fill *f = arg;
	struct shim_dlmod *m = f->m;
	uintptr_t page = getauxval(AT_PAGESZ), mask;
	size_t n;

	(void)size;
	if (info->dlpi_addr != f->lm->l_addr || !info->dlpi_name ||
	    strcmp(info->dlpi_name, f->lm->l_name) != 0)
		return 0;
	n = strlen(info->dlpi_name);
	if (n >= sizeof(m->path))
		return 1;
	memcpy(m->path, info->dlpi_name, n + 1);
	mask = ~((page ? page : 4096) - 1);
	m->bias = info->dlpi_addr;
	m->nseg = 0;
	m->lo = UINTPTR_MAX;
	m->hi = 0;
	for (int i = 0; i < info->dlpi_phnum && m->nseg < SHIM_DLMOD_SEGS; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		struct shim_dlmod_seg *s = &m->seg[m->nseg];
		if (ph->p_type != PT_LOAD)
			continue;
		s->start = (info->dlpi_addr + ph->p_vaddr) & mask;
		s->limit = (info->dlpi_addr + ph->p_vaddr + ph->p_memsz + ~mask) & mask;
		s->offset = ph->p_offset & mask;
		s->exec = (ph->p_flags & PF_X) != 0;
		if (s->start < m->lo)
			m->lo = s->start;
		if (s->limit > m->hi)
			m->hi = s->limit;
		m->nseg++;
	}
	m->build_id_len = shim_dlmod_build_id(info, m->build_id, sizeof(m->build_id));
	f->found = m->nseg > 0;
	return 1;
}

struct loaded {
	uintptr_t bias, lo, hi; /* match by bias and path, or by any overlap */
	const char *path;
	int hit;
	int index; /* objects seen so far */
};

static void span(const struct dl_phdr_info *info, uintptr_t *lo, uintptr_t *hi)
{
	*lo = UINTPTR_MAX;
	*hi = 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t a = info->dlpi_addr + ph->p_vaddr;
		if (ph->p_type != PT_LOAD)
			continue;
		if (a < *lo)
			*lo = a;
		if (a + ph->p_memsz > *hi)
			*hi = a + ph->p_memsz;
	}
}

static int is_ours(const struct dl_phdr_info *info)
{
	uintptr_t lo, hi;

	span(info, &lo, &hi);
	for (int i = 0; i < nours; i++)
		if (ours[i].lo == lo && ours[i].hi == hi)
			return 1;
	return 0;
}

static int is_loaded(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct loaded *q = arg;

	(void)size;
	if (q->path) {
		q->hit = info->dlpi_addr == q->bias && info->dlpi_name &&
			 strcmp(info->dlpi_name, q->path) == 0;
		return q->hit;
	}
	if (nours && is_ours(info))
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t a = info->dlpi_addr + ph->p_vaddr;
		if (ph->p_type == PT_LOAD && a < q->hi && a + ph->p_memsz > q->lo)
			return q->hit = 1;
	}
	return 0;
}

void *shim_dlmod_capture(void *handle)
{
	struct link_map *lm = NULL;
	struct fill f;

	if (!handle || dlinfo(handle, RTLD_DI_LINKMAP, &lm) != 0 || !lm || !lm->l_name ||
	    !lm->l_name[0])
		return NULL;
	for (int i = 0; i < SHIM_DLMODS; i++) {
		/* unloaded before at the same place: it is remembered, and now the
		 * latest object there */
		if (atomic_load_explicit(&state[i], memory_order_acquire) == USED &&
		    mods[i].bias == lm->l_addr && strcmp(mods[i].path, lm->l_name) == 0) {
			mods[i].seq = atomic_fetch_add(&seq, 1) + 1;
			return NULL;
		}
	}
	for (int i = 0; i < SHIM_DLMODS; i++) {
		int expect = FREE;
		if (atomic_load_explicit(&state[i], memory_order_relaxed) != FREE ||
		    !atomic_compare_exchange_strong(&state[i], &expect, CLAIMING))
			continue;
		f.m = &mods[i];
		f.lm = lm;
		f.found = 0;
		dl_iterate_phdr(fill_one, &f);
		if (f.found)
			return &mods[i];
		atomic_store(&state[i], FREE);
		return NULL;
	}
	atomic_fetch_add(&dropped, 1);
	return NULL;
}

void shim_dlmod_commit(void *slot, int r)
{
	struct shim_dlmod *m = slot;
	struct loaded q;
	int i;

	if (!m)
		return;
	i = (int)(m - mods);
	memset(&q, 0, sizeof(q));
	q.bias = m->bias;
	q.path = m->path;
	/* a dlclose that only dropped a reference leaves the object in place */
	if (r == 0)
		dl_iterate_phdr(is_loaded, &q);
	if (r != 0 || q.hit) {
		atomic_store(&state[i], FREE);
		return;
	}
	m->seq = atomic_fetch_add(&seq, 1) + 1;
	atomic_store_explicit(&state[i], USED, memory_order_release);
}

static int shadowed(int i)
{
	struct loaded q;

	for (int j = 0; j < SHIM_DLMODS; j++)
		if (j != i && atomic_load_explicit(&state[j], memory_order_acquire) == USED &&
		    mods[j].seq > mods[i].seq && mods[j].lo < mods[i].hi && mods[j].hi > mods[i].lo)
			return 1;
	memset(&q, 0, sizeof(q));
	q.lo = mods[i].lo;
	q.hi = mods[i].hi;
	dl_iterate_phdr(is_loaded, &q);
	return q.hit;
}

void shim_dlmod_foreach(void (*fn)(const struct shim_dlmod *, void *), void *arg)
{
	for (int i = 0; i < SHIM_DLMODS; i++)
		if (atomic_load_explicit(&state[i], memory_order_acquire) == USED && !shadowed(i))
			fn(&mods[i], arg);
}

const struct shim_dlmod *shim_dlmod_find(uintptr_t pc)
{
	const struct shim_dlmod *best = NULL;

	for (int i = 0; i < SHIM_DLMODS; i++) {
		if (atomic_load_explicit(&state[i], memory_order_acquire) != USED)
			continue;
		for (int k = 0; k < mods[i].nseg; k++)
			if (pc >= mods[i].seg[k].start && pc < mods[i].seg[k].limit &&
			    (!best || mods[i].seq > best->seq))
				best = &mods[i];
	}
	return best;
}

static int count_objects(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct loaded *q = arg;

	(void)size;
	/* the list is in load order: what our dlopen added comes last */
	if (q->index++ >= ours_mark && nours < (int)(sizeof(ours) / sizeof(ours[0])) &&
	    q->path) {
		span(info, &ours[nours].lo, &ours[nours].hi);
		nours++;
	}
	return 0;
}

void shim_dlmod_ours_begin(void)
{
	struct loaded q;

	memset(&q, 0, sizeof(q));
	ours_mark = INT_MAX;
	dl_iterate_phdr(count_objects, &q);
	ours_mark = q.index;
}

void shim_dlmod_ours_end(void)
{
	struct loaded q;

	memset(&q, 0, sizeof(q));
	q.path = ""; /* record */
	dl_iterate_phdr(count_objects, &q);
}

size_t shim_dlmod_count(void)
{
	size_t n = 0;

	for (int i = 0; i < SHIM_DLMODS; i++)
		n += atomic_load_explicit(&state[i], memory_order_acquire) == USED;
	return n;
}

uint64_t shim_dlmod_dropped(void)
{
	return atomic_load(&dropped);
}
