/* SPDX-License-Identifier: MIT */
/* Signal-context unwinding. libunwind is opened RTLD_LOCAL (its _Unwind_*
 * symbols must never stand in front of libgcc_s for the target's C++
 * exceptions) on first need; until then, and when it is missing, a
 * frame-pointer walk bounded to the stack. Runs in the SIGPROF handler: no
 * malloc, no stdio, no locks of our own, never a load. */
#define UNW_LOCAL_ONLY
#include <dlfcn.h>
#include <link.h>
#include <libunwind.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include "log.h"
#include "thread.h"
#include "unwind.h"

/* When libunwind is loaded. Opening it (and liblzma behind it) and its first
 * walk cost about 0.25 ms, so never at start: a process that samples nothing
 * (most short ones) never maps it. It is loaded from a normal context only
 * (the handler never loads anything: no malloc, no lock in a signal handler):
 * the heap sampler's walk (an allocation hook after the real allocator
 * returned, the guard held, inside shim_unwind_enter so no fork is made
 * meanwhile); the replay of early CPU samples (unwind_late.c: the next
 * allocation of a thread that took one, its end, the process's exit or exec);
 * the program's first pthread_create (every thread then has the same TLS
 * layout). Every load waits for r_debug to be consistent (no object being
 * mapped by any thread) and leaves vfork children alone; only one thread
 * loads. */
enum { UNW_NONE, UNW_LOADING, UNW_READY, UNW_FAILED };

#define STR_(x) #x
#define STR(x) STR_(x)

static __typeof__(&unw_init_local2) p_init_local2;
static __typeof__(&unw_step) p_step;
static __typeof__(&unw_get_reg) p_get_reg;
static __typeof__(&unw_tdep_getcontext) p_getcontext;
static int (*p_backtrace)(void **, int);
static atomic_int unw_state; /* UNW_*: READY is published after the pointers */
uintptr_t shim_unwind_lo, shim_unwind_hi;
/* a fork is being made: no new walk (read by every walk: a line of its own) */
static _Alignas(64) atomic_int forking;
/* Walks in progress, all threads, as a sum of striped counters: a thread
 * counts in its own stripe's cache line, so two threads sampling do not pass
 * one line back and forth twice a walk (a fork sums the stripes). */
#define STRIPES 64
static struct {
	_Alignas(64) atomic_int n;
} unwinding[STRIPES];
static atomic_uint stripes_given;
/* this thread's stripe + 1 (0: none yet) */
static __thread unsigned my_stripe __attribute__((tls_model("initial-exec")));
/* this thread's walks in progress (a handler may interrupt a heap walk, and
 * a fork made from a handler cannot wait for the walk it interrupted) */
static __thread int in_unwind __attribute__((tls_model("initial-exec")));

_Static_assert(sizeof(unw_cursor_t) <= sizeof(((struct shim_unwind_scratch *)0)->cursor),
	       "scratch too small for unw_cursor_t");

struct text {
	uintptr_t addr, lo, hi;
	const char *path;
};

static int find_text(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct text *t = arg;

	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) && t->addr >= lo &&
		    t->addr < lo + ph->p_memsz) {
			t->lo = lo;
			t->hi = lo + ph->p_memsz;
			t->path = info->dlpi_name;
			return 1;
		}
	}
	return 0;
}

int shim_unwind_text_of(const void *addr, uintptr_t *lo, uintptr_t *hi, const char **path)
{
	struct text t = {(uintptr_t)addr, 0, 0, NULL};

	if (!dl_iterate_phdr(find_text, &t))
		return -1;
	if (lo)
		*lo = t.lo;
	if (hi)
		*hi = t.hi;
	if (path)
		*path = t.path;
	return 0;
}

static void say_missing(void)
{
	static const char msg[] = "shimmer: libunwind.so.8 not found: stacks by frame pointers only\n";

	/* may run in the handler or an allocation hook: no formatting */
	if (shim_log_level >= SHIM_LOG_INFO)
		(void)!write(2, msg, sizeof(msg) - 1);
}

/* Open libunwind and walk once (its lazy global init and the caches of our
 * own modules are then done). Callers have checked the context. */
static int load(void)
{
	int expect = UNW_NONE;
	void *h;
	unw_context_t ctx;
	unw_cursor_t c;

	if (_r_debug.r_state != RT_CONSISTENT)
		return -1; /* an object is being mapped: later */
	if (!atomic_compare_exchange_strong(&unw_state, &expect, UNW_LOADING))
		return expect == UNW_READY ? 0 : -1;
	h = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
	if (!h)
		goto fail;
	p_init_local2 = (__typeof__(p_init_local2))dlsym(h, STR(unw_init_local2));
	p_step = (__typeof__(p_step))dlsym(h, STR(unw_step));
	p_get_reg = (__typeof__(p_get_reg))dlsym(h, STR(unw_get_reg));
	p_getcontext = (__typeof__(p_getcontext))dlsym(h, STR(unw_tdep_getcontext));
	if (!p_init_local2 || !p_step || !p_get_reg || !p_getcontext)
		goto fail;
	/* the fast walk (a per-thread cache of frame shapes) for the heap
	 * sampler: unw_step takes libunwind's global cache lock and masks
	 * signals twice per frame */
	p_backtrace = (int (*)(void **, int))dlsym(h, "unw_backtrace");
	shim_unwind_text_of((const void *)(uintptr_t)p_step, &shim_unwind_lo, &shim_unwind_hi, NULL);
	p_getcontext(&ctx);
	if (p_init_local2(&c, &ctx, 0) == 0)
		for (int i = 0; i < 8 && p_step(&c) > 0; i++)
			;
	atomic_store_explicit(&unw_state, UNW_READY, memory_order_release);
	return 0;
fail:
	atomic_store(&unw_state, UNW_FAILED);
	say_missing();
	return -1;
}

int shim_unwind_load(void)
{
	int st = atomic_load_explicit(&unw_state, memory_order_acquire);

	if (st == UNW_READY)
		return 0;
	if (st != UNW_NONE || shim_tls.vforked)
		return -1;
	return load();
}

int shim_unwind_ready(void)
{
	return atomic_load_explicit(&unw_state, memory_order_acquire) == UNW_READY;
}

int shim_unwind_pending(void)
{
	int st = atomic_load_explicit(&unw_state, memory_order_acquire);

	return st == UNW_NONE || st == UNW_LOADING;
}

static atomic_int *stripe(void)
{
	unsigned k = my_stripe;

	if (__builtin_expect(k == 0, 0)) {
		/* a handler may get here first, then the code it interrupted: both
		 * claim, the later one's stripe is kept; either is right */
		k = atomic_fetch_add_explicit(&stripes_given, 1, memory_order_relaxed) % STRIPES + 1;
		my_stripe = k;
	}
	return &unwinding[k - 1].n;
}

int shim_unwind_in_progress(void)
{
	int sum = 0;

	for (int i = 0; i < STRIPES; i++)
		sum += atomic_load(&unwinding[i].n);
	return sum;
}

/* The count and the test of forking are sequentially consistent, as the
 * fork's store and its sum: a walk either sees the fork coming or is seen. */
int shim_unwind_enter(void)
{
	atomic_int *c = stripe();

	atomic_fetch_add(c, 1);
	if (atomic_load(&forking)) {
		atomic_fetch_sub(c, 1);
		return 0;
	}
	in_unwind++;
	return 1;
}

void shim_unwind_leave(void)
{
	in_unwind--;
	atomic_fetch_sub(stripe(), 1);
}

void shim_unwind_fork_prepare(void)
{
	struct timespec nap = {0, 50000}, t0, now;

	atomic_store(&forking, 1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (shim_unwind_in_progress() > in_unwind) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if ((now.tv_sec - t0.tv_sec) * 1000000000L + (now.tv_nsec - t0.tv_nsec) >
		    1000000000L)
			break; /* a thread that does not run (stopped, traced): fork all the same */
		nanosleep(&nap, NULL);
	}
}

void shim_unwind_fork_parent(void)
{
	atomic_store(&forking, 0);
}

void shim_unwind_fork_child(void)
{
	/* only this thread lives on: its own walks are the only ones */
	for (int i = 0; i < STRIPES; i++)
		atomic_store(&unwinding[i].n, 0);
	if (in_unwind)
		atomic_store(stripe(), in_unwind);
	atomic_store(&forking, 0);
}

int shim_unwind_fp(const void *mem, uintptr_t lo, uintptr_t hi, uintptr_t fp, uintptr_t *pcs, int n,
		   int max)
{
	while (n < max && fp >= lo && fp + 16 <= hi && !(fp & 7)) {
		uintptr_t f[2];
		memcpy(f, (const unsigned char *)mem + (fp - lo), sizeof(f));
		if (!f[1])
			break;
		pcs[n++] = f[1];
		if (f[0] <= fp)
			break;
		fp = f[0];
	}
	return n;
}

/* Frame pointers of the interrupted code, bounded to [sp, hi). */
static int fp_walk(const ucontext_t *uc, uintptr_t hi, uintptr_t *pcs, int n, int max)
{
#if defined(__x86_64__)
	uintptr_t sp = (uintptr_t)uc->uc_mcontext.gregs[REG_RSP];

	return shim_unwind_fp((const void *)sp, sp, hi, (uintptr_t)uc->uc_mcontext.gregs[REG_RBP],
			      pcs, n, max);
#else
	(void)uc, (void)hi, (void)pcs, (void)max;
	return n;
#endif
}

int shim_unwind_signal(void *ucv, struct shim_unwind_scratch *s, uintptr_t *pcs, int max,
		       uintptr_t stack_hi)
{
	ucontext_t *uc = ucv;
	int n = 0, st;

	if (max <= 0)
		return 0;
#if defined(__x86_64__)
	pcs[n++] = (uintptr_t)uc->uc_mcontext.gregs[REG_RIP];
#else
	return 0;
#endif
	st = atomic_load_explicit(&unw_state, memory_order_acquire);
	if (st == UNW_READY) {
		unw_cursor_t *c = (unw_cursor_t *)s->cursor;
		if (p_init_local2(c, (unw_context_t *)uc, UNW_INIT_SIGNAL_FRAME) == 0) {
			while (n < max && p_step(c) > 0) {
				unw_word_t ip;
				if (p_get_reg(c, UNW_REG_IP, &ip) != 0 || !ip)
					break;
				pcs[n++] = (uintptr_t)ip;
			}
			return n;
		}
	}
	return stack_hi ? fp_walk(uc, stack_hi, pcs, n, max) : n;
}

int shim_unwind_here(uintptr_t *pcs, int max)
{
	unw_context_t ctx;
	unw_cursor_t c;
	int n = 0;

	if (max <= 0 || shim_unwind_load() != 0)
		return 0;
	if (p_backtrace) {
		/* its first entry is inside unw_backtrace: leave libunwind out */
		n = p_backtrace((void **)pcs, max);
		while (n > 0 && shim_unwind_owns(pcs[0])) {
			memmove(pcs, pcs + 1, (size_t)(n - 1) * sizeof(*pcs));
			n--;
		}
		return n;
	}
	p_getcontext(&ctx);
	if (p_init_local2(&c, &ctx, 0) != 0)
		return 0;
	/* the cursor starts in this function: its caller's frame is the first step */
	while (n < max && p_step(&c) > 0) {
		unw_word_t ip;
		if (p_get_reg(&c, UNW_REG_IP, &ip) != 0 || !ip)
			break;
		pcs[n++] = (uintptr_t)ip;
	}
	return n;
}
