/* SPDX-License-Identifier: MIT */
/* The recorders behind every I/O hook: per-thread, exact, lock-free. A call
 * updates its function's totals, its (function, caller) site, its errno
 * counter and its resource, all in the calling thread's own slot. The common
 * case is inline in record.h; this file is the general case it falls back to:
 * a thread's first call, a new or colliding site, a failure, a new resource. */
#include "record.h"
#include "fdtab.h"

unsigned shim_active;

void shim_rec_slow(unsigned fn, const void *pc, uint64_t dt, int64_t bytes, int err,
		   uint32_t res, int has_res)
{
	uint64_t b = bytes > 0 ? (uint64_t)bytes : 0;
	struct shim_thread *t = shim_thread_self();
	struct shim_stat *f;
	struct shim_site *s;

	if (!t)
		return;
	f = &t->fn[fn];
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
	t->last_site[fn] = s;
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
