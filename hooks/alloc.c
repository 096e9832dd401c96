/* SPDX-License-Identifier: MIT */
/* Allocation family: counted per function (calls, failures, and bytes asked
 * for by the calls that succeeded; munmap: bytes given back), never timed one
 * by one: a malloc+free pair must stay within a few ns. Heap blocks also feed
 * the byte-sampling heap profiler (shim/heap.h: one thread-local subtraction
 * unless sampled). While a thread resolves (dlsym's own calloc) memory comes
 * from the boot arena, which free/realloc recognise. Never calls the malloc
 * family except real_*. */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../shim/heap.h"
#include "../shim/unwind.h"
#include "hook.h"

/* The three hottest start at a first-call stub (below), not NULL, so their
 * fast paths call through the pointer with no test; the stub resolves the
 * real function and puts it in its place. */
static void *malloc_first(size_t n);
static void *realloc_first(void *old, size_t n);
static void free_first(void *p);
static struct {
	__typeof__(&malloc) malloc_fn;
	__typeof__(&realloc) realloc_fn;
	__typeof__(&free) free_fn;
	/* a line of their own: every allocation reads them, and a counter
	 * the linker put beside them would pass the line between threads */
	char pad[64 - 3 * sizeof(void *)];
} real __attribute__((aligned(64))) = {malloc_first, realloc_first, free_first, {0}};
SHIM_REAL_DECL(calloc);
SHIM_REAL_DECL(posix_memalign);
SHIM_REAL_DECL(aligned_alloc);
SHIM_REAL_DECL(memalign);
SHIM_REAL_DECL(valloc);
SHIM_REAL_DECL(pvalloc);
SHIM_REAL_DECL(mmap);
SHIM_REAL_DECL(mmap64);
SHIM_REAL_DECL(munmap);

#define unlikely(x) __builtin_expect(!!(x), 0)

/* Set once the arena served anything: until then (often for the whole run)
 * the full paths of free and realloc need not ask whether a pointer is the
 * arena's. Their fast paths never ask: an arena block's filter buckets are
 * saturated before it is handed out, which sends it to the full path. */
static int boot_seen;

static void *boot_alloc(size_t n)
{
	void *p;

	__atomic_store_n(&boot_seen, 1, __ATOMIC_RELAXED);
	p = shim_boot_alloc(n);
	if (p)
		shim_heap_filter_mark(p, n);
	return p;
}

static inline int boot_owns(const void *p)
{
	return unlikely(__atomic_load_n(&boot_seen, __ATOMIC_RELAXED)) && shim_boot_owns(p);
}

/* Arena memory aligned to `align` (a power of two): dlsym never asks for
 * alignment, but a memalign made while resolving must still be honoured. */
static void *boot_aligned(size_t align, size_t n)
{
	uintptr_t p;

	if (align <= 16)
		return boot_alloc(n);
	if (n > SIZE_MAX - align)
		return NULL;
	p = (uintptr_t)boot_alloc(n + align - 1);
	return p ? (void *)((p + align - 1) & ~(uintptr_t)(align - 1)) : NULL;
}

/* The real function is missing (logged once by the resolver): fail the way
 * an allocator does. */
static void *no_memory(void)
{
	errno = ENOMEM;
	return NULL;
}

/* An arena block cannot grow: move it to the real heap. The old block is
 * never reused, so copying up to the arena's end is safe. */
static void *boot_move(void *old, size_t n)
{
	void *p;
	size_t span;

	p = real.malloc_fn(n);
	if (p && old) {
		span = shim_boot_span(old);
		memcpy(p, old, n < span ? n : span);
	}
	return p;
}

/* After a successful allocation of n bytes at p: the count and the heap
 * countdown. Every call out of here is a tail call, so the hook keeps only n
 * across the real call (one saved register). */
static __attribute__((noinline, cold)) void *alloc_done_slow(unsigned fn, void *p, size_t n)
{
	shim_rec_alloc(fn, n, 0);
	shim_heap_alloc(p, n);
	return p;
}

static __attribute__((noinline, cold)) void *alloc_sampled(void *p, size_t n)
{
	shim_heap_sample(p, n);
	return p;
}

static inline __attribute__((always_inline)) void *alloc_done(unsigned fn, void *p, size_t n)
{
	struct shim_thread *t = shim_tls.alloc_slot;

	/* NULL while Shimmer's own code runs too (shim_internal_enter) */
	if (unlikely(!t))
		return alloc_done_slow(fn, p, n);
	t->fn[fn].calls++;
	t->fn[fn].bytes += n;
	if (unlikely(shim_heap_due(n)))
		return alloc_sampled(p, n);
	return p;
}

/* The hot hooks keep their fast path to what every call needs, so that
 * little is live across the real call (each callee-saved register is a push
 * and a pop a call): a failure, the boot arena, a sampled old block go out of
 * line. */
static __attribute__((noinline, cold)) void *malloc_failed(size_t n)
{
	shim_rec_alloc(SHIM_FN_malloc, 0, 1);
	shim_heap_alloc(NULL, n);
	return NULL;
}

/* The first call of real.malloc_fn: a thread inside dlsym is served by the
 * arena, any other resolves the real malloc, which takes the stub's place. */
static void *malloc_first(size_t n)
{
	__typeof__(&malloc) f;

	if (shim_tls.resolving)
		return boot_alloc(n);
	f = (__typeof__(f))shim_resolve("malloc");
	if (!f)
		return no_memory();
	__atomic_store_n(&real.malloc_fn, f, __ATOMIC_RELAXED);
	return f(n);
}

/* A thread inside dlsym allocates from the real heap once real.malloc_fn is
 * resolved (uncounted: the guard covers resolving). */
SHIM_EXPORT __attribute__((hot)) void *malloc(size_t n)
{
	void *p = real.malloc_fn(n);

	if (unlikely(!p))
		return malloc_failed(n);
	return alloc_done(SHIM_FN_malloc, p, n);
}

SHIM_EXPORT void *calloc(size_t n, size_t size)
{
	void *p;
	size_t total;
	int ovf = __builtin_mul_overflow(n, size, &total);

	/* dlsym(RTLD_NEXT, "calloc") itself callocs: serve it from the arena */
	if (unlikely(!real_calloc)) {
		if (shim_tls.resolving)
			return ovf ? NULL : boot_alloc(total);
		if (!SHIM_RESOLVE(calloc))
			return no_memory();
	}
	p = real_calloc(n, size);
	shim_rec_alloc(SHIM_FN_calloc, p ? total : 0, p == NULL);
	shim_heap_alloc(p, total);
	return p;
}

/* realloc is a free of old and an allocation of n for the heap profile. A
 * sampled old block is forgotten before the real call (afterwards another
 * thread may already hold its address) and put back if the call fails. */
static __attribute__((noinline, cold)) void *realloc_slow(void *old, size_t n)
{
	void *p;
	uint64_t was;

	if (unlikely(boot_owns(old)))
		return boot_move(old, n);
	was = shim_heap_free(old);
	p = real.realloc_fn(old, n);
	/* realloc(p, 0) frees and may return NULL: not a failure */
	shim_rec_alloc(SHIM_FN_realloc, p ? n : 0, p == NULL && (n != 0 || old == NULL));
	if (__builtin_expect(was != 0, 0) && !p && n != 0)
		shim_heap_restore(old, was);
	shim_heap_alloc(p, n);
	return p;
}

/* The first call of real.realloc_fn, as malloc_first (an arena block while
 * resolving: dlsym never grows one). */
static void *realloc_first(void *old, size_t n)
{
	__typeof__(&realloc) f;

	if (shim_tls.resolving)
		return boot_alloc(n);
	f = (__typeof__(f))shim_resolve("realloc");
	if (!f)
		return no_memory();
	__atomic_store_n(&real.realloc_fn, f, __ATOMIC_RELAXED);
	return f(old, n);
}

static __attribute__((noinline, cold)) void *realloc_failed(size_t n)
{
	shim_rec_alloc(SHIM_FN_realloc, 0, 1);
	shim_heap_alloc(NULL, n);
	return NULL;
}

SHIM_EXPORT __attribute__((hot)) void *realloc(void *old, size_t n)
{
	void *p;

	/* a sampled block or an arena block (or a neighbour in the filter), a
	 * size of 0 (a free, whose NULL is no failure): the full path. So a NULL
	 * from the fast path is a failure, and old need not be kept across the
	 * call. */
	if (unlikely(shim_heap_filter[shim_heap_bucket(old)] != 0) || unlikely(n == 0))
		return realloc_slow(old, n);
	p = real.realloc_fn(old, n);
	if (unlikely(!p))
		return realloc_failed(n);
	return alloc_done(SHIM_FN_realloc, p, n);
}

SHIM_EXPORT void *reallocarray(void *old, size_t n, size_t size)
{
	void *p;
	uint64_t was = 0;
	size_t total;
	int ovf = __builtin_mul_overflow(n, size, &total);

	if (unlikely(boot_owns(old))) {
		if (ovf)
			return no_memory();
		return boot_move(old, total);
	}
	/* glibc's reallocarray is this check and a call to realloc through the
	 * PLT, which would count the call twice */
	if (ovf) {
		p = NULL;
		errno = ENOMEM;
	} else {
		was = shim_heap_free(old);
		p = real.realloc_fn(old, total);
	}
	shim_rec_alloc(SHIM_FN_reallocarray, p ? total : 0,
		       p == NULL && (ovf || total != 0 || old == NULL));
	if (__builtin_expect(was != 0, 0) && !p && total != 0)
		shim_heap_restore(old, was);
	if (!ovf)
		shim_heap_alloc(p, total);
	return p;
}

/* The first call of real.free_fn: resolves it (an arena block never gets
 * here: free_slow keeps those). */
static void free_first(void *p)
{
	__typeof__(&free) f = (__typeof__(f))shim_resolve("free");

	if (!f)
		return;
	__atomic_store_n(&real.free_fn, f, __ATOMIC_RELAXED);
	f(p);
}

static __attribute__((noinline, cold)) void free_slow(void *p)
{
	if (unlikely(boot_owns(p)))
		return;
	/* counted first so the real free is a tail call; a sampled block is
	 * forgotten before its address can be handed out again */
	shim_rec_alloc(SHIM_FN_free, 0, 0);
	shim_heap_free(p);
	real.free_fn(p);
}

/* The common case is a count and a tail call, with no call of its own (so no
 * register to save): Shimmer's own call, a thread without its slot, a
 * sampled block or an arena block (or a neighbour in the filter) all take
 * free_slow. */
SHIM_EXPORT __attribute__((hot)) void free(void *p)
{
	struct shim_thread *t;

	if (unlikely(!(t = shim_tls.alloc_slot)) ||
	    unlikely(shim_heap_filter[shim_heap_bucket(p)] != 0)) {
		free_slow(p);
		return;
	}
	t->fn[SHIM_FN_free].calls++;
	real.free_fn(p);
}

/* posix_memalign reports failure by its return value and leaves errno alone. */
SHIM_EXPORT int posix_memalign(void **out, size_t align, size_t n)
{
	int r;

	if (unlikely(shim_tls.resolving)) {
		void *p;
		if (align < sizeof(void *) || (align & (align - 1)))
			return EINVAL;
		p = boot_aligned(align, n);
		if (!p)
			return ENOMEM;
		*out = p;
		return 0;
	}
	if (!SHIM_RESOLVE(posix_memalign))
		return ENOMEM;
	r = real_posix_memalign(out, align, n);
	shim_rec_alloc(SHIM_FN_posix_memalign, r ? 0 : n, r != 0);
	shim_heap_alloc(r ? NULL : *out, n);
	return r;
}

SHIM_EXPORT void *aligned_alloc(size_t align, size_t n)
{
	void *p;

	if (unlikely(shim_tls.resolving))
		return align & (align - 1) ? NULL : boot_aligned(align, n);
	if (!SHIM_RESOLVE(aligned_alloc))
		return no_memory();
	p = real_aligned_alloc(align, n);
	shim_rec_alloc(SHIM_FN_aligned_alloc, p ? n : 0, p == NULL);
	shim_heap_alloc(p, n);
	return p;
}

SHIM_EXPORT void *memalign(size_t align, size_t n)
{
	void *p;

	if (unlikely(shim_tls.resolving))
		return align & (align - 1) ? NULL : boot_aligned(align, n);
	if (!SHIM_RESOLVE(memalign))
		return no_memory();
	p = real_memalign(align, n);
	shim_rec_alloc(SHIM_FN_memalign, p ? n : 0, p == NULL);
	shim_heap_alloc(p, n);
	return p;
}

SHIM_EXPORT void *valloc(size_t n)
{
	void *p;

	if (unlikely(shim_tls.resolving))
		return boot_aligned(4096, n);
	if (!SHIM_RESOLVE(valloc))
		return no_memory();
	p = real_valloc(n);
	shim_rec_alloc(SHIM_FN_valloc, p ? n : 0, p == NULL);
	shim_heap_alloc(p, n);
	return p;
}

SHIM_EXPORT void *pvalloc(size_t n)
{
	void *p;

	if (unlikely(shim_tls.resolving))
		return boot_aligned(4096, (n + 4095) & ~(size_t)4095);
	if (!SHIM_RESOLVE(pvalloc))
		return no_memory();
	p = real_pvalloc(n);
	shim_rec_alloc(SHIM_FN_pvalloc, p ? n : 0, p == NULL);
	shim_heap_alloc(p, n);
	return p;
}

/* Without the real mmap (never expected) the kernel is asked directly, so the
 * target still gets its mapping. */
static void *raw_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	long r = syscall(SYS_mmap, addr, len, prot, flags, fd, off);

	return (void *)r;
}

SHIM_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	void *p;

	if (!SHIM_RESOLVE(mmap))
		return raw_mmap(addr, len, prot, flags, fd, off);
	p = real_mmap(addr, len, prot, flags, fd, off);
	if (unlikely(shim_unwind_owns((uintptr_t)SHIM_CALLER())))
		return p; /* libunwind's caches (profiler, heap sampler): ours */
	shim_rec_alloc(SHIM_FN_mmap, p == MAP_FAILED ? 0 : len, p == MAP_FAILED);
	return p;
}

SHIM_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off)
{
	void *p;

	if (!SHIM_RESOLVE(mmap64))
		return raw_mmap(addr, len, prot, flags, fd, (off_t)off);
	p = real_mmap64(addr, len, prot, flags, fd, off);
	if (unlikely(shim_unwind_owns((uintptr_t)SHIM_CALLER())))
		return p;
	shim_rec_alloc(SHIM_FN_mmap64, p == MAP_FAILED ? 0 : len, p == MAP_FAILED);
	return p;
}

/* Bytes for munmap are the length given back. */
SHIM_EXPORT int munmap(void *addr, size_t len)
{
	int r;

	if (!SHIM_RESOLVE(munmap))
		return (int)syscall(SYS_munmap, addr, len);
	r = real_munmap(addr, len);
	/* libunwind frees its per-thread cache at thread exit, unguarded */
	if (unlikely(shim_unwind_owns((uintptr_t)SHIM_CALLER())))
		return r;
	shim_rec_alloc(SHIM_FN_munmap, r ? 0 : len, r != 0);
	return r;
}
