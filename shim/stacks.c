/* SPDX-License-Identifier: MIT */
/* Stack interning for the sampler: an open-addressing table of PC arrays,
 * filled from the signal handler. Nothing here may allocate, lock or call
 * anything that is not async-signal-safe. */
#include "stacks.h"

uint64_t shim_stk_hash(const uintptr_t *pcs, uint32_t depth)
{
	uint64_t h = 0xcbf29ce484222325ull ^ depth;

	for (uint32_t i = 0; i < depth; i++) {
		h ^= (uint64_t)pcs[i];
		h *= 0x9e3779b97f4a7c15ull;
		h ^= h >> 29;
	}
	return h ? h : 1;
}

static int same(const struct shim_stk_table *t, const struct shim_stk_entry *e,
		const uintptr_t *pcs, uint32_t depth)
{
	const uintptr_t *p = &t->pcs[e->off];

	if (e->depth != depth)
		return 0;
	for (uint32_t i = 0; i < depth; i++)
		if (p[i] != pcs[i])
			return 0;
	return 1;
}

int shim_stk_add(struct shim_stk_table *t, const uintptr_t *pcs, uint32_t depth)
{
	uint64_t h = shim_stk_hash(pcs, depth);
	uint32_t i = (uint32_t)(h >> 17) & (SHIM_STK_SLOTS - 1);

	/* probe a bounded run: a full table costs a drop, never a long scan */
	for (uint32_t n = 0; n < 64; n++) {
		struct shim_stk_entry *e = &t->e[i];
		uint64_t eh = __atomic_load_n(&e->hash, __ATOMIC_ACQUIRE);

		if (eh == h && same(t, e, pcs, depth)) {
			__atomic_store_n(&e->count, e->count + 1, __ATOMIC_RELAXED);
			t->samples++;
			return 0;
		}
		if (eh == 0) {
			if (t->pcs_used + depth > SHIM_STK_PCS || t->nstacks >= SHIM_STK_SLOTS * 3 / 4)
				break;
			for (uint32_t k = 0; k < depth; k++)
				t->pcs[t->pcs_used + k] = pcs[k];
			e->off = t->pcs_used;
			e->depth = depth;
			e->count = 1;
			t->pcs_used += depth;
			t->nstacks++;
			t->samples++;
			/* the reader trusts off/depth/pcs only once it sees the hash */
			__atomic_store_n(&e->hash, h, __ATOMIC_RELEASE);
			return 0;
		}
		i = (i + 1) & (SHIM_STK_SLOTS - 1);
	}
	t->dropped++;
	return -1;
}

void shim_stk_foreach(const struct shim_stk_table *t,
		      void (*fn)(const uintptr_t *pcs, uint32_t depth, uint64_t count, void *arg),
		      void *arg)
{
	for (uint32_t i = 0; i < SHIM_STK_SLOTS; i++) {
		const struct shim_stk_entry *e = &t->e[i];
		uint64_t count;

		if (!__atomic_load_n(&e->hash, __ATOMIC_ACQUIRE))
			continue;
		count = __atomic_load_n(&e->count, __ATOMIC_RELAXED);
		if (count && e->depth && e->off + e->depth <= SHIM_STK_PCS)
			fn(&t->pcs[e->off], e->depth, count, arg);
	}
}
