/* SPDX-License-Identifier: MIT */
/* Shimmer's own tables (the fd table, the thread and profiler slots, the
 * span rings, the heap sampler's tables, the early-sample arena) carved from
 * one reservation instead of an mmap each: every process start made about ten
 * anonymous mappings, a system call and a VMA each. */
#ifndef SHIM_ZONE_H
#define SHIM_ZONE_H

#include <stdatomic.h>
#include <stddef.h>

/* size bytes (rounded up to pages), zeroed, page-aligned, never unmapped (a
 * caller may madvise(MADV_DONTNEED) its own range back to zeroes). From a
 * SHIM_ZONE_BYTES reservation (MAP_NORESERVE: untouched pages cost no
 * memory) made by the first call; past its end, an mmap of their own. NULL
 * when that fails. A fork child keeps what its parent had. errno unchanged.
 * Thread-safe, lock-free. Async-signal-safe: yes. Allocates: no (maps). */
#define SHIM_ZONE_BYTES ((size_t)32 << 20)
void *shim_zone_map(size_t size);

/* A static table of 4 KiB or more: placed after all the small variables
 * (the library is linked with -fdata-sections and --sort-section=name, and
 * "~" sorts last), so that the few hundred small ones share a handful of
 * pages instead of being spread between the tables over twenty: each page a
 * process touches is a fault at its start. */
#define SHIM_BIG __attribute__((section(".bss.~big")))

/* A registry of slots (threads, profiler threads) walked only up to the
 * highest entry ever claimed: its entries' state and slot side by side, from
 * a page of their own, so that a process with one thread touches one page of
 * it (walking all of them read three). shim_reg_count: how far a walk goes;
 * shim_reg_raise: entry i was claimed. Async-signal-safe: yes. */
static inline int shim_reg_count(atomic_int *hi)
{
	return atomic_load_explicit(hi, memory_order_acquire);
}

static inline void shim_reg_raise(atomic_int *hi, int i)
{
	int h = atomic_load_explicit(hi, memory_order_relaxed);

	while (h < i + 1 && !atomic_compare_exchange_weak_explicit(hi, &h, i + 1,
								   memory_order_release,
								   memory_order_relaxed))
		;
}

#endif
