/* SPDX-License-Identifier: MIT */
/* Code addresses to names at export time. Never a wrong nearest name: an
 * address no symbol covers is shown as module+0xoffset. */
#ifndef SHIM_SYMBOLS_H
#define SHIM_SYMBOLS_H

#include <stdint.h>

struct shim_frame {
	char *module; /* basename of the object ("libc.so.6", "cp"), malloc'd */
	char *file;   /* source file when known, else the module; malloc'd */
	int line;     /* 0 when unknown */
	char *func;   /* function name, or "module+0x1a2b"; malloc'd */
	uintptr_t offset; /* pc - module load base */
};

/* Describe the code at return address pc (the call instruction before it).
 * Returns 0 or -1 (out of memory). Export time only: allocates, takes the
 * loader's lock. */
int shim_sym_lookup(const void *pc, struct shim_frame *out);

void shim_sym_frame_free(struct shim_frame *f);

#endif
