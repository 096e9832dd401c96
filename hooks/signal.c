/* SPDX-License-Identifier: MIT */
/* sigaction and signal for SIGPROF only: the profiler's handler must not be
 * replaced behind its back, and the program must keep its own. A program that
 * brings a SIGPROF handler gets it (sampling stops, one line); SIG_DFL/SIG_IGN
 * are remembered and reported back while ours stays. Every other signal and
 * every call while Shimmer is off passes straight through. Not counted. */
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
	int r;

	if (!SHIM_RESOLVE(sigaction)) {
		errno = ENOSYS;
		return -1;
	}
	if (!ours(sig))
		return real_sigaction(sig, act, old);
	if (shim_profiler_sigprof(act, &prev) == SHIM_SIG_KEEP) {
		if (old)
			*old = prev;
		return 0;
	}
	r = real_sigaction(sig, act, NULL);
	if (r == 0 && old)
		*old = prev;
	return r;
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
	if (shim_profiler_sigprof(&sa, &prev) == SHIM_SIG_KEEP)
		return prev.sa_handler;
	if (real_signal(sig, handler) == SIG_ERR)
		return SIG_ERR;
	return prev.sa_handler;
}
