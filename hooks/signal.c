/* SPDX-License-Identifier: MIT */
/* sigaction and signal for SIGPROF only: the profiler's handler must not be
 * replaced behind its back, and the program must keep its own. While we own
 * SIGPROF the program's disposition is remembered and reported back, and the
 * profiler hands it every SIGPROF that is not its own (shim/profiler.h).
 * Every other signal and every call while Shimmer is off passes straight
 * through. Not counted. */
#include <signal.h>

#include "hook.h"
#include "../shim/profiler.h"

SHIM_REAL_DECL(sigaction);
SHIM_REAL_DECL(signal);

static int ours(int sig)
{
	return sig == SIGPROF && !shim_tls.internal && shim_profiler_owns_sigprof();
}

SHIM_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	struct sigaction prev;

	if (!SHIM_RESOLVE(sigaction)) {
		errno = ENOSYS;
		return -1;
	}
	if (!ours(sig))
		return real_sigaction(sig, act, old);
	shim_profiler_sigprof(act, &prev);
	if (old)
		*old = prev;
	return 0;
}

SHIM_EXPORT __sighandler_t signal(int sig, __sighandler_t handler)
{
	struct sigaction sa, prev;

	if (!SHIM_RESOLVE(signal)) {
		errno = ENOSYS;
		return SIG_ERR;
	}
	if (!ours(sig))
		return real_signal(sig, handler);
	/* glibc's signal(): BSD semantics, the signal blocked in its handler */
	sa.sa_handler = handler;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, sig);
	shim_profiler_sigprof(&sa, &prev);
	return prev.sa_handler;
}
