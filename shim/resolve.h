/* SPDX-License-Identifier: MIT */
/* The one place real libc functions are found: dlsym(RTLD_NEXT) (dlvsym where a
 * version matters), lazily, with a static bootstrap arena for the calloc that
 * dlsym itself makes while we resolve calloc. */
#ifndef SHIM_RESOLVE_H
#define SHIM_RESOLVE_H

#include <stddef.h>

/* Declare the pointer to the real `name`, typed from libc's own prototype. */
#define SHIM_REAL_DECL(name) static __typeof__(&name) real_##name

/* Make sure real_<name> is set; evaluates to nonzero when it is. A missing
 * function is logged once by shim_resolve. */
#define SHIM_RESOLVE(name)                                                                         \
	(__builtin_expect(real_##name != NULL, 1) ||                                               \
	 (real_##name = (__typeof__(real_##name))shim_resolve(#name)) != NULL)

/* The next definition of `name` after libshimmer.so, or NULL (logged once).
 * Async-signal-safe: no. Allocates: dlsym may calloc, served by the arena.
 * Locks: the loader's. */
void *shim_resolve(const char *name);

/* As shim_resolve, for one symbol version ("GLIBC_2.2.5"). */
void *shim_resolve_ver(const char *name, const char *version);

/* Bootstrap arena for allocations made while resolving. Returns zeroed memory
 * or NULL when the arena is exhausted. Async-signal-safe: yes (atomic bump). */
void *shim_boot_alloc(size_t size);

/* Nonzero when p lies in the bootstrap arena (free must ignore it). */
int shim_boot_owns(const void *p);

/* Bytes from p to the end of the arena (p must be an arena pointer). */
size_t shim_boot_span(const void *p);

#endif
