/* SPDX-License-Identifier: MIT */
/* Dynamic loading: dlclose. Before the real dlclose can unmap an object, its
 * path, load bias, segments and build ID are copied into shim/dlmods.c's fixed
 * table, so the samples and call sites it leaves behind still get names at
 * export. dlopen is deliberately not wrapped: glibc picks the caller's
 * RUNPATH, $ORIGIN and link namespace from dlopen's return address, which a
 * wrapper would change to ours. Early CPU samples (taken before libunwind was
 * loaded) are unwound first, while the object's unwind tables are mapped:
 * that may load libunwind (dlclose is a normal context); otherwise no malloc,
 * no lock of ours, no I/O. */
#include <dlfcn.h>
#include <errno.h>

#include "../shim/dlmods.h"
#include "../shim/profiler.h"
#include "hook.h"

SHIM_REAL_DECL(dlclose);

/* Counted in the proc family (its time, and failures as EINVAL: dlclose
 * reports through dlerror, not errno). The object is remembered whatever the
 * families while Shimmer is on (hooks or sampling), unless Shimmer itself is
 * closing something. */
SHIM_EXPORT int dlclose(void *handle)
{
	void *slot;
	uint64_t t0;
	int r, e, rec;

	if (!SHIM_RESOLVE(dlclose)) {
		errno = ENOSYS;
		return -1;
	}
	if (shim_tls.internal || (!shim_active && !shim_profiler_hz()))
		return real_dlclose(handle);
	e = errno;
	shim_profiler_catch_up();
	slot = shim_dlmod_capture(handle);
	errno = e;
	rec = shim_enter(SHIM_FAM(PROC));
	t0 = shim_clock_now();
	r = real_dlclose(handle);
	e = errno;
	shim_dlmod_commit(slot, r);
	if (rec) {
		shim_rec_call(SHIM_FN_dlclose, SHIM_CALLER(), t0, -1, r ? EINVAL : 0, -1);
		shim_leave();
	}
	errno = e;
	return r;
}
