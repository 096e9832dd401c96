/* SPDX-License-Identifier: MIT */
/* The recorders behind every I/O hook: per-thread, exact, lock-free. A call
 * updates its function's totals, its (function, caller) site, its errno
 * counter and its resource, all in the calling thread's own slot. */
#include "record.h"
#include "fdtab.h"
#include "span.h"
#include "worker.h"

unsigned shim_active;

static inline void account(struct shim_thread *t, unsigned fn, const void *pc, uint64_t dt,
			   int64_t bytes, int err, uint32_t res, int has_res)
{
	uint64_t b = bytes > 0 ? (uint64_t)bytes : 0;
	struct shim_stat *f = &t->fn[fn];
	struct shim_site *s;

	f->calls++;
	f->ticks += dt;
	f->bytes += b;
	if (err) {
		struct shim_errstat *e = shim_err_get(t, fn, err);
		f->errors++;
		if (e)
			e->count++;
		else
			t->errs_dropped++;
	}
	s = shim_site_get(t, fn, pc);
	if (s) {
		s->st.calls++;
		s->st.ticks += dt;
		s->st.bytes += b;
		s->st.errors += err != 0;
	} else {
		t->sites_dropped++;
	}
	if (has_res && res < SHIM_RES_CAP) {
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
}

void shim_rec_call(unsigned fn, const void *pc, uint64_t t0, int64_t bytes, int err, int fd)
{
	uint64_t dt = shim_clock_now() - t0;
	struct shim_thread *t = shim_thread_self();

	/* the worker starts here, from the program's first recorded call after
	 * something registered work: never in the constructor, never in a
	 * malloc */
	if (__builtin_expect(shim_worker_pending, 0))
		shim_worker_start();

	if (!t)
		return;
	{
		uint32_t res = fd >= 0 ? shim_fd_res(fd, NULL) : 0;
		account(t, fn, pc, dt, bytes, err, res, fd >= 0);
		shim_span_call(fn, shim_fninfo[fn].dir, t0, dt, bytes, err, fd,
			       fd >= 0 ? res : SHIM_SPAN_NORES);
	}
}

void shim_rec_call_res(unsigned fn, const void *pc, uint64_t t0, int64_t bytes, int err,
		       uint32_t res)
{
	uint64_t dt = shim_clock_now() - t0;
	struct shim_thread *t = shim_thread_self();

	if (__builtin_expect(shim_worker_pending, 0))
		shim_worker_start();
	if (!t)
		return;
	account(t, fn, pc, dt, bytes, err, res, 1);
	shim_span_call(fn, shim_fninfo[fn].dir, t0, dt, bytes, err, -1, res);
}
