/* SPDX-License-Identifier: MIT */
/* jansson, which every process's exit writers use, and zlib (pprof's gzip,
 * the OTLP push's compression), linked in from their static archives
 * (hidden: our own copies, apart from any the program has): a dlopen cost as
 * much as a library at start. No libm: its few uses have libm-free forms
 * (shim_round_u64 here, shim_heap_one_minus_exp_neg, shim_heap_exp1). */
#ifndef SHIM_LIBS_H
#define SHIM_LIBS_H

#include <stddef.h>
#include <stdint.h>

/* llround of a value >= 0 (counts, bytes, nanoseconds), without libm. */
static inline uint64_t shim_round_u64(double x)
{
	return x >= 1.8446744073709552e19 ? UINT64_MAX : x > 0 ? (uint64_t)(x + 0.5) : 0;
}

/* Make jansson ready: seeded (else its first table reads /dev/urandom) and
 * allocating through the arena below. Once; every writer's arena_begin
 * calls it, so does any code that makes a json_t without an arena first.
 * Thread-safe. Async-signal-safe: no. Allocates: no. */
void shim_libs_jansson(void);

/* A bump arena for jansson's allocations: while one is open on a thread,
 * every jansson value that thread makes (and the dump's own bookkeeping)
 * comes from it and its frees cost nothing; the end releases it at once. A
 * writer builds, dumps and drops a document without a malloc and a free for
 * each of its hundreds of values. No jansson value made in between may be
 * used after the end. The first SHIM_ARENA_FIRST bytes are static (one arena
 * at a time holds them), then blocks twice as big each; past
 * SHIM_ARENA_BLOCKS, plain malloc. A nested begin is a no-op. Memory
 * jansson hands out inside an arena (json_dumps's text) is the arena's: never
 * free() it. Async-signal-safe: no. Allocates: blocks past the first. */
#define SHIM_ARENA_FIRST (32 << 10)
#define SHIM_ARENA_BLOCKS 8 /* 32 KiB, then 128 KiB to 8 MiB: about 16 MiB */

struct shim_json_arena {
	char *next, *limit; /* the room left in the newest block */
	char *base[SHIM_ARENA_BLOCKS];
	size_t size[SHIM_ARENA_BLOCKS];
	size_t nblocks;
	int first;   /* base[0] is the static block */
	int spilled; /* something came from malloc instead */
	int off;     /* nested, or no arena: end does nothing */
};

void shim_libs_json_arena_begin(struct shim_json_arena *a);
void shim_libs_json_arena_end(struct shim_json_arena *a);

/* 1 when every jansson value made since the begin lives in a: the writer
 * may drop its document without json_decref (the walk that frees each
 * value), the end frees them all. 0 with no arena, or when some came from
 * malloc (those need their json_decref). */
int shim_libs_json_arena_whole(const struct shim_json_arena *a);

/* atfork child handler: an arena another thread had open is not the
 * child's. */
void shim_libs_fork_child(void);

#endif
