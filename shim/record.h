/* SPDX-License-Identifier: MIT */
/* What a hook may call: the on/off test and guard, the clock, and the
 * recorders that update this thread's slot. No formatting, no malloc, no locks,
 * no I/O: everything here is async-signal-safe. The common case of every
 * recorder is inline (a TLS load, a probe, a few adds); the rest (a thread's
 * first call, a new site, a failure, a new resource) is one out-of-line call. */
#ifndef SHIM_RECORD_H
#define SHIM_RECORD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "clock.h"
#include "fdtab.h"
#include "fn.h"
#include "span.h"
#include "thread.h"
#include "worker.h"

/* Bitmask of 1 << SHIM_FAM_* that are on; 0 before init, when disabled and
 * while the process exports. */
extern unsigned shim_active;

/* Every global the inline recorders read is in this object: declared hidden
 * here, each is one rip-relative load instead of an address and a load. */
#define SHIM_HIDDEN __attribute__((visibility("hidden")))
extern unsigned shim_active SHIM_HIDDEN;
extern int shim_clock_tsc SHIM_HIDDEN;
extern volatile int shim_worker_pending SHIM_HIDDEN;
extern _Atomic uint32_t *shim_fd_tab SHIM_HIDDEN;
extern uint64_t shim_span_slow_ticks SHIM_HIDDEN;
extern struct shim_fdspan *shim_span_fds SHIM_HIDDEN;
extern int shim_span_fd_hi SHIM_HIDDEN;
extern int shim_span_on SHIM_HIDDEN;
extern int shim_pid SHIM_HIDDEN;

/* The caller of the hook: evaluate in the hook's own body. */
#define SHIM_CALLER() __builtin_return_address(0)

/* Start recording an I/O-family call: nonzero when this call is to be recorded
 * (family on, not Shimmer's own call, not nested in another hooked call); then
 * the thread's in_io guard is held until shim_leave(). */
static inline __attribute__((always_inline)) int shim_enter(unsigned family_mask)
{
	if (__builtin_expect(!(shim_active & family_mask), 0) ||
	    __builtin_expect(shim_tls_guarded(), 0))
		return 0;
	shim_tls.in_io = 1;
	return 1;
}

static inline __attribute__((always_inline)) void shim_leave(void)
{
	shim_tls.in_io = 0;
}

#define SHIM_FAM(f) (1u << SHIM_FAM_##f)

/* Direction of each function's byte count, for constant folding in the
 * inline recorder (shim_fninfo[] is the same table, out of sight). */
static const unsigned char shim_rec_dir[SHIM_FN_COUNT] = {
#define SHIM_FN(name, fam, dir) [SHIM_FN_##name] = SHIM_DIR_##dir,
#include "../hooks/alloc.def"
#include "../hooks/file.def"
#include "../hooks/stdio.def"
#include "../hooks/net.def"
#include "../hooks/dns.def"
#include "../hooks/proc.def"
#include "../hooks/dl.def"
#undef SHIM_FN
};

/* The latency histogram's bucket search (shim_thread.hist): the octave of dt
 * (its highest set bit) holds at most one bucket bound, since the bounds are
 * at least 2x apart; so a bit scan, one table load and one compare find the
 * bucket. Filled from the TSC calibration by shim_rec_hist_calibrate. */
struct shim_hist_oct {
	uint64_t split;	 /* dt > split: one bucket up; UINT64_MAX when no bound is inside */
	uint64_t bucket; /* bucket of the octave's values up to split */
};
extern struct shim_hist_oct shim_hist_oct[64] SHIM_HIDDEN; /* [63 - k]: values in [2^k, 2^(k+1)) */

static inline __attribute__((always_inline)) unsigned shim_hist_bucket(uint64_t dt)
{
	/* indexed by leading zeros, not by bit position: two instructions less */
	const struct shim_hist_oct *o = &shim_hist_oct[__builtin_clzll(dt | 1)];
	/* relaxed: a recalibration racing with this call moves it one bucket at most */
	return (unsigned)__atomic_load_n(&o->bucket, __ATOMIC_RELAXED) +
	       (dt > __atomic_load_n(&o->split, __ATOMIC_RELAXED));
}

/* (Re)compute shim_hist_oct from the clock's current calibration. Called on a
 * thread's first call (ever rarer as the run goes on) and at each model build.
 * Async-signal-safe: yes. Allocates: no. Locks: none. */
void shim_rec_hist_calibrate(void);

/* The out-of-line recorder: the whole record of one call (the thread's slot,
 * the worker's start, the fd's classification, the site, errno counters,
 * resource, spans) when the inline path below cannot take it: a thread's first
 * call, a new caller, a failure, an fd not seen before, a slow call. fd >= 0:
 * the call is on that fd's resource; else res (SHIM_SPAN_NORES: none).
 * errno: kept (saved and restored here, so a hook need not). */
void shim_rec_slow(unsigned fn, const void *pc, uint64_t t0, uint64_t dt, int64_t bytes, int err,
		   int fd, uint32_t res);

/* The fd table's word for fd (shim/fdtab.h), 0 when not known or untracked.
 * The table exists whenever a family is on (shim_active is set only after
 * shim_fd_init succeeded), and recorders run only then. */
static inline __attribute__((always_inline)) uint32_t shim_rec_fd_word(int fd)
{
	if (__builtin_expect((unsigned)fd >= SHIM_FD_CAP, 0))
		return 0;
	return __atomic_load_n(&shim_fd_tab[fd], __ATOMIC_RELAXED);
}

/* The inline path of every recorder: a successful call of fn from the same
 * caller pc as fn's last call, that took dt ticks and moved b bytes, on a
 * known fd (has_fd) or on resource res (SHIM_SPAN_NORES: none), while nothing
 * else is due. It updates the site, the latency histogram, the resource and
 * the fd's open span, and touches neither errno nor fn's totals
 * (shim_thread_merge derives those from the sites). Returns 1 when it
 * recorded the call, 0 when the caller must take it to shim_rec_slow.
 * Async-signal-safe: yes. Allocates: no. errno: kept. */
static inline __attribute__((always_inline)) int
shim_rec_fast(unsigned fn, const void *pc, uint64_t dt, uint64_t b, int fd, uint32_t res,
	      const int has_fd)
{
	struct shim_thread *t = shim_tls.slot;
	struct shim_site *s;

	/* one test for the rare cases: no slot yet, the worker to start (never
	 * in the constructor, never in malloc), a slow call */
	if (__builtin_expect(t == NULL || shim_worker_pending || dt >= shim_span_slow_ticks, 0))
		return 0;
	/* last_site[fn] only ever holds a site of fn: comparing pc is enough */
	s = t->last_site[fn];
	if (__builtin_expect(s == NULL || s->pc != pc, 0))
		return 0;
	if (has_fd) {
		/* a negative fd or one past the table goes the slow way too */
		uint32_t v = shim_rec_fd_word(fd);
		if (__builtin_expect(!(v & SHIM_FD_KNOWN), 0))
			return 0;
		res = v & SHIM_FD_ID_MASK;
	}
	s->st.calls++;
	s->st.ticks += dt;
	s->st.bytes += b;
	/* the slow path gave fn its row before last_site could match; were it
	 * 0, row 0 is never counted */
	t->hist[t->hist_row[fn]][shim_hist_bucket(dt)]++;
	if (has_fd || res != SHIM_SPAN_NORES) {
		struct shim_resstat *r = &t->res[res];
		r->ops++;
		r->ticks += dt;
		if (shim_rec_dir[fn] == SHIM_DIR_IN)
			r->rbytes += b;
		else if (shim_rec_dir[fn] == SHIM_DIR_OUT)
			r->wbytes += b;
	}
	if (has_fd)
		shim_span_io(fd, shim_rec_dir[fn], b);
	return 1;
}

/* Record one finished call of fn made from pc, started at tick t0 and ended at
 * t1. bytes < 0 means none; err is the call's errno when it failed, 0 when it
 * succeeded. fd >= 0 (has_fd) attributes the call to that fd's resource, else
 * res does (SHIM_SPAN_NORES: no resource). The inline path is shim_rec_fast;
 * everything else goes to shim_rec_slow.
 * Async-signal-safe: yes. Allocates: no (a slot mmap on the thread's first call).
 * errno: kept. */
static inline __attribute__((always_inline)) void
shim_rec_any(unsigned fn, const void *pc, uint64_t t0, uint64_t t1, int64_t bytes, int err, int fd,
	     uint32_t res, const int has_fd)
{
	uint64_t b = bytes > 0 ? (uint64_t)bytes : 0;

	if (__builtin_expect(err == 0, 1) && shim_rec_fast(fn, pc, t1 - t0, b, fd, res, has_fd))
		return;
	shim_rec_slow(fn, pc, t0, t1 - t0, bytes, err, has_fd ? fd : -1, res);
}

/* The out-of-line end of shim_rec_ended: records the call the slow way (its
 * errno read here when r < 0), leaves the hook (shim_leave) and returns r.
 * fn | SHIM_REC_NOBYTES: r is not a count of bytes moved (MSG_PEEK). */
#define SHIM_REC_NOBYTES 0x10000u
long shim_rec_ended_slow(unsigned fn, const void *pc, uint64_t t0, uint64_t t1, int fd, long r);

/* The end of a timed hook whose real call returned r, the bytes it moved on
 * fd or -1 (failed, errno set): the call recorded, the hook left, r
 * returned. Its slow way is a tail call, so a hook keeps only fd and t0
 * across the real call. nobytes: r is no count of bytes. An fd that is a
 * constant -1 is no fd; maybe_fd: fd may be -1 at run time (an *at() call on
 * a path), each case its own copy. tsc: the hook's clock is the TSC, else
 * clock_gettime. */
static inline __attribute__((always_inline)) long
shim_rec_ended(unsigned fn, const void *pc, uint64_t t0, int fd, long r, int nobytes,
	      const int maybe_fd, const int tsc)
{
	uint64_t t1 = tsc ? shim_clock_tsc_read() : shim_clock_mono_ns();
	uint64_t b = nobytes ? 0 : (uint64_t)r;
	int done;

	if (__builtin_expect(r < 0, 0))
		done = 0;
	else if ((__builtin_constant_p(fd < 0) && fd < 0) || (maybe_fd && fd < 0))
		done = shim_rec_fast(fn, pc, t1 - t0, b, -1, SHIM_SPAN_NORES, 0);
	else
		done = shim_rec_fast(fn, pc, t1 - t0, b, fd, SHIM_SPAN_NORES, 1);
	if (__builtin_expect(done, 1)) {
		shim_leave();
		return r;
	}
	return shim_rec_ended_slow(fn | (nobytes ? SHIM_REC_NOBYTES : 0), pc, t0, t1, fd, r);
}

static inline __attribute__((always_inline)) void shim_rec_call(unsigned fn, const void *pc,
								uint64_t t0, int64_t bytes,
								int err, int fd)
{
	uint64_t t1 = shim_clock_now();

	if (__builtin_constant_p(fd < 0) && fd < 0)
		shim_rec_any(fn, pc, t0, t1, bytes, err, -1, SHIM_SPAN_NORES, 0);
	else
		shim_rec_any(fn, pc, t0, t1, bytes, err, fd, SHIM_SPAN_NORES, 1);
}

/* As shim_rec_call for a call that ended at tick t1 (read by the caller). */
static inline __attribute__((always_inline)) void shim_rec_call_end(unsigned fn, const void *pc,
								    uint64_t t0, uint64_t t1,
								    int64_t bytes, int err, int fd)
{
	shim_rec_any(fn, pc, t0, t1, bytes, err, fd, SHIM_SPAN_NORES, 1);
}

/* As shim_rec_call, attributed to resource id res instead of an fd. */
static inline __attribute__((always_inline)) void shim_rec_call_res(unsigned fn, const void *pc,
								    uint64_t t0, int64_t bytes,
								    int err, uint32_t res)
{
	shim_rec_any(fn, pc, t0, shim_clock_now(), bytes, err, -1, res, 0);
}

/* The end of a successful open of path (not NULL) that gave fd: fd now names
 * path's resource, the file span opens (its first operation is this call),
 * fn's call from pc, started at t0, is recorded on the resource, the hook is
 * left (shim_leave) and fd returned. The call's end is read first: the
 * upkeep is not counted in the call's time. A hook's tail call, so it keeps
 * only path and t0 across the real call and never reads errno.
 * Async-signal-safe: yes. Allocates: no. errno: kept. */
int shim_rec_opened(unsigned fn, const void *pc, uint64_t t0, int fd, const char *path);

/* The end of a successful close of fd (from pc, started at t0): recorded on
 * fd's resource, its open span ends now, fd is forgotten, the hook is left
 * and 0 returned. A tail call, as shim_rec_opened.
 * Async-signal-safe: yes. Allocates: no. errno: kept. */
int shim_rec_closed(const void *pc, uint64_t t0, int fd);

/* The first counted allocation call of a thread (or every call while the
 * family is off, no slot is left, or Shimmer's own code runs): the checks
 * the fast path folds into shim_tls.alloc_slot, then the count. errno: kept. */
void shim_rec_alloc_slow(unsigned fn, uint64_t bytes, int failed);

/* Count one allocation-family call (never timed): bytes requested, failed or
 * not. Passes silently while Shimmer itself runs (internal, resolving). The
 * fast path is alloc_slot alone: it is set only once the family is on and
 * the thread has its slot, and is NULL while Shimmer's own code runs. */
static inline __attribute__((always_inline)) void shim_rec_alloc(unsigned fn, uint64_t bytes,
								 int failed)
{
	struct shim_thread *t;

	t = shim_tls.alloc_slot;
	if (__builtin_expect(!t, 0)) {
		shim_rec_alloc_slow(fn, bytes, failed);
		return;
	}
	t->fn[fn].calls++;
	t->fn[fn].bytes += bytes;
	if (__builtin_expect(failed, 0))
		t->fn[fn].errors++;
}

#endif
