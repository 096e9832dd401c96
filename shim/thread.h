/* SPDX-License-Identifier: MIT */
/* Per-thread state: the guard flags in initial-exec TLS and one slot of exact
 * statistics per live thread, written only by its own thread, merged at export.
 * Slots are mmap'd (never malloc) and reused after their thread exits. */
#ifndef SHIM_THREAD_H
#define SHIM_THREAD_H

#include <stdint.h>

#include "fn.h"

#define SHIM_MAX_THREADS 1024 /* live threads with their own slot; more share none */
#define SHIM_SITE_CAP 2048    /* distinct (function, caller) pairs per thread */
#define SHIM_ERR_CAP 128      /* distinct (function, errno) pairs per thread */
#define SHIM_RES_CAP 4096     /* distinct resources (paths, peers) per process */
#define SHIM_HIST_BUCKETS 16  /* latency buckets per function: 15 bounds and +Inf */

struct shim_stat {
	uint64_t calls;
	uint64_t errors;
	uint64_t ticks; /* clock ticks spent in the real call (shim/clock.h) */
	uint64_t bytes; /* bytes moved, or bytes requested for allocations */
};

struct shim_site {
	const void *pc; /* return address into the caller; NULL = empty */
	uint32_t fn;
	uint32_t pad;
	struct shim_stat st;
};

struct shim_errstat {
	uint32_t fn;
	int32_t err; /* 0 = empty */
	uint64_t count;
};

/* rbytes and wbytes stay adjacent, in this order: the recorder indexes them. */
struct shim_resstat {
	uint64_t ops;
	uint64_t ticks;
	uint64_t rbytes;
	uint64_t wbytes;
	uint64_t errors;
};

/* Rows of shim_thread.hist: one per timed function a thread called, row 0
 * for none, and room for the few a signal handler's race leaves unused. */
#define SHIM_HIST_ROWS (SHIM_FN_COUNT + 9)
_Static_assert(SHIM_HIST_ROWS <= 256, "hist_row is a byte");

/* A slot is written where the thread's calls land, in claiming order: a
 * short process touches a few pages of it (each first write of a page is a
 * fault, about 2 us here), not one for every function and call site. */
struct shim_thread {
	int tid;
	/* 0 in a thread's own slot: fn[] holds only the calls that have no site
	 * (no room, or never attributed, like allocations), and a function's
	 * totals are fn[] plus its sites. 1 in a merged slot (shim_thread_merge's
	 * dst): fn[] holds the totals. */
	int fn_full;
	uint64_t sites_dropped; /* calls whose (fn, caller) found no room */
	uint64_t errs_dropped;
	uint32_t res_hi; /* merged slot: 1 + highest resource id touched */
	uint32_t nhist;	 /* rows of hist[] claimed after row 0 (see shim_hist_of) */
	struct shim_stat fn[SHIM_FN_COUNT]; /* see fn_full */
	/* the site of each function's last call: the recorder's first guess, so
	 * a call from the same place as the last one skips the hash. Points into
	 * this slot; NULL (zeroed pages) means no guess. Never merged. Set only
	 * once the function has its hist row. */
	struct shim_site *last_site[SHIM_FN_COUNT];
	/* calls of each timed function by latency, in the row hist_row[fn]
	 * (0: none yet; row 0 is never counted); hist_fn[] names each row's
	 * function. Bucket i counts calls that took at most shim_hist_le[i]
	 * seconds and more than the bound before; the last one is +Inf
	 * (shim/record.h computes the index from ticks). */
	uint8_t hist_row[SHIM_FN_COUNT];
	uint8_t hist_fn[SHIM_HIST_ROWS];
	uint64_t hist[SHIM_HIST_ROWS][SHIM_HIST_BUCKETS];
	struct shim_errstat err[SHIM_ERR_CAP];
	/* the sites in claiming order, site[0..nsites), and their hash index
	 * (k + 1 for site[k], 0: empty). A claim reserves its entry atomically
	 * and publishes it with a compare-and-swap: a signal handler's call may
	 * claim one in the middle of another. The export reads site[] up to
	 * nsites, not the whole table (96 KiB, mostly pages never touched). */
	uint32_t nsites;
	uint16_t site_ix[SHIM_SITE_CAP];
	struct shim_site site[SHIM_SITE_CAP];
	struct shim_resstat res[SHIM_RES_CAP];
};

/* The thread's own flags. initial-exec TLS: no __tls_get_addr, no malloc.
 * The order is read by shim_tls_guarded/shim_tls_alloc_guarded: in_io,
 * internal and resolving are adjacent so each test is one 8-byte load. */
struct shim_tls {
	int in_io;     /* inside a hooked I/O call: nested I/O hooks pass through */
	int internal;  /* Shimmer's own code runs: every hook passes through */
	int resolving; /* inside dlsym: allocations come from the boot arena */
	int vforked;   /* this thread called vfork: a child may share our memory */
	struct shim_thread *slot;
	/* alloc_home while Shimmer's own code does not run on this thread
	 * (internal and resolving both 0), else NULL: the allocation hooks' one
	 * test for "family on, attached and not Shimmer's own call"
	 * (shim_rec_alloc). Only shim_internal_enter/leave and
	 * shim_resolving_enter/leave move it. */
	struct shim_thread *alloc_slot;
	/* bytes this thread may still allocate before its next heap sample
	 * (shim/heap.h); here so an allocation hook reaches it and the guard
	 * from one TLS base */
	int64_t heap_left;
	/* the program's call site, handed from a hook to its out-of-line
	 * variant (HOOK_XFER's clock_gettime way) */
	const void *caller;
	/* slot, once attached while the allocation family is on; NULL before
	 * (and for good when it is off) */
	struct shim_thread *alloc_home;
};

extern __thread struct shim_tls shim_tls __attribute__((tls_model("initial-exec")));

_Static_assert(__builtin_offsetof(struct shim_tls, internal) == sizeof(int) &&
		       __builtin_offsetof(struct shim_tls, resolving) == 2 * sizeof(int),
	       "in_io, internal and resolving are read in pairs");

/* Nonzero when Shimmer's own code runs or a hooked I/O call is in progress on
 * this thread (in_io | internal, one load). */
static inline __attribute__((always_inline)) int shim_tls_guarded(void)
{
	uint64_t both;

	__builtin_memcpy(&both, &shim_tls.in_io, sizeof(both));
	return both != 0;
}

/* Nonzero when Shimmer's own code runs or the thread is resolving a symbol
 * (internal | resolving, one load): allocations then go uncounted. */
static inline __attribute__((always_inline)) int shim_tls_alloc_guarded(void)
{
	uint64_t both;

	__builtin_memcpy(&both, &shim_tls.internal, sizeof(both));
	return both != 0;
}

/* A section of Shimmer's own code starts on this thread (count: internal, or
 * resolving around a symbol lookup): every hook passes through and
 * allocations go uncounted until the matching shim_guard_leave. Sections
 * nest and interleave; a signal handler's own section in the middle of one
 * is safe (its leave restores alloc_slot only when both counts are back at
 * 0, which they cannot be while this thread is inside). */
static inline __attribute__((always_inline)) void shim_guard_enter(int *count)
{
	++*count;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	shim_tls.alloc_slot = NULL;
}

static inline __attribute__((always_inline)) void shim_guard_leave(int *count)
{
	--*count;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	if (!shim_tls_alloc_guarded())
		shim_tls.alloc_slot = shim_tls.alloc_home;
}

#define shim_internal_enter() shim_guard_enter(&shim_tls.internal)
#define shim_internal_leave() shim_guard_leave(&shim_tls.internal)
#define shim_resolving_enter() shim_guard_enter(&shim_tls.resolving)
#define shim_resolving_leave() shim_guard_leave(&shim_tls.resolving)

/* This thread is Shimmer's for good (its worker, a thread it starts). */
static inline void shim_internal_forever(void)
{
	shim_tls.internal = 1;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	shim_tls.alloc_slot = NULL;
	shim_tls.alloc_home = NULL;
}

/* The allocation family's slot for this thread: alloc_home, and alloc_slot
 * unless Shimmer's own code runs. */
static inline void shim_tls_set_alloc(struct shim_thread *t)
{
	shim_tls.alloc_home = t;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	if (!shim_tls_alloc_guarded())
		shim_tls.alloc_slot = t;
}

/* This thread's slot, attaching one on first use. NULL when every slot is
 * taken (the call is then counted in shim_threads_untracked). errno is kept.
 * Async-signal-safe: yes (lock-free claim, mmap syscall). Allocates: mmap. */
struct shim_thread *shim_thread_attach(void);

static inline struct shim_thread *shim_thread_self(void)
{
	struct shim_thread *t = shim_tls.slot;
	return __builtin_expect(t != NULL, 1) ? t : shim_thread_attach();
}

static inline uint32_t shim_site_hash(uint32_t fn, const void *pc)
{
	uint64_t h = ((uint64_t)(uintptr_t)pc ^ ((uint64_t)fn << 48)) * 0x9e3779b97f4a7c15ull;
	return (uint32_t)(h >> 40);
}

/* The site entry for (fn, pc) in t, claimed if new; NULL when the table is
 * full. Single writer (the owning thread, or the exporter with the registry
 * locked), but a signal handler may claim in the middle of a claim: an entry
 * reserved by the claim that lost the index stays with no calls. Async-signal-safe: yes. */
static inline struct shim_site *shim_site_get(struct shim_thread *t, uint32_t fn, const void *pc)
{
	uint32_t i = shim_site_hash(fn, pc) & (SHIM_SITE_CAP - 1);
	uint32_t k = UINT32_MAX; /* the entry reserved, once there is one */

	for (uint32_t n = 0; n < SHIM_SITE_CAP / 4; n++, i = (i + 1) & (SHIM_SITE_CAP - 1)) {
		uint16_t v = __atomic_load_n(&t->site_ix[i], __ATOMIC_ACQUIRE);
		struct shim_site *s;
		if (!v) {
			if (k == UINT32_MAX) {
				k = __atomic_fetch_add(&t->nsites, 1, __ATOMIC_RELAXED);
				if (k >= SHIM_SITE_CAP)
					return NULL;
				t->site[k].fn = fn;
				__atomic_store_n(&t->site[k].pc, pc, __ATOMIC_RELEASE);
			}
			if (__atomic_compare_exchange_n(&t->site_ix[i], &v, (uint16_t)(k + 1), 0,
							__ATOMIC_RELEASE, __ATOMIC_ACQUIRE))
				return &t->site[k];
		}
		s = &t->site[v - 1];
		if (s->pc == pc && s->fn == fn)
			return s;
	}
	return NULL;
}

/* The number of sites t claimed, and the k-th of them (k below the count);
 * NULL while it is being claimed. */
static inline uint32_t shim_site_count(const struct shim_thread *t)
{
	uint32_t n = __atomic_load_n(&t->nsites, __ATOMIC_ACQUIRE);
	return n < SHIM_SITE_CAP ? n : SHIM_SITE_CAP;
}

static inline const struct shim_site *shim_site_nth(const struct shim_thread *t, uint32_t k)
{
	return __atomic_load_n(&t->site[k].pc, __ATOMIC_ACQUIRE) ? &t->site[k] : NULL;
}

/* fn's latency buckets in t, claiming a row on fn's first call; row 0 (never
 * counted) when the rows ran out. Same writers as shim_site_get. */
static inline uint64_t *shim_hist_of(struct shim_thread *t, unsigned fn)
{
	uint8_t r = __atomic_load_n(&t->hist_row[fn], __ATOMIC_ACQUIRE);

	if (__builtin_expect(!r, 0)) {
		uint32_t k = __atomic_add_fetch(&t->nhist, 1, __ATOMIC_RELAXED);
		if (k >= SHIM_HIST_ROWS)
			return t->hist[0];
		t->hist_fn[k] = (uint8_t)fn;
		/* lost to a signal handler's claim: r is the winner's row */
		if (__atomic_compare_exchange_n(&t->hist_row[fn], &r, (uint8_t)k, 0,
						__ATOMIC_RELEASE, __ATOMIC_ACQUIRE))
			r = (uint8_t)k;
	}
	return t->hist[r];
}

/* fn's latency buckets in t, or NULL when it has none. Readers. */
static inline const uint64_t *shim_hist_find(const struct shim_thread *t, unsigned fn)
{
	uint8_t r = __atomic_load_n(&t->hist_row[fn], __ATOMIC_ACQUIRE);
	return r ? t->hist[r] : NULL;
}

/* The error counter for (fn, err) in t, claimed if new; NULL when full. */
static inline struct shim_errstat *shim_err_get(struct shim_thread *t, uint32_t fn, int err)
{
	uint32_t i = (fn * 131u + (uint32_t)err) & (SHIM_ERR_CAP - 1);
	for (uint32_t n = 0; n < SHIM_ERR_CAP; n++) {
		struct shim_errstat *e = &t->err[i];
		if (e->err == err && e->fn == fn)
			return e;
		if (!e->err) {
			e->fn = fn;
			e->err = err;
			return e;
		}
		i = (i + 1) & (SHIM_ERR_CAP - 1);
	}
	return NULL;
}

/* The latency buckets' upper bounds in seconds (the Prometheus `le`), shared
 * by the recorder and the writers. Constant data. */
extern const double shim_hist_le[SHIM_HIST_BUCKETS - 1];

/* Calls not counted because no slot was free. */
extern uint64_t shim_threads_untracked;

/* Set up the registry (constructor). Returns 0 or -1. */
int shim_thread_init(void);

/* Call fn(slot, arg) for every used slot and for the merged slot of exited
 * threads, with the registry locked (thread exits wait). Export-time only. */
void shim_thread_foreach(void (*fn)(const struct shim_thread *, void *), void *arg);

/* fork handlers: lock before, unlock in the parent, reset in the child so the
 * child counts only its own calls. */
void shim_thread_fork_prepare(void);
void shim_thread_fork_parent(void);
void shim_thread_fork_child(void);

/* Add src's counts into dst; dst's fn[] then holds every function's totals
 * (a thread's own slot keeps them in its sites: see fn_full). Export time or
 * registry locked. */
void shim_thread_merge(struct shim_thread *dst, const struct shim_thread *src);

/* Number of threads seen (attached slots ever). */
uint64_t shim_thread_seen(void);

#endif
