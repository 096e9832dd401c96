/* SPDX-License-Identifier: MIT */
/* The constructor and destructor. The constructor only reads settings, maps
 * the fixed tables and registers fork handlers: no thread, no file I/O, no
 * heavy library, so every process the user starts pays little. */
#include <dlfcn.h>
#include <errno.h>
#include <jansson.h>
#include <link.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "otlp.h"
#include "span.h"
#include "control.h"
#include "fdtab.h"
#include "heap.h"
#include "init.h"
#include "libs.h"
#include "log.h"
#include "metrics.h"
#include "output.h"
#include "profiler.h"
#include "record.h"
#include "thread.h"
#include "unwind.h"
#include "worker.h"

int shim_pid;
static atomic_int finished;
static unsigned families_on; /* what shim_active is when on */

int shim_pid_foreign(void)
{
	return (int)syscall(SYS_getpid) != shim_pid;
}

int shim_pid_foreign_fast(void)
{
	int e;

	if (__builtin_expect(!shim_tls.vforked, 1))
		return 0;
	e = errno;
	if ((int)syscall(SYS_getpid) != shim_pid) {
		errno = e;
		return 1; /* the vfork child, in our memory */
	}
	shim_tls.vforked = 0; /* the parent, back: the child has exec'd or exited */
	errno = e;
	return 0;
}

void shim_finish(void)
{
	shim_finish_by(0);
}

void shim_finish_by(int by_exec)
{
	uint64_t start;

	/* A vfork child (or a raw clone/_Fork child, which skips the fork handlers)
	 * holds the parent's state: writing would publish it under the wrong pid,
	 * and setting `finished` in a vfork child would silence the parent. */
	if ((!families_on && !shim_profiler_hz()) || shim_pid_foreign() ||
	    atomic_exchange(&finished, 1))
		return;
	shim_internal_enter();
	start = shim_clock_mono_ns();
	/* the worker may sit in an export: wait no longer than the exit flush may
	 * take, then go on without it */
	shim_worker_stop(shim_otlp_active() ? (unsigned)shim_config.exit_flush_ms : 2000);
	shim_span_finish(by_exec);
	shim_otlp_final(start);
	shim_control_close();
	shim_output_flush();
	shim_internal_leave();
}

void shim_finish_rearm(void)
{
	atomic_store(&finished, 0);
}

static void fork_prepare(void)
{
	shim_internal_enter();
	shim_output_fork_prepare(); /* before the registry lock: a flush takes both */
	shim_unwind_fork_prepare(); /* no thread inside libunwind or the loader */
	shim_thread_fork_prepare();
}

static void fork_parent(void)
{
	shim_thread_fork_parent();
	shim_output_fork_parent();
	shim_unwind_fork_parent();
	shim_internal_leave();
}

static void fork_child(void)
{
	shim_pid = getpid();
	shim_log_reset();
	shim_libs_fork_child();
	shim_thread_fork_child();
	shim_output_fork_child();
	shim_unwind_fork_child();
	shim_profiler_fork_child();
	shim_worker_fork_child();
	shim_metrics_fork_child(); /* after the worker's lock is fresh */
	shim_span_fork_child();
	shim_otlp_fork_child();
	shim_control_fork_child(); /* after the worker's lock is fresh */
	atomic_store(&finished, 0);
	shim_internal_leave();
}

/* Another copy of libshimmer.so earlier in LD_PRELOAD owns the hooks: this
 * copy would see nothing and write an empty profile over the real one. A copy
 * is an object loaded before this one whose name says shimmer, or (renamed)
 * which holds this very code at the same offset. Objects are checked in load
 * order, not by who wins "write": a sanitizer runtime may come first. No
 * dlopen/dlsym here: a failed one leaves a dlerror string that the next dl
 * call frees through our not yet resolved free. */
#define SHADOW_BYTES 64

struct shadow_scan {
	uintptr_t code; /* this function's address */
	uintptr_t mine; /* this object's load address, 0 until found */
	int found;
};

static int covers(const struct dl_phdr_info *info, uintptr_t a)
{
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) && a >= lo &&
		    a + SHADOW_BYTES <= lo + ph->p_memsz)
			return 1;
	}
	return 0;
}

static int find_mine(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct shadow_scan *s = arg;

	(void)size;
	if (!covers(info, s->code))
		return 0;
	s->mine = info->dlpi_addr;
	return 1;
}

static int scan_before(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct shadow_scan *s = arg;
	const char *b;
	uintptr_t twin;

	(void)size;
	if (info->dlpi_addr == s->mine)
		return 1; /* only the objects before this one */
	b = info->dlpi_name ? strrchr(info->dlpi_name, '/') : NULL;
	b = b ? b + 1 : info->dlpi_name ? info->dlpi_name : "";
	twin = info->dlpi_addr + (s->code - s->mine);
	if (strstr(b, "shimmer") ||
	    (covers(info, twin) && memcmp((void *)twin, (void *)s->code, SHADOW_BYTES) == 0))
		s->found = 1;
	return s->found;
}

static int shadowed(void)
{
	struct shadow_scan s = {.code = (uintptr_t)shadowed};

	dl_iterate_phdr(find_mine, &s);
	if (!s.mine)
		return 0;
	dl_iterate_phdr(scan_before, &s);
	return s.found;
}

__attribute__((constructor)) static void shim_ctor(void)
{
	shim_internal_enter();
	shim_pid = getpid();
	shim_clock_init();
	if (getauxval(AT_SECURE)) {
		shim_err("secure-exec (setuid/setgid) process: instrumentation is off");
		goto out;
	}
	if (shim_config_load() != 0)
		goto out;
	if (!shim_config.tsc)
		shim_clock_tsc = 0; /* no tick was taken yet: every reading is ns */
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
	shim_metrics_init();  /* a listener for the worker: no thread yet */
	shim_span_init();     /* context and span tables; an invalid TRACEPARENT is one line */
	shim_otlp_init();     /* registers the periodic push; no thread, no libcurl yet */
	shim_heap_init();     /* likewise */
	shim_control_init();  /* registers worker jobs only: no thread yet */
	families_on = shim_config.families;
	__atomic_store_n(&shim_active, families_on, __ATOMIC_RELEASE);
out:
	shim_internal_leave();
}

__attribute__((destructor)) static void shim_dtor(void)
{
	shim_finish();
}
