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

/* Open jansson now (export time, the worker): 0, or -1 with one "shimmer: "
 * line; the json_* functions then fail as jansson fails on NULL (NULL, -1,
 * 0). json_object_seed before this only records the seed, applied at the
 * load, before jansson makes any table. Thread-safe. Async-signal-safe: no
 * (dlopen). Allocates: yes. Locks: its own mutex, the loader's. */
int shim_libs_jansson(void);

/* Open zlib now: as shim_libs_jansson; deflate* then return Z_STREAM_ERROR
 * (deflateBound 0). */
int shim_libs_zlib(void);

/* atfork child handler: a load another thread was making is forgotten (its
 * mutex is fresh; the library, if it was mapped, is found again). */
void shim_libs_fork_child(void);

#endif
