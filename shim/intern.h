/* SPDX-License-Identifier: MIT */
/* Interning tables shared by the model builders (shim/model_cpu.c,
 * shim/model_heap.c). Export time only: they allocate. */
#ifndef SHIM_INTERN_H
#define SHIM_INTERN_H

#include <stddef.h>
#include <stdint.h>

#include "model.h"

/* An open-addressing map from a 64-bit key to an index; keys are never 0. */
struct shim_imap {
	uint64_t *keys;
	uint32_t *vals;
	size_t cap; /* power of two */
	size_t n;
};

/* The slot for key, *found set when it holds key already; grows the map as
 * needed. NULL: out of memory. */
uint32_t *shim_imap_slot(struct shim_imap *m, uint64_t key, int *found);

void shim_imap_free(struct shim_imap *m);

/* A non-zero hash of the pair of strings (file or module, function). */
uint64_t shim_str_hash(const char *a, const char *b);

/* Make room for element n of *arr (capacity *cap elements of size bytes),
 * doubling. Returns 0 or -1 (out of memory; *arr unchanged). */
int shim_grow(void **arr, size_t *cap, size_t n, size_t size);

/* The function and location tables of one sample kind (CPU or heap), built
 * into the arrays of the model that owns them: one location per distinct
 * address, one function per distinct (file, name). */
struct shim_symtab {
	struct shim_model_mapping *const *mappings;
	const size_t *nmappings;
	struct shim_model_func **funcs;
	size_t *nfuncs;
	struct shim_model_loc **locs;
	size_t *nlocs;
	size_t cap_funcs, cap_locs;
	struct shim_imap funcmap, locmap;
};

/* A table writing into the model part o (anything with mappings, funcs and
 * locs arrays and their counts: the CPU profile, the heap profile). */
#define SHIM_SYMTAB_OF(o)                                                                          \
	((struct shim_symtab){.mappings = &(o)->mappings,                                          \
			      .nmappings = &(o)->nmappings,                                        \
			      .funcs = &(o)->funcs,                                                \
			      .nfuncs = &(o)->nfuncs,                                              \
			      .locs = &(o)->locs,                                                  \
			      .nlocs = &(o)->nlocs})

/* The index of the location of code address addr (a sampled PC, or a return
 * address minus one), symbolized and interned on first sight with its
 * function; the mapping is the last one that covers addr (objects unloaded by
 * dlclose are listed last). Returns -1 when out of memory. Export time, inside
 * a symbols session. */
int64_t shim_symtab_loc(struct shim_symtab *t, uint64_t addr);

/* Free the lookup maps (the model keeps the tables). */
void shim_symtab_free(struct shim_symtab *t);

#endif
