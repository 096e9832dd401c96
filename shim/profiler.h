/* SPDX-License-Identifier: MIT */
/* The sampling CPU profiler: a per-thread timer (thread CPU time, or
 * CLOCK_MONOTONIC with SHIMMER_CLOCK=wall) sends SIGPROF to its own thread;
 * the handler unwinds and interns the stack into the thread's preallocated
 * table. Tables of exited threads are kept for the export. */
#ifndef SHIM_PROFILER_H
#define SHIM_PROFILER_H

#include <signal.h>
#include <stdint.h>

#include "stacks.h"

#define SHIM_PROF_THREADS 1024 /* threads with a sample table, live or exited */

/* What the model reads of one sampled thread. */
struct shim_prof_view {
	int tid;
	int live;		  /* still running at export */
	const char *name;	  /* comm at exit; "" for live threads */
	uint64_t samples;	  /* kept in tab */
	uint64_t dropped;	  /* no room in tab */
	uint64_t skipped;	  /* arrived while Shimmer's own code ran or a fork was made */
	double clock_seconds;	  /* thread clock from arming to its last sample or exit */
	const struct shim_stk_table *tab;
};

/* Start sampling per shim_config (hz, clock, depth): take SIGPROF if the
 * program left it default or ignored, arm the calling (main) thread. Returns
 * 0, or -1 with one "shimmer: " line (sampling is then off, the rest of the
 * shim works). Constructor only: no thread is created. */
int shim_profiler_init(void);

/* Unwind the early samples (taken before libunwind was loaded:
 * shim/unwind.h, shim_unwind_stash) of every thread into its table, loading
 * libunwind first. A normal context only: the heap sampler's slow path after
 * the handler poked it, a thread's end, the first pthread_create, every
 * flush (exit, exec, dump, periodic). A no-op when nothing waits.
 * errno: kept. Async-signal-safe: no (the loader). Locks: a table's busy flag, which
 * its thread's handler only tries. */
void shim_profiler_catch_up(void);

/* Arm the calling thread: call first thing in the start routine of every
 * thread the program creates (the pthread_create hook's start wrapper). A
 * no-op when sampling is off. Async-signal-safe: no (mmap, timer_create,
 * pthread_setspecific). Allocates: mmap only. Locks: none. */
void shim_profiler_thread_start(void);

/* For the pthread_create hook: when sampling is on, replace *start and *arg with
 * a wrapper that arms the new thread then runs the program's routine. The
 * record comes from a fixed pool (none free: the thread runs unsampled).
 * The program's first call also loads libunwind when sampling or heap
 * profiling is on (so every thread's TLS layout is the same whatever the
 * sampling does later). Returns the record to give to shim_profiler_unwrap
 * if pthread_create fails, or NULL when nothing was wrapped.
 * Async-signal-safe: no (the first call's dlopen). Allocates: only that
 * dlopen's. Locks: only the loader's. */
void *shim_profiler_wrap(void *(**start)(void *), void **arg);

/* pthread_create failed: give back the record shim_profiler_wrap returned. */
void shim_profiler_unwrap(void *rec);


/* fork child: forget the parent's samples and threads, re-arm this thread,
 * resume sampling. Call from the atfork child handler. */
void shim_profiler_fork_child(void);

/* Nonzero while Shimmer's handler owns SIGPROF. Async-signal-safe: yes. */
int shim_profiler_owns_sigprof(void);

/* The program sets (act != NULL) or reads (act == NULL) SIGPROF while we own
 * it: our handler stays installed and the program's wish is remembered;
 * *prev receives the disposition the program believes was in place, and the
 * caller returns 0. A SIGPROF that is not one of our timers' then reaches the
 * program's handler; the first such signal ends sampling for good (timers
 * deleted, the program's handler installed for real, one "shimmer: " line),
 * so a program with its own profiler keeps it, and one that only installs a
 * cleanup handler (sort, bash) is still sampled, silently.
 * Async-signal-safe: yes. Allocates: no. Locks: none. */
void shim_profiler_sigprof(const struct sigaction *act, struct sigaction *prev);

/* Call fn for every thread that has a sample table (live or exited). Export
 * time; the tables may still grow while fn reads them. */
void shim_profiler_foreach(void (*fn)(const struct shim_prof_view *, void *), void *arg);

/* Samples kept so far over all threads (live and exited). Export time. */
uint64_t shim_profiler_samples(void);

/* Requested rate (0 = off or yielded) and clock of this run. */
int shim_profiler_hz(void);
int shim_profiler_wall(void);

#endif
