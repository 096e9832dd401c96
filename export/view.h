/* SPDX-License-Identifier: MIT */
/* What the profile writers share: the function-level view (one pstats row per
 * function, with its callers) that profile.txt and profile.pstats both print,
 * and the name clean-ups every text format needs. Reads only the model;
 * export time only (allocates). */
#ifndef SHIM_EXPORT_VIEW_H
#define SHIM_EXPORT_VIEW_H

#include <stddef.h>
#include <stdint.h>

#include "../shim/model.h"
#include "../shim/sink.h"

struct shim_view_caller {
	size_t entry;	/* index into view.e: the calling function */
	uint64_t calls; /* exact calls, 0 when not known (sampled) */
	double tt, ct;	/* seconds spent in the callee when called from there */
};

/* One function as pstats keys it: (file, line, name). */
struct shim_view_entry {
	const char *file, *name, *module;
	int line;
	int known;	/* 1: an intercepted function, calls exact; 0: sampled, calls unknown */
	int listed;	/* 1: has its own row; 0: only appears as somebody's caller */
	uint64_t calls; /* exact calls (known), else 0 */
	double tt, ct;	/* tottime, cumtime in seconds */
	struct shim_view_caller *callers;
	size_t ncallers;
};

struct shim_view {
	struct shim_view_entry *e;
	size_t n;
	uint64_t total_calls; /* exact calls over all listed entries */
	double total_tt;      /* tottime summed over listed entries */
};

/* Row order of SHIMMER_SORT (enum shim_sort in shim/config.h). */
enum shim_view_sort {
	SHIM_VIEW_CUMULATIVE,
	SHIM_VIEW_TOTTIME,
	SHIM_VIEW_NCALLS,
	SHIM_VIEW_NAME,
};

/* Build the view of m: intercepted functions keyed ("libc.so.6", 0, "write")
 * with their exact calls, time and callers; sampled functions keyed (file,
 * first line, name) with self/total seconds and callers from the stack edges.
 * A sampled function that is an intercepted one (func.call >= 0) is the same
 * row. Returns 0, or -1 out of memory (v is then empty). */
int shim_view_build(const struct shim_model *m, struct shim_view *v);

void shim_view_free(struct shim_view *v);

/* Indices of the listed entries in `how` order; *n gets their count. Returns a
 * malloc'd array (caller frees) or NULL out of memory. */
size_t *shim_view_order(const struct shim_view *v, int how, size_t *n);

/* "%s:%d(%s)" as pstats' func_std_string prints a key; malloc'd or NULL. */
char *shim_view_std_string(const struct shim_view_entry *e);

/* Copy of s that is valid UTF-8 with no control characters (bad bytes become
 * '?'); with `semi` set, ';' becomes ':' too (folded stacks). malloc'd or NULL. */
char *shim_view_clean(const char *s, int semi);

/* Append s to out escaped for XML text and attribute values. */
void shim_view_xml(struct shim_sink *out, const char *s);

#endif
