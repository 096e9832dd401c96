/* SPDX-License-Identifier: MIT */
/* Interning tables shared by the model builders (shim/model_cpu.c,
 * shim/model_heap.c). Export time only: they allocate. */
#ifndef SHIM_INTERN_H
#define SHIM_INTERN_H

#include <stddef.h>
#include <stdint.h>

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

#endif
