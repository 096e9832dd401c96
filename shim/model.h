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
#include "thread.h"

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
	/* calls by latency bucket (upper bounds shim_hist_le, then +Inf), not
	 * cumulative; all 0 for counted-only calls (allocations) */
	uint64_t hist[SHIM_HIST_BUCKETS];
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

/* ---- CPU samples (filled by the profiler; empty when sampling is off) ---- */

struct shim_model_mapping {
	uint64_t start, limit, offset; /* as /proc/self/maps gives them */
	char *path;		       /* full path of the object */
	char *build_id;		       /* lower-case hex, or NULL */
};

struct shim_model_func {
	char *name;	/* demangled name, or "module+0xoffset" when no symbol covers it */
	char *file;	/* source file when DWARF says, else the module basename */
	int line;	/* first line of the function, 0 when unknown */
	char *module;	/* basename of the object */
	uint64_t self;	/* samples with this function as the leaf */
	uint64_t total; /* samples with it anywhere on the stack, once per sample */
	double self_seconds, total_seconds; /* samples x the effective period */
	int call;	/* index into calls[] when it is an intercepted function, else -1 */
};

struct shim_model_loc {
	uint64_t address; /* the pc: the leaf's own, the call instruction for callers */
	uint32_t mapping; /* index into mappings, UINT32_MAX when none */
	uint32_t func;	  /* index into funcs */
	int line;	  /* source line of this address, 0 when unknown */
};

struct shim_model_stack {
	uint32_t *locs;	 /* indices into locs, leaf first */
	uint32_t depth;
	int tid;
	uint64_t count;	 /* samples */
	double seconds;	 /* count x the thread's effective period */
};

struct shim_model_edge {
	uint32_t caller, callee; /* indices into funcs */
	uint64_t samples;	 /* samples in which caller called callee (once per sample) */
	double seconds;
};

struct shim_model_thread {
	int tid;
	char name[16];
	uint64_t samples;
	double cpu_seconds; /* the thread's own CPU clock at its last sample or exit */
	double period_ns;   /* effective: cpu_seconds / samples */
};

/* ---- traces (shim/span.c; filled by shim_model_build_spans) ---- */

struct shim_model_span {
	uint64_t span_id, parent_id; /* parent 0: none (a root without TRACEPARENT) */
	uint64_t start_ns, end_ns;   /* Unix nanoseconds */
	unsigned type;		     /* enum shim_span_type (shim/span.h) */
	unsigned fn;		     /* enum shim_fn of the call; SHIM_FN_COUNT: none */
	int tid;
	int err;		     /* errno, negative EAI_* code, 0 = success */
	int64_t count;		     /* DNS answers; the exit code of a process */
	int has_exit_code, unfinished, by_exec;
	uint64_t rbytes, wbytes, rops, wops, ops;
	const char *target;  /* file path, peer ("tcp 127.0.0.1:80"), looked-up name */
	const char *target2; /* client: the name looked up; server: the listener */
};

struct shim_model_trace {
	uint8_t trace_id[16];
	uint8_t flags;		 /* W3C trace flags */
	int remote;		 /* the root's parent came from TRACEPARENT */
	char tracestate[512];
	char exe_path[256];	 /* /proc/self/exe */
	char host[256];
	char *command_line;	 /* only with SHIMMER_CAPTURE_ARGS=1, else NULL */
	const char *service;	 /* OTEL_SERVICE_NAME or NULL */
	const char *resource;	 /* OTEL_RESOURCE_ATTRIBUTES or NULL */
	struct shim_model_span *spans; /* the process root first */
	size_t nspans;
	uint64_t dropped;	 /* spans lost to full buffers */
	uint64_t export_dropped; /* spans the OTLP push did not deliver */
	char export_error[160];	 /* why, "" when none */
	char **names;		 /* owned copies of resource names, by resource id */
	size_t nnames;
};

/* ---- heap samples (filled from shim/heap.c; empty when heap sampling is off
 * or took no sample). Its own mappings, functions and locations, built the
 * same way as the CPU ones; stacks[] carries count = estimated bytes
 * allocated, so the stack writers can draw it as they draw CPU samples. ---- */

struct shim_model_heap_value {
	uint64_t samples;	/* sampled allocations (not scaled) */
	uint64_t alloc_objects; /* estimated allocations made from this stack */
	uint64_t alloc_space;	/* estimated bytes allocated */
	uint64_t inuse_objects; /* estimated allocations still live at the build */
	uint64_t inuse_space;	/* estimated bytes still live at the build */
};

struct shim_model_heap {
	uint64_t mean;	  /* SHIMMER_HEAP_SAMPLE: mean bytes between samples; 1 = all */
	uint64_t samples; /* sampled allocations kept */
	uint64_t dropped; /* sampled allocations with no room in a table */
	uint64_t alloc_objects, alloc_space, inuse_objects, inuse_space; /* totals */
	struct shim_model_mapping *mappings;
	size_t nmappings;
	struct shim_model_func *funcs; /* self/total: estimated bytes allocated */
	size_t nfuncs;
	struct shim_model_loc *locs;
	size_t nlocs;
	struct shim_model_stack *stacks;      /* tid 0, count = alloc_space, seconds 0 */
	struct shim_model_heap_value *values; /* parallel to stacks */
	size_t nstacks;
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
	/* profiler */
	int hz;		   /* requested sampling rate, 0 = off */
	int clock_wall;	   /* 1 when SHIMMER_CLOCK=wall */
	double period_ns;  /* effective period over all threads */
	uint64_t samples;  /* taken and kept */
	uint64_t samples_dropped;
	struct shim_model_mapping *mappings;
	size_t nmappings;
	struct shim_model_func *funcs;
	size_t nfuncs;
	struct shim_model_loc *locs;
	size_t nlocs;
	struct shim_model_stack *stacks;
	size_t nstacks;
	struct shim_model_edge *edges;
	size_t nedges;
	struct shim_model_thread *threads_info;
	size_t nthreads;
	struct shim_model_trace trace;
	/* ---- metrics (shim/model_metrics.c, read by export/prom.c) ---- */
	char service[256];     /* OTEL_SERVICE_NAME, service.name, or unknown_service:<exe> */
	uint64_t open_fds[8];  /* the target's open fds by enum shim_kind, as the fd table knows them */
	uint64_t threads_live; /* the target's threads now (Shimmer's worker not counted) */
	struct {
		int known;	      /* 0: /proc/self could not be read */
		double cpu_seconds;   /* user + system time of the whole process */
		uint64_t rss_bytes, vm_bytes;
		uint64_t open_fds;    /* every open fd of the process, Shimmer's own too */
		uint64_t max_fds;     /* RLIMIT_NOFILE soft limit */
		double start_unix;    /* process start, seconds since the epoch */
	} proc;
	/* the heap profiler's gauges: it sets known and the bytes at build time */
	struct {
		int known;
		uint64_t live_bytes, peak_bytes;
	} heap_live;
	struct shim_model_heap heap;
	struct {
		uint64_t sites;	  /* calls with no room in the caller table */
		uint64_t errs;	  /* failures with no room in the errno table */
		uint64_t res;	  /* resources beyond the table (counted as "(other)") */
		uint64_t threads; /* calls of threads beyond the slot table */
	} dropped;
};

/* Build the model from every thread's slot. Returns 0 or -1 (out of memory; the
 * model is then empty but valid). The trace part only when SHIMMER_FORMATS has
 * a trace file (OTLP, Chrome, NDJSON), the metrics part only with metrics.prom.
 * Export time only: allocates, locks the thread registry. */
int shim_model_build(struct shim_model *m);

void shim_model_free(struct shim_model *m);

/* As shim_model_build, without callers and CPU samples (no symbolization):
 * what the metrics writer needs, cheap enough for each /metrics scrape. Safe
 * to run while another thread builds a full model. */
int shim_model_build_counts(struct shim_model *m);

/* The metrics part (service .. heap_live), called by both builds: /proc/self,
 * the fd table, the environment. Never fails (unknown parts stay 0). */
void shim_model_build_metrics(struct shim_model *m);

/* The CPU-sample part (hz .. threads_info), called by shim_model_build after
 * the calls part (it links funcs to calls[]). Returns 0 or -1 (out of memory).
 * Export time only. */
int shim_model_build_cpu(struct shim_model *m);
void shim_model_free_cpu(struct shim_model *m);

/* The trace part: the root span and the n spans given (the store's, or a
 * batch), ids turned into names and ticks into Unix time. with_root: put the
 * process root span first. Returns 0 or -1 (out of memory). Export time only. */
struct shim_span;
int shim_model_build_spans(struct shim_model *m, const struct shim_span *spans, size_t n,
			   int with_root);
void shim_model_free_spans(struct shim_model *m);

/* shim_model_build's trace part: drain the rings, then every stored span. */
int shim_model_build_trace(struct shim_model *m);
/* The heap part (m->heap) from the heap sampler's tables: one model stack per
 * distinct allocation stack, symbolized (C++ names demangled), with alloc_*
 * summed over every sample and inuse_* over the samples still live now.
 * Returns 0 or -1 (out of memory). Export time only, inside the symbols
 * session shim_model_build opened. */
int shim_model_build_heap(struct shim_model *m);

/* The executable segments of the loaded objects with a file (page-aligned, as
 * /proc/self/maps would list them), with their build IDs, then those of the
 * objects unloaded before: appended to *v (capacity *cap). From the loader's
 * list in memory, not /proc/self/maps (whose first read in a process takes
 * tens of microseconds). Returns 0 or -1 (out of memory). Export time. */
int shim_model_read_mappings(struct shim_model_mapping **v, size_t *n, size_t *cap);
void shim_model_free_heap(struct shim_model *m);

/* Total calls and total seconds over all functions. */
uint64_t shim_model_total_calls(const struct shim_model *m);
double shim_model_total_seconds(const struct shim_model *m);

#endif
