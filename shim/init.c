/* SPDX-License-Identifier: MIT */
/* The constructor and destructor. The constructor only reads settings, maps
 * the fixed tables and registers fork handlers: no thread, no file I/O, no
 * heavy library, so every process the user starts pays little. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "fdtab.h"
#include "init.h"
#include "log.h"
#include "output.h"
#include "profiler.h"
#include "record.h"
#include "thread.h"

int shim_pid;
static atomic_int finished;
static unsigned families_on; /* what shim_active is when on */

int shim_pid_foreign(void)
{
	return (int)syscall(SYS_getpid) != shim_pid;
}

void shim_finish(void)
{
	/* A vfork child (or a raw clone/_Fork child, which skips the fork handlers)
	 * holds the parent's state: writing would publish it under the wrong pid,
	 * and setting `finished` in a vfork child would silence the parent. */
	if ((!families_on && !shim_profiler_hz()) || shim_pid_foreign() ||
	    atomic_exchange(&finished, 1))
		return;
	shim_tls.internal++;
	shim_output_flush();
	shim_tls.internal--;
}

void shim_finish_rearm(void)
{
	atomic_store(&finished, 0);
}

static void fork_prepare(void)
{
	shim_tls.internal++;
	shim_thread_fork_prepare();
}

static void fork_parent(void)
{
	shim_thread_fork_parent();
	shim_tls.internal--;
}

static void fork_child(void)
{
	shim_pid = getpid();
	shim_log_reset();
	shim_thread_fork_child();
	shim_output_fork_child();
	shim_profiler_fork_child();
	atomic_store(&finished, 0);
	shim_tls.internal--;
}

/* Another copy of libshimmer.so earlier in LD_PRELOAD owns the hooks: this
 * copy would see nothing and write an empty profile over the real one. */
static int shadowed(void)
{
	Dl_info mine, first;
	void *w = dlsym(RTLD_DEFAULT, "write");

	if (!w || !dladdr((void *)shadowed, &mine) || !dladdr(w, &first))
		return 0;
	return first.dli_fbase != mine.dli_fbase &&
	       strstr(first.dli_fname ? first.dli_fname : "", "shimmer") != NULL;
}

__attribute__((constructor)) static void shim_ctor(void)
{
	shim_tls.internal++;
	shim_pid = getpid();
	shim_clock_init();
	if (getauxval(AT_SECURE)) {
		shim_err("secure-exec (setuid/setgid) process: instrumentation is off");
		goto out;
	}
	if (shim_config_load() != 0)
		goto out;
	if (shim_config.disabled) {
		shim_err("SHIMMER_DISABLE=1: instrumentation is off");
		goto out;
	}
	if (shadowed()) {
		shim_info("another libshimmer.so is first in LD_PRELOAD: this copy stays off");
		goto out;
	}
	if (shim_thread_init() != 0 || shim_fd_init() != 0) {
		shim_err("cannot map the statistics tables: instrumentation is off");
		goto out;
	}
	if (pthread_atfork(fork_prepare, fork_parent, fork_child) != 0) {
		shim_err("cannot register fork handlers: instrumentation is off");
		goto out;
	}
	shim_profiler_init(); /* fails open: the hooks work without it */
	families_on = shim_config.families;
	__atomic_store_n(&shim_active, families_on, __ATOMIC_RELEASE);
out:
	shim_tls.internal--;
}

__attribute__((destructor)) static void shim_dtor(void)
{
	shim_finish();
}
