/* SPDX-License-Identifier: MIT */
/* The loaded object holding an address and the dynamic symbol covering it:
 * what dladdr answers, chosen the same way, at a fraction of its cost. glibc's
 * dladdr walks every hash chain of the object on each call (about 15 us for
 * libc's 3000 symbols here), and naming code in a stripped object took three
 * of them. This finds the object with _dl_find_object (no lock, no scan) and
 * reads its .dynsym in one tight pass. Export time (the symbolizer). */
#ifndef SHIM_DYNSYM_H
#define SHIM_DYNSYM_H

#include <link.h>
#include <stdint.h>

struct shim_dynsym {
	struct link_map *lm; /* the object */
	uintptr_t base;	     /* its lowest mapped address (dladdr's dli_fbase) */
	const char *name;    /* the covering symbol (in the object's string
			      * table), NULL when none covers the address */
	uintptr_t addr;	     /* the symbol's address, 0 when none */
	uintptr_t size;	     /* its st_size */
};

/* Describe pc. Returns 0, or -1 when no loaded object holds pc.
 * Async-signal-safe: no (reads the loader's list). Allocates: no. */
int shim_dynsym_find(uintptr_t pc, struct shim_dynsym *out);

#endif
