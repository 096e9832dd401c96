/* SPDX-License-Identifier: MIT */
/* The hook shell every interposed function follows (STYLE.md):
 *   1. resolve the real function (lazily; missing: ENOSYS and the failure value);
 *   2. off, Shimmer's own call or nested in another hook: call through untouched;
 *   3. read the clock, call the real function, save errno;
 *   4. record into this thread's slot, restore errno, return the real result.
 * Hooks never format, allocate from libc, do I/O or lock. */
#ifndef SHIM_HOOK_H
#define SHIM_HOOK_H

#include <errno.h>
#include <stdint.h>

#include "../shim/fdtab.h"
#include "../shim/record.h"
#include "../shim/resolve.h"

/* Exported names carry default visibility; everything else is hidden. */
#define SHIM_EXPORT __attribute__((visibility("default")))

/* fd-level I/O counts as "file" or as "net" depending on the fd. */
#define SHIM_FAMS_FD (SHIM_FAM(FILE) | SHIM_FAM(NET))

/* The real function's pointer, starting at a first-call stub that resolves
 * it and takes its place: the hook calls through it with no test. A missing
 * function fails with ENOSYS and failval. */
#define SHIM_REAL_STUB(name, ret, failval, params, args)                                           \
	static ret name##_first params;                                                            \
	static __typeof__(&name) real_##name = name##_first;                                       \
	static __attribute__((cold, noinline)) ret name##_first params                             \
	{                                                                                          \
		__typeof__(&name) f = (__typeof__(f))shim_resolve(#name);                          \
		if (!f) {                                                                          \
			errno = ENOSYS;                                                            \
			return failval;                                                            \
		}                                                                                  \
		__atomic_store_n(&real_##name, f, __ATOMIC_RELAXED);                               \
		return f args;                                                                     \
	}

/* Steps 1-3 up to the real call. `args` is the parenthesised argument list. */
#define HOOK_PRE(name, fams, failval, args)                                                        \
	if (!SHIM_RESOLVE(name)) {                                                                 \
		errno = ENOSYS;                                                                    \
		return failval;                                                                    \
	}                                                                                          \
	if (!shim_enter(fams))                                                                     \
		return real_##name args;                                                           \
	uint64_t hook_t0 = shim_clock_now()

/* Steps 2-4 of a hook whose result r is the bytes it moved on fd, or -1
 * when it failed (nobytes: r is no count of bytes, as a MSG_PEEK's; fd may
 * be a constant -1: no fd; maybe_fd: it may be -1 at run time). Where the
 * clock is the TSC, nothing but fd and the start is kept across the real
 * call; anywhere else the hook goes on in name##_ns (HOOK_TIMED_NS). */
#define HOOK_TIMED(name, fams, fd, maybe_fd, args, nobytes)                                        \
	do {                                                                                       \
		uint64_t hook_t0;                                                                  \
		long hook_r;                                                                       \
		if (!shim_enter(fams))                                                             \
			return real_##name args;                                                   \
		if (__builtin_expect(!shim_clock_tsc, 0)) {                                        \
			shim_tls.caller = SHIM_CALLER();                                           \
			return name##_ns args;                                                     \
		}                                                                                  \
		hook_t0 = shim_clock_tsc_read();                                                   \
		hook_r = real_##name args;                                                         \
		return shim_rec_ended(SHIM_FN_##name, SHIM_CALLER(), hook_t0, (fd), hook_r,         \
				     (nobytes), (maybe_fd), 1);                                    \
	} while (0)

/* HOOK_TIMED's way on clock_gettime, entered with the guard held. */
#define HOOK_TIMED_NS(name, ret, fd, maybe_fd, params, args, nobytes)                              \
	static __attribute__((noinline, cold)) ret name##_ns params                                \
	{                                                                                          \
		uint64_t hook_t0 = shim_clock_mono_ns();                                           \
		long hook_r = real_##name args;                                                    \
		return shim_rec_ended(SHIM_FN_##name, shim_tls.caller, hook_t0, (fd), hook_r,      \
				     (nobytes), (maybe_fd), 0);                                    \
	}

/* Step 4: record fn's call (bytes < 0: none; err: errno or 0; fd or -1). */
#define HOOK_REC(fn, bytes, err, fd)                                                               \
	shim_rec_call(SHIM_FN_##fn, SHIM_CALLER(), hook_t0, (int64_t)(bytes), (err), (fd))

/* As HOOK_REC for a call that ended at tick t1. */
#define HOOK_REC_END(fn, t1, bytes, err, fd)                                                       \
	shim_rec_call_end(SHIM_FN_##fn, SHIM_CALLER(), hook_t0, (t1), (int64_t)(bytes), (err), (fd))

#define HOOK_REC_RES(fn, bytes, err, res)                                                          \
	shim_rec_call_res(SHIM_FN_##fn, SHIM_CALLER(), hook_t0, (int64_t)(bytes), (err), (res))

/* As HOOK_REC for an fd that may be -1 when the call succeeded (a stream with
 * no fd, an *at() call on a path): the recorders' inline path takes a
 * negative fd only as a constant, so each case gets its own copy. */
#define HOOK_REC_MAYBE_FD(fn, bytes, err, fd)                                                      \
	do {                                                                                       \
		int hook_fd = (fd);                                                                \
		if (hook_fd < 0)                                                                   \
			HOOK_REC(fn, bytes, err, -1);                                              \
		else                                                                               \
			HOOK_REC(fn, bytes, err, hook_fd);                                         \
	} while (0)

/* Leave the hook with result r; errno is as the real call left it. */
#define HOOK_RETURN_KEPT(r)                                                                        \
	do {                                                                                       \
		shim_leave();                                                                      \
		return (r);                                                                        \
	} while (0)

/* Leave the hook with result r and errno e. */
#define HOOK_RETURN(r, e)                                                                          \
	do {                                                                                       \
		shim_leave();                                                                      \
		errno = (e);                                                                       \
		return (r);                                                                        \
	} while (0)

#endif
