/* SPDX-License-Identifier: MIT */
/* What a hook may call: the on/off test and guard, the clock, and the
 * recorders that update this thread's slot. No formatting, no malloc, no locks,
 * no I/O: everything here is async-signal-safe. */
#ifndef SHIM_RECORD_H
#define SHIM_RECORD_H

#include <stdint.h>
#include <sys/types.h>

#include "clock.h"
#include "fn.h"
#include "thread.h"

/* Bitmask of 1 << SHIM_FAM_* that are on; 0 before init, when disabled and
 * while the process exports. */
extern unsigned shim_active;

/* The caller of the hook: evaluate in the hook's own body. */
#define SHIM_CALLER() __builtin_return_address(0)

/* Start recording an I/O-family call: nonzero when this call is to be recorded
 * (family on, not Shimmer's own call, not nested in another hooked call); then
 * the thread's in_io guard is held until shim_leave(). */
static inline int shim_enter(unsigned family_mask)
{
	if (__builtin_expect(!(shim_active & family_mask), 0) || shim_tls.internal ||
	    shim_tls.in_io)
		return 0;
	shim_tls.in_io = 1;
	return 1;
}

static inline void shim_leave(void)
{
	shim_tls.in_io = 0;
}

#define SHIM_FAM(f) (1u << SHIM_FAM_##f)

/* Record one finished call of fn made from pc, started at tick t0 (the end is
 * read here). bytes < 0 means none; err is the call's errno when it failed, 0
 * when it succeeded. fd >= 0 attributes the call to that fd's resource.
 * Async-signal-safe: yes. Allocates: no (a slot mmap on the thread's first call). */
void shim_rec_call(unsigned fn, const void *pc, uint64_t t0, int64_t bytes, int err, int fd);

/* As shim_rec_call, attributed to resource id res instead of an fd. */
void shim_rec_call_res(unsigned fn, const void *pc, uint64_t t0, int64_t bytes, int err,
		       uint32_t res);

/* Count one allocation-family call (never timed): bytes requested, failed or
 * not. Passes silently while Shimmer itself runs. */
static inline void shim_rec_alloc(unsigned fn, uint64_t bytes, int failed)
{
	struct shim_thread *t;

	if (__builtin_expect(!(shim_active & SHIM_FAM(ALLOC)), 0) || shim_tls.internal ||
	    shim_tls.resolving)
		return;
	t = shim_thread_self();
	if (__builtin_expect(!t, 0))
		return;
	t->fn[fn].calls++;
	t->fn[fn].bytes += bytes;
	t->fn[fn].errors += (unsigned)failed;
}

#endif
