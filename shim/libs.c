/* SPDX-License-Identifier: MIT */
/* The libm function Shimmer calls (the heap sampler's expm1), defined here
 * (hidden) with libm's own prototype and forwarded to libm, opened with
 * dlopen(RTLD_LOCAL) by the first heap sample: no process pays its load at
 * start (no -lm; -z defs makes a missed call a link error). And jansson,
 * linked in (our own hidden copy): its setup at first use, and its allocator
 * while a writer runs, a bump arena. */
#include <dlfcn.h>
#include <jansson.h>
#include <link.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "libs.h"
#include "log.h"
#include "thread.h"
#include "zone.h"

static int math_state; /* libm: 0 not yet, 1 loaded, 2 being loaded, -1 failed (atomic) */
static __typeof__(&expm1) p_expm1;

static int jansson_ready; /* seeded, our allocator set (atomic) */

/* ---- the jansson arena ---- */

static __thread struct shim_json_arena *cur; /* this thread's open arena */
static char first_block[SHIM_ARENA_FIRST] __attribute__((aligned(16))) SHIM_BIG;
static int first_busy; /* an arena holds first_block (atomic) */

/* A block of at least n more bytes, or -1: the arena is at its cap. */
static int arena_grow(struct shim_json_arena *a, size_t n)
{
	size_t size = (size_t)SHIM_ARENA_FIRST << (a->nblocks + 1);
	char *b;

	if (a->nblocks == SHIM_ARENA_BLOCKS)
		return -1;
	if (size < n)
		size = n;
	if (!(b = malloc(size)))
		return -1;
	a->base[a->nblocks] = b;
	a->size[a->nblocks++] = size;
	a->next = b;
	a->limit = b + size;
	return 0;
}

static void *arena_malloc(size_t n)
{
	struct shim_json_arena *a = cur;
	char *p;

	if (!a)
		return malloc(n);
	n = n <= SIZE_MAX - 15 ? (n + 15) & ~(size_t)15 : SIZE_MAX; /* malloc's alignment */
	if ((size_t)(a->limit - a->next) < n && arena_grow(a, n) != 0) {
		a->spilled = 1;
		return malloc(n);
	}
	p = a->next;
	a->next += n;
	return p;
}

static void arena_free(void *p)
{
	const struct shim_json_arena *a = cur;

	for (size_t i = a ? a->nblocks : 0; i-- > 0;)
		if ((char *)p >= a->base[i] && (char *)p < a->base[i] + a->size[i])
			return; /* freed with the arena */
	free(p);
}

void shim_libs_jansson(void)
{
	if (__builtin_expect(__atomic_load_n(&jansson_ready, __ATOMIC_ACQUIRE), 1))
		return;
	/* both idempotent: two threads racing here do no harm. jansson
	 * otherwise seeds its hash from /dev/urandom (an open and a read in the
	 * middle of an export) for tables of our own keys. */
	json_object_seed(((size_t)shim_clock_now() ^ ((size_t)getpid() << 20)) | 1);
	json_set_alloc_funcs(arena_malloc, arena_free);
	__atomic_store_n(&jansson_ready, 1, __ATOMIC_RELEASE);
}

void shim_libs_json_arena_begin(struct shim_json_arena *a)
{
	memset(a, 0, sizeof(*a));
	a->off = 1;
	shim_libs_jansson();
	if (cur)
		return;
	a->off = 0;
	if (!__atomic_exchange_n(&first_busy, 1, __ATOMIC_ACQUIRE)) {
		a->base[0] = a->next = first_block;
		a->size[0] = sizeof(first_block);
		a->limit = first_block + sizeof(first_block);
		a->nblocks = 1;
		a->first = 1;
	}
	cur = a;
}

int shim_libs_json_arena_whole(const struct shim_json_arena *a)
{
	return !a->off && !a->spilled;
}

void shim_libs_json_arena_end(struct shim_json_arena *a)
{
	if (a->off)
		return;
	cur = NULL;
	for (size_t i = a->first; i < a->nblocks; i++)
		free(a->base[i]);
	if (a->first)
		__atomic_store_n(&first_busy, 0, __ATOMIC_RELEASE);
	a->nblocks = 0;
	a->off = 1;
}

void shim_libs_fork_child(void)
{
	/* an arena another thread had open is not the child's */
	__atomic_store_n(&first_busy, 0, __ATOMIC_RELAXED);
	/* a libm load another thread was making: try again */
	if (__atomic_load_n(&math_state, __ATOMIC_RELAXED) == 2)
		__atomic_store_n(&math_state, 0, __ATOMIC_RELAXED);
}

/* ---- libm: the heap sampler's weights ---- */

int shim_libs_math(void)
{
	int st = __atomic_load_n(&math_state, __ATOMIC_ACQUIRE);
	void *h;

	if (__builtin_expect(st == 1, 1))
		return 0;
	/* no mutex, no wait: the caller may be an allocation the loader makes
	 * for a dlopen of another thread, which would wait for us; and while
	 * an object is being mapped, the loader cannot be entered */
	if (st != 0 || _r_debug.r_state != RT_CONSISTENT ||
	    !__atomic_compare_exchange_n(&math_state, &st, 2, 0, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE))
		return -1;
	shim_tls.internal++;
	h = dlopen("libm.so.6", RTLD_LAZY | RTLD_LOCAL);
	p_expm1 = h ? (__typeof__(&expm1))dlsym(h, "expm1") : NULL;
	shim_tls.internal--;
	__atomic_store_n(&math_state, p_expm1 ? 1 : -1, __ATOMIC_RELEASE);
	if (!p_expm1)
		shim_err("cannot load libm.so.6: heap samples are not kept");
	return p_expm1 ? 0 : -1;
}

double expm1(double x)
{
	return shim_libs_math() == 0 ? p_expm1(x) : NAN;
}
