/* SPDX-License-Identifier: MIT */
/* Walking the interrupted thread's stack from a signal context: libunwind's
 * DWARF unwinder first (right at function entry and in code without frame
 * pointers); before libunwind is loaded, a copy of the stack unwound later
 * from a normal context; a bounded frame-pointer walk when neither can be
 * done. libunwind is loaded on first need from a normal context, never in the
 * constructor and never in a signal handler. */
#ifndef SHIM_UNWIND_H
#define SHIM_UNWIND_H

#include <stdint.h>

/* Scratch the unwinder needs, kept in the thread's preallocated profiler
 * state so the handler uses little of the target's stack. */
struct shim_unwind_scratch {
	uint64_t cursor[160]; /* an unw_cursor_t (127 words on x86_64) */
};

/* Load libunwind now, from a normal context: Shimmer's guard held, inside
 * shim_unwind_enter/leave (so no fork is made while the loader runs), not in
 * a signal handler, not in a vfork child. Skipped (-1, try again later) while
 * any thread is mapping objects (r_debug not consistent) or another thread is
 * loading it. Returns 0 when libunwind is ready. Async-signal-safe: no
 * (dlopen). Allocates: yes (the loader's, uncounted under the guard). */
int shim_unwind_load(void);

/* Nonzero when libunwind is loaded. Async-signal-safe: yes. */
int shim_unwind_ready(void);

/* Nonzero while libunwind is neither loaded nor known missing: a walk must
 * wait for a normal context (shim_unwind_stash). Async-signal-safe: yes. */
int shim_unwind_pending(void);

/* Early samples. With CPU sampling on, libunwind is not opened at start (it
 * costs a short process about a quarter of a millisecond): the handler, which
 * may never load anything, copies the interrupted registers and the live part
 * of the stack, [sp, hi) up to 64 KiB, into one bounded arena (4 MiB of
 * address space, no resident memory until used), and the samples are unwound
 * later with libunwind's DWARF unwinder over the copy, from a normal context
 * (shim_unwind_replay). The stack range [lo, hi) of the interrupted thread
 * must be readable (the thread's own stack); an sp outside it (a coroutine
 * stack) is not copied. owner is the caller's tag for the sample (the
 * profiler's per-thread state). Returns 0 when stashed, -1 when not (no
 * arena, libunwind ready or missing, sp outside [lo, hi), arena full): walk
 * by frame pointers then. Async-signal-safe: yes. Allocates: no. */
int shim_unwind_stash(const void *uc, uintptr_t lo, uintptr_t hi, void *owner);

/* Map the arena (once, constructor). Returns 0 or -1. */
int shim_unwind_stash_init(void);

/* Nonzero when stashed samples wait for a replay. Async-signal-safe: yes. */
int shim_unwind_stashed(void);

/* Unwind the stashed samples from a normal context (the guard held, inside
 * shim_unwind_enter/leave): loads libunwind (and its generic,
 * remote-capable library) when needed, then calls add(owner, pcs, n) for
 * each sample: pcs[0] the interrupted PC, then return addresses, as
 * shim_unwind_signal gives them, at most max. Without libunwind, a
 * frame-pointer walk of the copy. Each sample is replayed once, by one
 * caller. Returns the number replayed. Not async-signal-safe (the loader). */
int shim_unwind_replay(void (*add)(void *owner, const uintptr_t *pcs, int n), int max);

/* Frame pointers: rbp -> [saved rbp, return address], for the stack words
 * [lo, hi) held at mem (the stack itself, or a copy of it), from fp; appends
 * to pcs[n..max) and returns the new n. Async-signal-safe: yes. */
int shim_unwind_fp(const void *mem, uintptr_t lo, uintptr_t hi, uintptr_t fp, uintptr_t *pcs, int n,
		   int max);

/* Fork child: the stashed samples are the parent's; forget them. */
void shim_unwind_stash_fork_child(void);

/* Fill pcs[0..max) with the interrupted code's PC then the return addresses of
 * its callers, from the signal handler's ucontext uc: libunwind when it is
 * loaded, else a frame-pointer walk bounded by stack_hi (the top of the
 * thread's stack, 0 when unknown). Never loads anything. Returns the number
 * of frames (0 when none could be read). pcs[0] is the exact interrupted PC;
 * pcs[i>0] are return addresses (the call is at pcs[i]-1). Call between
 * shim_unwind_enter and shim_unwind_leave.
 * Async-signal-safe: yes (libunwind local unwinding with its per-thread cache;
 * its first touch of a module takes the loader lock). Allocates: no. */
int shim_unwind_signal(void *uc, struct shim_unwind_scratch *s, uintptr_t *pcs, int max,
		       uintptr_t stack_hi);

/* Fill pcs[0..max) with the return addresses of the frames that called this
 * function (this function's own frame may lead), innermost first (libunwind
 * only: loaded here by shim_unwind_load on first use; 0 when it cannot be).
 * For the heap sampler, called from an allocation hook with the thread's
 * guard held, between shim_unwind_enter and shim_unwind_leave. Async-signal-safe: no
 * (libunwind may take the loader lock). Allocates: no (libunwind maps its
 * per-thread frame cache with mmap and unmaps it at thread exit). */
int shim_unwind_here(uintptr_t *pcs, int max);

/* Fork quiescence for every walk (the profiler's handler and the heap
 * sampler's): no thread may sit inside libunwind (its cache lock) or
 * dl_iterate_phdr (the loader's write lock, which glibc's fork does not
 * reset) when a child is made, or the child's first walk waits forever.
 * shim_unwind_enter counts the caller in before it reads the fork flag;
 * fork prepare sets the flag before it reads the count (both seq_cst), so
 * either the walk is skipped or prepare waits for it. Returns 1 when the
 * caller may walk (then call shim_unwind_leave), 0 while a fork is being
 * made. Async-signal-safe: yes. Allocates: no. Locks: none. */
int shim_unwind_enter(void);
void shim_unwind_leave(void);

/* Walks in progress in all threads: the sum of the per-thread stripes the
 * walks count in (what a fork waits on). Async-signal-safe: yes. */
int shim_unwind_in_progress(void);

/* atfork prepare: walks starting now are skipped, and the call waits (at
 * most ~1 s, for a thread that does not run) for walks in progress in other
 * threads. Parent and child: walks resume (the child's count is its own
 * thread's, the others are gone). Async-signal-safe: yes. Allocates: no. */
void shim_unwind_fork_prepare(void);
void shim_unwind_fork_parent(void);
void shim_unwind_fork_child(void);

/* The executable segment [lo, hi) of the loaded object holding the code
 * address addr, and that object's path as the loader names it ("" for the
 * main program); each out-pointer may be NULL. Returns 0 or -1. Not
 * async-signal-safe (dl_iterate_phdr). */
int shim_unwind_text_of(const void *addr, uintptr_t *lo, uintptr_t *hi, const char **path);

/* libunwind's code, once loaded (0, 0 before): its own mmap/munmap calls are
 * Shimmer's, never the program's. */
extern uintptr_t shim_unwind_lo, shim_unwind_hi;

static inline int shim_unwind_owns(uintptr_t pc)
{
	return pc >= shim_unwind_lo && pc < shim_unwind_hi;
}

#endif
