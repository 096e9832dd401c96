/* SPDX-License-Identifier: MIT */
/* Interned call stacks of one thread: the profiler's signal handler adds each
 * sample's PC array here (hash, probe, count), so memory is bounded by distinct
 * stacks, not by run time. One writer (the owning thread's handler); the
 * exporter reads published entries concurrently. */
#ifndef SHIM_STACKS_H
#define SHIM_STACKS_H

#include <stdint.h>

#define SHIM_STK_SLOTS 8192	  /* distinct stacks per thread (power of two) */
#define SHIM_STK_PCS (128 * 1024) /* PCs stored per thread, over all its stacks */

struct shim_stk_entry {
	uint64_t hash; /* 0 = empty; published last (release) */
	uint64_t count;
	uint32_t off; /* first PC in pcs[] */
	uint32_t depth;
};

/* Lives in mmap'd memory (zero pages until touched): never malloc. */
struct shim_stk_table {
	uint64_t samples; /* kept */
	uint64_t dropped; /* no room for a new stack */
	uint32_t pcs_used;
	uint32_t nstacks;
	struct shim_stk_entry e[SHIM_STK_SLOTS];
	uintptr_t pcs[SHIM_STK_PCS]; /* pcs[off] is the leaf of its stack */
};

/* Hash of a PC array; never 0. Pure, async-signal-safe. */
uint64_t shim_stk_hash(const uintptr_t *pcs, uint32_t depth);

/* Count one sample of the stack pcs[0..depth) (leaf first) in t, interning it
 * when new. Returns 0, or -1 when the table has no room (t->dropped counts it).
 * Async-signal-safe: yes. Allocates: no. Locks: none. Single writer per table. */
int shim_stk_add(struct shim_stk_table *t, const uintptr_t *pcs, uint32_t depth);

/* Call fn(pcs, depth, count, arg) for every published stack of t with a
 * nonzero count. Export time; safe while the owner keeps adding. */
void shim_stk_foreach(const struct shim_stk_table *t,
		      void (*fn)(const uintptr_t *pcs, uint32_t depth, uint64_t count, void *arg),
		      void *arg);

#endif
