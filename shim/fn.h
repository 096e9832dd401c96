/* SPDX-License-Identifier: MIT */
/* The table of every intercepted function: one id per name, its family and the
 * direction of its byte count. Built from hooks/<family>.def; nothing else may
 * number functions. */
#ifndef SHIM_FN_H
#define SHIM_FN_H

enum shim_family {
	SHIM_FAM_ALLOC,
	SHIM_FAM_FILE,
	SHIM_FAM_STDIO,
	SHIM_FAM_NET,
	SHIM_FAM_DNS,
	SHIM_FAM_PROC,
	SHIM_FAM_COUNT
};

/* Direction of the byte count a call returns: read into the program (IN),
 * written out of it (OUT), a wait (WAIT) or no bytes (NONE). */
enum shim_dir { SHIM_DIR_NONE, SHIM_DIR_IN, SHIM_DIR_OUT, SHIM_DIR_WAIT };


enum shim_fn {
#define SHIM_FN(name, fam, dir) SHIM_FN_##name,
#include "../hooks/alloc.def"
#include "../hooks/file.def"
#include "../hooks/stdio.def"
#include "../hooks/net.def"
#include "../hooks/dns.def"
#include "../hooks/proc.def"
#include "../hooks/dl.def"
#undef SHIM_FN
	SHIM_FN_COUNT
};

struct shim_fninfo {
	const char *name;
	unsigned char family; /* enum shim_family */
	unsigned char dir;    /* enum shim_dir */
};

/* Indexed by enum shim_fn. Constant data: safe anywhere. */
extern const struct shim_fninfo shim_fninfo[SHIM_FN_COUNT];

/* The family's name as SHIMMER_HOOKS spells it ("alloc", "file", ...). */
const char *shim_family_name(unsigned family);

#endif
