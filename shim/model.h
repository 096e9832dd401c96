/* SPDX-License-Identifier: MIT */
/* The one merged, symbolized model every writer reads: per intercepted function
 * its exact totals and its callers, errors by errno, and resources (files,
 * peers, names). Built at export from the per-thread slots; writers never see
 * the slots. */
#ifndef SHIM_MODEL_H
#define SHIM_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "symbols.h"

struct shim_model_caller {
	struct shim_frame where;
	uint64_t calls, errors, bytes;
	double seconds;
};

struct shim_model_call {
	unsigned fn;	    /* enum shim_fn */
	const char *name;   /* "write" */
	const char *module; /* object that defines it: "libc.so.6" */
	unsigned family;    /* enum shim_family */
	unsigned dir;	    /* enum shim_dir */
	uint64_t calls, errors, bytes;
	double seconds;	    /* 0 for allocation calls: counted, not timed */
	struct shim_model_caller *callers; /* by seconds, then calls, descending */
	size_t ncallers;
};

struct shim_model_err {
	unsigned fn;
	int err;
	uint64_t count;
};

struct shim_model_res {
	uint32_t id;
	unsigned kind; /* enum shim_kind */
	char *name;
	uint64_t ops, rbytes, wbytes, errors;
	double seconds;
};

struct shim_model {
	int pid;
	int ppid;
	char exe[256];	       /* program name as the run folder spells it */
	uint64_t start_unix_ns;
	double wall_seconds;   /* from image start to the build */
	double ns_per_tick;
	uint64_t threads;      /* threads that made a recorded call */
	struct shim_model_call *calls; /* every function called at least once, by fn */
	size_t ncalls;
	struct shim_model_err *errs;   /* by count descending */
	size_t nerrs;
	struct shim_model_res *res;    /* by seconds descending */
	size_t nres;
	struct {
		uint64_t sites;	  /* calls with no room in the caller table */
		uint64_t errs;	  /* failures with no room in the errno table */
		uint64_t res;	  /* resources beyond the table (counted as "(other)") */
		uint64_t threads; /* calls of threads beyond the slot table */
	} dropped;
};

/* Build the model from every thread's slot. Returns 0 or -1 (out of memory; the
 * model is then empty but valid). Export time only: allocates, locks the
 * thread registry. */
int shim_model_build(struct shim_model *m);

void shim_model_free(struct shim_model *m);

/* Total calls and total seconds over all functions. */
uint64_t shim_model_total_calls(const struct shim_model *m);
double shim_model_total_seconds(const struct shim_model *m);

#endif
