/* SPDX-License-Identifier: MIT */
/* The recorders behind every I/O hook: per-thread, exact, lock-free. A call
 * updates its function's totals, its (function, caller) site, its errno
 * counter and its resource, all in the calling thread's own slot. The common
 * case is inline in record.h; this file is the general case it falls back to:
 * a thread's first call, a new or colliding site, a failure, a new resource. */
#include <errno.h>

#include "record.h"
#include "fdtab.h"

unsigned shim_active SHIM_HOT;

/* 1 us to 10 s: a cached read to a slow disk or a remote peer, 1-5 steps a
 * decade (a factor of 2 at least between bounds: shim_hist_bucket needs it) */
const double shim_hist_le[SHIM_HIST_BUCKETS - 1] = {
	1e-6, 5e-6, 1e-5, 5e-5, 1e-4, 5e-4, 1e-3, 5e-3, 0.01, 0.05, 0.1, 0.5, 1, 5, 10,
};

struct shim_hist_oct shim_hist_oct[64];
static uint64_t hist_first, hist_next; /* ticks: first calibration, next one due */

void shim_rec_hist_calibrate(void)
{
	double npt = shim_clock_ns_per_tick();
	uint64_t bound[SHIM_HIST_BUCKETS - 1];

	for (unsigned i = 0; i < SHIM_HIST_BUCKETS - 1; i++) {
		double b = shim_hist_le[i] * 1e9 / npt;
		bound[i] = b >= 1.8e19 ? UINT64_MAX - 1 : (uint64_t)b;
	}
	for (unsigned k = 0; k < 64; k++) {
		uint64_t lo = k ? 1ull << k : 0, hi = k == 63 ? UINT64_MAX : (2ull << k) - 1;
		uint64_t split = UINT64_MAX, nb = 0;
		for (unsigned i = 0; i < SHIM_HIST_BUCKETS - 1; i++) {
			if (bound[i] < lo)
				nb++;
			else if (bound[i] < hi && split == UINT64_MAX)
				split = bound[i];
		}
		__atomic_store_n(&shim_hist_oct[63 - k].bucket, nb, __ATOMIC_RELAXED);
		__atomic_store_n(&shim_hist_oct[63 - k].split, split, __ATOMIC_RELAXED);
	}
}

/* On a thread's first call: recalibrate at ticks t, 3t, 9t... after the first
 * call, so the bounds follow the calibration while it still moves, at a cost
 * that fades. */
static void hist_maybe_calibrate(void)
{
	uint64_t now = shim_clock_now();

	if (now < __atomic_load_n(&hist_next, __ATOMIC_RELAXED))
		return;
	if (!hist_first)
		hist_first = now;
	__atomic_store_n(&hist_next, now + 2 * (now - hist_first) + 1, __ATOMIC_RELAXED);
	shim_rec_hist_calibrate();
}

void shim_rec_slow(unsigned fn, const void *pc, uint64_t t0, uint64_t dt, int64_t bytes, int err,
		   int fd, uint32_t res)
{
	uint64_t b = bytes > 0 ? (uint64_t)bytes : 0;
	int saved = errno; /* the inline path leaves errno alone: so does this */
	struct shim_thread *t;
	struct shim_stat *st;
	struct shim_site *s;

	if (shim_worker_pending)
		shim_worker_start();
	if (fd >= 0)
		res = shim_fd_res(fd, NULL); /* classifies an fd seen the first time */
	if (__builtin_expect(shim_tls.slot == NULL, 0))
		hist_maybe_calibrate();
	t = shim_thread_self();
	if (!t)
		goto span;
	shim_hist_of(t, fn)[shim_hist_bucket(dt)]++;
	if (err) {
		struct shim_errstat *e = shim_err_get(t, fn, err);
		if (e)
			e->count++;
		else
			t->errs_dropped++;
	}
	/* a call counts in its site, or in fn's own totals when it has none:
	 * shim_thread_merge adds the sites to fn's totals */
	s = shim_site_get(t, fn, pc);
	t->last_site[fn] = s;
	if (s) {
		st = &s->st;
	} else {
		st = &t->fn[fn];
		t->sites_dropped++;
	}
	st->calls++;
	st->ticks += dt;
	st->bytes += b;
	st->errors += err != 0;
	if (res < SHIM_RES_CAP) {
		struct shim_resstat *r = &t->res[res];
		r->ops++;
		r->ticks += dt;
		r->errors += err != 0;
		if (shim_fninfo[fn].dir == SHIM_DIR_IN)
			r->rbytes += b;
		else if (shim_fninfo[fn].dir == SHIM_DIR_OUT)
			r->wbytes += b;
		if (res >= t->res_hi)
			t->res_hi = res + 1;
	}
span:
	shim_span_call(fn, shim_fninfo[fn].dir, t0, dt, bytes, err, fd, res);
	errno = saved;
}

long shim_rec_ended_slow(unsigned fn, const void *pc, uint64_t t0, uint64_t t1, int fd, long r)
{
	int64_t bytes = (fn & SHIM_REC_NOBYTES) ? -1 : r;

	shim_rec_slow(fn & ~SHIM_REC_NOBYTES, pc, t0, t1 - t0, bytes, r < 0 ? errno : 0, fd,
		      SHIM_SPAN_NORES);
	shim_leave();
	return r;
}

__attribute__((cold, noinline)) void shim_rec_alloc_slow(unsigned fn, uint64_t bytes, int failed)
{
	struct shim_thread *t;

	if (shim_tls_alloc_guarded() ||
	    !(__atomic_load_n(&shim_active, __ATOMIC_ACQUIRE) & SHIM_FAM(ALLOC)))
		return;
	t = shim_thread_self(); /* keeps errno; sets alloc_slot when it attaches */
	if (!t)
		return;
	shim_tls_set_alloc(t); /* attached earlier, by a call of another family */
	t->fn[fn].calls++;
	t->fn[fn].bytes += bytes;
	if (failed)
		t->fn[fn].errors++;
}

int shim_rec_opened(unsigned fn, const void *pc, uint64_t t0, int fd, const char *path)
{
	/* the call ended here: the path's upkeep below is not the call's time */
	uint64_t t1 = shim_clock_now();
	uint32_t res = shim_fd_set_path(fd, SHIM_KIND_FILE, path);

	/* the span counts this call as its first operation itself: the call is
	 * recorded on the resource, not on the fd */
	shim_span_file(fd, res, t0);
	shim_rec_any(fn, pc, t0, t1, -1, 0, -1, res, 0);
	shim_leave();
	return fd;
}

int shim_rec_closed(const void *pc, uint64_t t0, int fd)
{
	uint64_t t1 = shim_clock_now();

	/* on the resource before the fd is forgotten; the span ends with the call */
	shim_rec_any(SHIM_FN_close, pc, t0, t1, -1, 0, fd, SHIM_SPAN_NORES, 1);
	shim_span_close_at(fd, t1);
	shim_fd_clear(fd);
	shim_leave();
	return 0;
}
