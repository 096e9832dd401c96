/* SPDX-License-Identifier: MIT */
/* Heap profiling by sampled allocations, as tcmalloc, jemalloc and Go do it:
 * every thread counts down the bytes it allocates; the allocation that takes
 * the count to zero or below is sampled (its stack unwound and interned, its
 * pointer entered into a table of live samples) and a new distance is drawn
 * from an exponential distribution with mean SHIMMER_HEAP_SAMPLE bytes. free
 * and realloc find sampled pointers through a small counting filter and a
 * lock-free table. No malloc, no locks, no stdio anywhere here. */
#ifndef SHIM_HEAP_H
#define SHIM_HEAP_H

#include <stddef.h>
#include <stdint.h>

#include "thread.h"

#define SHIM_HEAP_DEPTH 64	    /* frames kept per sampled allocation */
#define SHIM_HEAP_STACKS 16384	    /* distinct allocation stacks (power of two) */
#define SHIM_HEAP_PCS (256 * 1024)  /* PCs stored over all stacks */
#define SHIM_HEAP_FILTER (1u << 16) /* counting filter of live sampled pointers */

/* shim_tls.heap_left (shim/thread.h): bytes this thread may still allocate
 * before its next sample; <= 0 means the next allocation is sampled (0 for a
 * new thread: its first allocation draws the first distance). */

/* Live sampled pointers per filter bucket (saturating at 255: a full bucket
 * stays full and only costs its frees a table probe). */
extern unsigned char shim_heap_filter[SHIM_HEAP_FILTER];

/* The filter bucket of p: one byte per 512-byte granule, so neighbouring
 * blocks share a cache line of the filter (a line covers 32 KiB of heap) and a
 * program's frees touch few filter lines (a hash spread them over all 64 KiB:
 * an L1 miss on nearly every free). A block that shares a granule with a live
 * sample only costs its free a table probe. The granule number g is mixed as
 * g ^ (g >> 7): a bijection of each 32 MiB window onto the buckets that keeps
 * each 64 KiB of heap on two lines of the filter, and moves glibc's thread
 * arenas (64 MiB apart) 1024 buckets apart, so they do not pile onto the same
 * buckets; a shift and an xor, not a multiply, on every free. */
static inline uint32_t shim_heap_bucket(const void *p)
{
	uintptr_t g = (uintptr_t)p >> 9;

	return (uint32_t)(g ^ (g >> 7)) & (SHIM_HEAP_FILTER - 1);
}

/* The sampling decision of an allocation of n bytes that returned p, and
 * the sample itself when due. Async-signal-safe: no (it unwinds; libunwind
 * may take the loader lock). Allocates: no. Locks: none. errno: kept. */
void shim_heap_sample(void *p, size_t n);

/* Forget p if it is a live sampled pointer. Returns its entry (for
 * shim_heap_restore) or 0 when p was not sampled. Allocates: no. Locks: none. */
uint64_t shim_heap_forget(const void *p);

/* Put back the entry shim_heap_forget returned (a realloc that failed). */
void shim_heap_restore(const void *p, uint64_t entry);

/* From the SIGPROF handler, in the thread it interrupted: make this thread's
 * next allocation take the slow path (shim_heap_sample) once, whatever the
 * sampling state, so that it replays the thread's early CPU samples
 * (shim_profiler_catch_up) from a normal context. The sampling distance is
 * kept: the slow path adds back what the poke took. Async-signal-safe: yes. */
void shim_heap_poke(void);

/* A poke the slow path has not served yet: then the countdown is at or below
 * 0, whatever the thread allocated since (read for tests). */
int shim_heap_poke_pending(void);

/* Take n bytes off this thread's countdown: nonzero when the allocation is
 * due for shim_heap_sample. One subtraction from memory that sets the flags
 * the branch reads: a SIGPROF handler's poke (shim_heap_poke) lands before or
 * after it, never between a load and a store that would write back the
 * distance the poke took away (the poke lost, and the thread's next real
 * sample skipped by the slow path that put the distance back). Elsewhere a
 * relaxed atomic subtraction, which is as whole with respect to a handler. */
static inline __attribute__((always_inline)) int shim_heap_due(size_t n)
{
#if defined(__x86_64__)
	int due;

	__asm__("subq %2, %0" : "+m"(shim_tls.heap_left), "=@ccle"(due) : "er"((int64_t)n));
	return due;
#else
	return __atomic_sub_fetch(&shim_tls.heap_left, (int64_t)n, __ATOMIC_RELAXED) <= 0;
#endif
}

/* Hot path of every allocation hook: one thread-local subtraction. */
static inline __attribute__((always_inline)) void shim_heap_alloc(void *p, size_t n)
{
	if (__builtin_expect(shim_heap_due(n), 0))
		shim_heap_sample(p, n);
}

/* Hot path of free and realloc: one filter load. Returns what
 * shim_heap_forget returned (0 for nearly every pointer). */
static inline __attribute__((always_inline)) uint64_t shim_heap_free(const void *p)
{
	if (__builtin_expect(shim_heap_filter[shim_heap_bucket(p)] != 0, 0))
		return shim_heap_forget(p);
	return 0;
}

/* Saturate the filter buckets of [p, p + n) for good: frees and reallocs
 * there take the hooks' full path (the boot arena's blocks, which free must
 * recognise). Before the block is handed out. Async-signal-safe: yes. */
void shim_heap_filter_mark(const void *p, size_t n);

/* Read SHIMMER_HEAP_SAMPLE from shim_config and map the tables (the
 * unwinder is loaded by the first sample's walk). Returns 0, or -1 with one "shimmer: " line (heap profiling is
 * then off). Constructor only. */
int shim_heap_init(void);

/* Mean bytes between samples; 0 when heap profiling is off. */
uint64_t shim_heap_mean(void);

/* Sampled allocations so far (live or freed); threads add theirs in batches
 * of up to 64, so this lags, but is nonzero once any sample was taken. */
uint64_t shim_heap_samples(void);

/* The unbiased weight of one sampled allocation of `size` bytes at `mean`:
 * how many allocations of that size it stands for, 1 / (1 - exp(-size/mean))
 * (Go's scaleHeapSample). 1 when every allocation is sampled. Pure. */
double shim_heap_weight(uint64_t size, uint64_t mean);

/* 1 - e^-t for t >= 0 (0 for t <= 0), to a few ulps, libm-free: the weight's
 * denominator, also for small t where 1 - exp(-t) keeps few digits. Pure. */
double shim_heap_one_minus_exp_neg(double t);

/* An Exp(1) variate from the calling thread's generator (von Neumann's
 * method: no logarithm, no libm): the sampler's intervals are this times
 * the mean. Async-signal-safe: yes. Allocates: no. */
double shim_heap_exp1(void);

struct shim_heap_stats {
	uint64_t samples;	     /* sampled allocations counted */
	uint64_t dropped;	     /* sampled, but no room for the stack (not
				      * counted), or no room for the pointer
				      * (counted, never in use) */
	uint64_t freed;		     /* sampled allocations freed since */
	uint64_t live_bytes;	     /* estimated bytes in use now (sampled, scaled) */
	uint64_t peak_bytes;	     /* the highest live_bytes seen */
	uint64_t alloc_bytes;	     /* estimated bytes allocated in all */
	uint64_t alloc_objects;	     /* estimated allocations in all */
};

/* Counters so far. Safe at any time (relaxed reads). samples, freed,
 * live_bytes and peak_bytes lag by up to 64 events or 1 MiB a thread:
 * threads add to them in batches. */
void shim_heap_stats(struct shim_heap_stats *s);

/* Call fn for every interned stack (id, pcs leaf first as return addresses,
 * depth, sampled allocations, estimated objects and bytes allocated). Export
 * time; safe while other threads keep sampling. */
void shim_heap_foreach_stack(void (*fn)(uint32_t id, const uintptr_t *pcs, uint32_t depth,
					uint64_t samples, double objects, double bytes, void *arg),
			     void *arg);

/* Call fn(stack id, size) for every live sampled allocation. Export time. */
void shim_heap_foreach_live(void (*fn)(uint32_t id, uint64_t size, void *arg), void *arg);

#endif
