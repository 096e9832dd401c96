/* SPDX-License-Identifier: MIT */
/* Objects the program unloaded with dlclose: their path, load bias, segments
 * and build ID, remembered in a fixed table before the real dlclose unmaps
 * them, so samples and call sites in them still symbolize at export. Also the
 * build ID reader for loaded objects (their PT_NOTE, in memory). */
#ifndef SHIM_DLMODS_H
#define SHIM_DLMODS_H

#include <limits.h>
#include <link.h>
#include <stddef.h>
#include <stdint.h>

#define SHIM_DLMODS 64	    /* unloaded objects remembered; more are dropped and counted */
#define SHIM_DLMOD_SEGS 8   /* PT_LOAD segments kept per object */
#define SHIM_BUILD_ID_MAX 64 /* bytes of a build ID (GNU ld writes 20) */

struct shim_dlmod_seg {
	uintptr_t start, limit; /* page-aligned, as /proc/self/maps showed them */
	uintptr_t offset;	/* file offset of start */
	int exec;
};

struct shim_dlmod {
	uint64_t seq;	     /* unload order: a later object at the same place wins */
	uintptr_t bias;	     /* load bias (link_map l_addr) */
	uintptr_t lo, hi;    /* span of its segments */
	struct shim_dlmod_seg seg[SHIM_DLMOD_SEGS];
	int nseg;
	unsigned char build_id[SHIM_BUILD_ID_MAX];
	size_t build_id_len; /* 0: none */
	char path[PATH_MAX];
};

/* The GNU build ID of a loaded object, read from its PT_NOTE segments in
 * memory. Returns its length (copied into out, at most cap bytes), or 0.
 * Async-signal-safe: yes. Allocates: no. Locks: none. */
size_t shim_dlmod_build_id(const struct dl_phdr_info *info, unsigned char *out, size_t cap);

/* The dlclose hook, before the real dlclose: take a free slot and copy the
 * object of handle into it. Returns the slot (an opaque token) or NULL (no
 * handle, not found, or table full: counted). Async-signal-safe: no (dlinfo,
 * dl_iterate_phdr take the loader's lock). Allocates: no. Locks: the loader's. */
void *shim_dlmod_capture(void *handle);

/* After the real dlclose returned r: publish the slot if the object is really
 * gone (the last reference closed it), give it back otherwise. NULL: nothing.
 * Same safety as shim_dlmod_capture. */
void shim_dlmod_commit(void *slot, int r);

/* Export time: call fn for each remembered object that is still worth
 * describing: not covered by an object the program has loaded now (objects
 * Shimmer loaded at export do not count), nor by an object unloaded after it.
 * Takes the loader's lock; allocates nothing. */
void shim_dlmod_foreach(void (*fn)(const struct shim_dlmod *, void *arg), void *arg);

/* The remembered object whose segments hold pc (the latest), or NULL. Export
 * time. */
const struct shim_dlmod *shim_dlmod_find(uintptr_t pc);

/* Around Shimmer's own dlopen at export (libdw and its dependencies): the
 * objects it adds are remembered as ours. They were loaded after every sample
 * was taken, so they never hide an unloaded object that used their place.
 * Export time only. */
void shim_dlmod_ours_begin(void);
void shim_dlmod_ours_end(void);

/* Objects remembered, and unloads that found the table full. */
size_t shim_dlmod_count(void);
uint64_t shim_dlmod_dropped(void);

#endif
