/* SPDX-License-Identifier: MIT */
/* jansson, linked in (our own hidden copy): its setup at first use, and its
 * allocator while a writer runs, a bump arena. */
#include <jansson.h>
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
}
