/* SPDX-License-Identifier: MIT */
/* jansson and zlib, opened on first use instead of linked: only the writers
 * and the OTLP push need them, and loading them cost every process start
 * (every /bin/true of a build) about 0.1 ms. shim/libs.c defines the few
 * functions of theirs that Shimmer calls, hidden, with their own prototypes
 * (from <jansson.h> and <zlib.h>); each forwards to the library, which the
 * first call opens with dlopen(RTLD_LOCAL). Callers keep calling json_* and
 * deflate* as before. */
#ifndef SHIM_LIBS_H
#define SHIM_LIBS_H

#include <stddef.h>

/* Open jansson now (export time, the worker): 0, or -1 with one "shimmer: "
 * line; the json_* functions then fail as jansson fails on NULL (NULL, -1,
 * 0). json_object_seed before this only records the seed, applied at the
 * load, before jansson makes any table. Thread-safe. Async-signal-safe: no
 * (dlopen). Allocates: yes. Locks: its own mutex, the loader's. */
int shim_libs_jansson(void);

/* Open zlib now: as shim_libs_jansson; deflate* then return Z_STREAM_ERROR
 * (deflateBound 0). */
int shim_libs_zlib(void);

/* A bump arena for jansson's allocations: while one is open on a thread,
 * every jansson value that thread makes (and the dump's own bookkeeping)
 * comes from it and its frees cost nothing; the end releases it at once. A
 * writer builds, dumps and drops a document without a malloc and a free for
 * each of its hundreds of values. No jansson value made in between may be
 * used after the end. The first SHIM_ARENA_FIRST bytes are static (one arena
 * at a time holds them), then blocks twice as big each; past
 * SHIM_ARENA_BLOCKS, or when the program set jansson's allocator itself,
 * plain malloc. A nested begin is a no-op. begin opens jansson. Memory
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

/* atfork child handler: a load another thread was making is forgotten (its
 * mutex is fresh; the library, if it was mapped, is found again). */
void shim_libs_fork_child(void);

#endif
