/* SPDX-License-Identifier: MIT */
/* The sampler. Each thread gets its own POSIX timer (SIGEV_THREAD_ID) that
 * sends SIGPROF to that thread only; the handler unwinds into the thread's
 * mmap'd state and interns the stack. The handler never allocates, locks,
 * formats or does stdio, and it saves and restores errno. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "heap.h"
#include "log.h"
#include "profiler.h"
#include "thread.h"
#include "unwind.h"
#include "zone.h"

struct prof_thread {
	int tid;
	atomic_int live;
	char name[16];
	atomic_int has_timer;
	timer_t timer;
	uintptr_t stack_lo, stack_hi; /* [lo, hi): readable from any sp in it */
	uint64_t clock0_ns; /* thread clock when armed */
	uint64_t clock_ns;  /* thread clock at the last sample, or at exit */
	uint64_t skipped;
	atomic_int busy; /* tab is being written: by the handler or a replay */
	struct shim_unwind_scratch scratch;
	uintptr_t pcs[SHIM_DEPTH_MAX];
	struct shim_stk_table tab;
};

enum { FREE, CLAIMING, USED };

/* The registry (shim/zone.h: shim_reg_count, shim_reg_raise). */
static struct {
	atomic_int state;
	struct prof_thread *slot;
} reg[SHIM_PROF_THREADS] SHIM_BIG __attribute__((aligned(4096)));
static atomic_int reg_hi;
static __thread struct prof_thread *self __attribute__((tls_model("initial-exec")));
static atomic_int sampling;	/* the handler records */
static atomic_int owned;	/* our handler is installed for SIGPROF */
static atomic_int yielded;	/* the program took SIGPROF: never again */
static struct sigaction theirs; /* what the program believes SIGPROF does */
static clockid_t clock_id;
static struct timespec period;
static int depth, hz;
static pthread_key_t key;
static int key_ok;
static uint64_t untracked; /* threads that found no free slot */

extern void *__libc_stack_end;

/* libc's sigaction under its other exported name: our own calls skip the
 * sigaction hook, whose first use would dlsym the real one (some 10 us of
 * every process start, for programs that never call sigaction) */
extern int __sigaction(int sig, const struct sigaction *act, struct sigaction *old);

static uint64_t clock_now(void)
{
	struct timespec ts;
	if (clock_gettime(clock_id, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void disarm(struct prof_thread *t)
{
	if (atomic_exchange(&t->has_timer, 0))
		timer_delete(t->timer);
}

static void say_yield(void)
{
	static const char msg[] = "shimmer: the program handles SIGPROF: CPU sampling is off\n";
	if (shim_log_level >= SHIM_LOG_ERROR)
		(void)!write(2, msg, sizeof(msg) - 1);
}

/* A SIGPROF that is not one of our timers': the program's own profiler
 * (setitimer, its own timer, kill). Hand it to the program's handler; the
 * first time, give SIGPROF back for good: sampling stops, timers go, the
 * program's handler is installed for real. Async-signal-safe throughout. */
static void foreign(int sig, siginfo_t *si, void *uc)
{
	struct sigaction t = theirs;

	if ((t.sa_flags & SA_SIGINFO) || (t.sa_handler != SIG_DFL && t.sa_handler != SIG_IGN)) {
		if (!atomic_exchange(&yielded, 1)) {
			atomic_store(&sampling, 0);
			for (int i = 0; i < shim_reg_count(&reg_hi); i++)
				if (atomic_load(&reg[i].state) == USED && reg[i].slot)
					disarm(reg[i].slot);
			atomic_store(&owned, 0);
			__sigaction(SIGPROF, &t, NULL);
			say_yield();
		}
		if (t.sa_flags & SA_SIGINFO)
			t.sa_sigaction(sig, si, uc);
		else
			t.sa_handler(sig);
	} else if (t.sa_handler == SIG_DFL) {
		/* the default action of SIGPROF ends the process: as it would have */
		atomic_store(&owned, 0);
		__sigaction(SIGPROF, &t, NULL);
		raise(SIGPROF);
	}
}

static int is_slot(const void *p)
{
	for (int i = 0; p && i < shim_reg_count(&reg_hi); i++)
		if (reg[i].slot == p)
			return 1;
	return 0;
}

static void on_sigprof(int sig, siginfo_t *si, void *uc)
{
	int saved = errno;
	struct prof_thread *t = self;

	if (si->si_code != SI_TIMER ||
	    (si->si_value.sival_ptr != t && !is_slot(si->si_value.sival_ptr))) {
		foreign(sig, si, uc);
		goto out;
	}
	if (!t || si->si_value.sival_ptr != t || !atomic_load_explicit(&sampling, memory_order_relaxed))
		goto out;
	if (shim_tls.internal) {
		/* Shimmer's own export or fork handling: not the program's time */
		t->skipped++;
		goto out;
	}
	if (!shim_unwind_enter()) {
		/* a fork is being made: no lock may be held across it */
		t->skipped++;
		goto out;
	}
	if (shim_unwind_pending() &&
	    shim_unwind_stash(uc, t->stack_lo, t->stack_hi, t) == 0) {
		/* unwound later: the thread's next allocation takes the
		 * sampler's slow path, a normal context, and replays it */
		shim_heap_poke();
	} else if (atomic_exchange_explicit(&t->busy, 1, memory_order_acquire)) {
		t->skipped++; /* interrupted a replay into this table */
	} else {
		int n;
		/* libunwind's own calls (its memory-probe pipe, reopened if the
		 * program closed it) are Shimmer's: moved above the program's fds,
		 * never counted as the program's */
		shim_internal_enter();
		n = shim_unwind_signal(uc, &t->scratch, t->pcs, depth, t->stack_hi);
		shim_internal_leave();
		if (n > 0)
			shim_stk_add(&t->tab, t->pcs, (uint32_t)n);
		else
			t->tab.dropped++;
		atomic_store_explicit(&t->busy, 0, memory_order_release);
	}
	shim_unwind_leave();
	t->clock_ns = clock_now();
out:
	errno = saved;
}

/* Zero pages on next touch, no resident memory until then. */
static void wipe(struct prof_thread *t)
{
	syscall(SYS_madvise, t, sizeof(*t), MADV_DONTNEED);
}

static struct prof_thread *claim(void)
{
	static atomic_int hint;
	int start = atomic_load_explicit(&hint, memory_order_relaxed);

	for (int n = 0; n < SHIM_PROF_THREADS; n++) {
		int i = (start + n) % SHIM_PROF_THREADS, expect = FREE;
		/* no load first: a read of a page never written maps the zero
		 * page, and the write after it faults a second time */
		if (!atomic_compare_exchange_strong(&reg[i].state, &expect, CLAIMING))
			continue;
		shim_reg_raise(&reg_hi, i);
		if (!reg[i].slot)
			reg[i].slot = shim_zone_map(sizeof(struct prof_thread));
		if (!reg[i].slot) {
			atomic_store(&reg[i].state, FREE);
			return NULL;
		}
		reg[i].slot->tid = (int)syscall(SYS_gettid);
		atomic_store(&reg[i].slot->live, 1);
		atomic_store_explicit(&reg[i].state, USED, memory_order_release);
		atomic_store_explicit(&hint, (i + 1) % SHIM_PROF_THREADS, memory_order_relaxed);
		return reg[i].slot;
	}
	__atomic_fetch_add(&untracked, 1, __ATOMIC_RELAXED);
	return NULL;
}

static void release(struct prof_thread *t)
{
	for (int i = 0; i < shim_reg_count(&reg_hi); i++) {
		if (reg[i].slot == t) {
			wipe(t);
			atomic_store(&reg[i].state, FREE);
			return;
		}
	}
}

static int arm(struct prof_thread *t)
{
	struct sigevent sev;
	struct itimerspec its;

	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = SIGPROF;
	sev._sigev_un._tid = t->tid;
	sev.sigev_value.sival_ptr = t;
	if (timer_create(clock_id, &sev, &t->timer) != 0)
		return -1;
	t->clock0_ns = t->clock_ns = clock_now();
	its.it_interval = period;
	its.it_value = period;
	atomic_store(&t->has_timer, 1);
	if (timer_settime(t->timer, 0, &its, NULL) != 0) {
		atomic_store(&t->has_timer, 0);
		timer_delete(t->timer);
		return -1;
	}
	return 0;
}

/* pthread key destructor: the thread ends; keep its samples, stop its timer. */
static void thread_end(void *arg)
{
	struct prof_thread *t = arg;

	disarm(t);
	shim_profiler_catch_up(); /* before the slot may be released */
	self = NULL;
	prctl(PR_GET_NAME, t->name, 0, 0, 0);
	atomic_store(&t->live, 0);
	if (!t->tab.samples && !t->tab.dropped)
		release(t);
}

static void start_thread(uintptr_t stack_lo, uintptr_t stack_hi)
{
	struct prof_thread *t;

	if (!atomic_load(&sampling) || self)
		return;
	t = claim();
	if (!t)
		return;
	t->stack_lo = stack_lo;
	t->stack_hi = stack_hi;
	if (arm(t) != 0) {
		release(t);
		return;
	}
	self = t;
	if (key_ok)
		pthread_setspecific(key, t);
}

void shim_profiler_thread_start(void)
{
	pthread_attr_t a;
	uintptr_t lo = 0, hi = 0;
	void *addr;
	size_t size;

	if (!atomic_load(&sampling) || self)
		return;
	shim_internal_enter();
	/* the thread's stack bounds the frame-pointer fallback; glibc reads
	 * them from the thread descriptor (no /proc read off the main thread) */
	if (pthread_getattr_np(pthread_self(), &a) == 0) {
		if (pthread_attr_getstack(&a, &addr, &size) == 0) {
			lo = (uintptr_t)addr;
			hi = lo + size;
		}
		pthread_attr_destroy(&a);
	}
	start_thread(lo, hi);
	shim_internal_leave();
}

/* Start records of threads created and not yet running: a fixed pool. */
#define WRAPS 256
struct wrap {
	atomic_int used;
	void *(*start)(void *);
	void *arg;
};
static struct wrap wraps[WRAPS] SHIM_BIG;

static void *wrapped_start(void *p)
{
	struct wrap *w = p;
	void *(*start)(void *) = w->start;
	void *arg = w->arg;

	atomic_store_explicit(&w->used, 0, memory_order_release);
	shim_profiler_thread_start();
	return start(arg);
}

void *shim_profiler_wrap(void *(**start)(void *), void **arg)
{
	/* The program's first thread (heap sampling alone: with CPU sampling
	 * the constructor loaded it): load the unwinder first. glibc sizes a thread's DTV when it
	 * makes the thread, so a TLS module loaded later (libunwind has one)
	 * changes the size of pthread_create's calloc and the number of frees a
	 * thread's teardown makes, depending on when the first sample came: the
	 * exact allocation counts would differ from run to run. A normal
	 * context: the program's own call, no lock of ours held. */
	if (!shim_tls.internal && (hz || shim_heap_mean()) && !shim_unwind_ready()) {
		int saved = errno; /* the loader's searches are not the program's */
		shim_internal_enter();
		if (shim_unwind_enter()) {
			shim_unwind_load();
			shim_unwind_leave();
		}
		shim_internal_leave();
		shim_profiler_catch_up();
		errno = saved;
	}
	if (!atomic_load_explicit(&sampling, memory_order_relaxed) || shim_tls.internal)
		return NULL;
	for (int i = 0; i < WRAPS; i++) {
		int expect = 0;
		if (atomic_load_explicit(&wraps[i].used, memory_order_relaxed) ||
		    !atomic_compare_exchange_strong(&wraps[i].used, &expect, 1))
			continue;
		wraps[i].start = *start;
		wraps[i].arg = *arg;
		*start = wrapped_start;
		*arg = &wraps[i];
		return &wraps[i];
	}
	__atomic_fetch_add(&untracked, 1, __ATOMIC_RELAXED);
	return NULL;
}

void shim_profiler_unwrap(void *rec)
{
	struct wrap *w = rec;
	if (w)
		atomic_store(&w->used, 0);
}

/* The main thread's stack: every page between its sp and the top is mapped,
 * and no mapping is placed within its size limit below the top. */
static uintptr_t main_stack_lo(uintptr_t hi)
{
	struct rlimit rl;
	uintptr_t size = 8u << 20;

	if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < ((uintptr_t)1 << 30))
		size = (uintptr_t)rl.rlim_cur;
	return hi > size ? hi - size : 0;
}

/* Add a replayed sample to its thread's table. The table's other writer is
 * that thread's handler, which never waits: it skips its sample while a
 * replay holds the table; a replay waits the few microseconds a handler in
 * another thread holds it (in its own thread, no handler is mid-add). */
static void replayed(void *owner, const uintptr_t *pcs, int n)
{
	struct prof_thread *t = owner;
	struct timespec nap = {0, 10000};

	while (atomic_exchange_explicit(&t->busy, 1, memory_order_acquire))
		nanosleep(&nap, NULL);
	if (n > 0)
		shim_stk_add(&t->tab, pcs, (uint32_t)n);
	else
		t->tab.dropped++;
	atomic_store_explicit(&t->busy, 0, memory_order_release);
}

void shim_profiler_catch_up(void)
{
	int saved;

	if (!shim_unwind_stashed() || shim_tls.vforked)
		return;
	saved = errno; /* called from hooks: the loader's errno is not the program's */
	shim_internal_enter();
	if (shim_unwind_enter()) {
		shim_unwind_replay(replayed, depth);
		shim_unwind_leave();
	}
	shim_internal_leave();
	errno = saved;
}

int shim_profiler_init(void)
{
	struct sigaction sa, old;

	hz = shim_config.hz;
	if (!hz)
		return 0;
	depth = shim_config.stack_depth;
	clock_id = shim_config.clock_wall ? CLOCK_MONOTONIC : CLOCK_THREAD_CPUTIME_ID;
	period.tv_sec = hz == 1 ? 1 : 0;
	period.tv_nsec = hz == 1 ? 0 : 1000000000L / hz;
	if (__sigaction(SIGPROF, NULL, &old) != 0)
		goto off;
	if ((old.sa_flags & SA_SIGINFO) ||
	    (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN)) {
		shim_err("the program handles SIGPROF: CPU sampling is off");
		goto off;
	}
	theirs = old;
	/* libunwind is not opened here: samples taken before it is are copied
	 * and unwound later (shim/unwind_late.c) */
	if (shim_unwind_stash_init() != 0)
		shim_info("no room for early samples: frame-pointer stacks until libunwind is loaded");
	key_ok = pthread_key_create(&key, thread_end) == 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigprof;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (__sigaction(SIGPROF, &sa, NULL) != 0) {
		shim_err("cannot install the SIGPROF handler: %s; CPU sampling is off",
			 strerror(errno));
		goto off;
	}
	atomic_store(&owned, 1);
	atomic_store(&sampling, 1);
	start_thread(main_stack_lo((uintptr_t)__libc_stack_end), (uintptr_t)__libc_stack_end);
	return 0;
off:
	hz = 0;
	return -1;
}

void shim_profiler_fork_child(void)
{
	struct prof_thread *me = self;

	if (!atomic_load(&sampling))
		return;
	/* timers are not inherited: the child has only this thread, and only
	 * its own samples belong in its outputs */
	for (int i = 0; i < shim_reg_count(&reg_hi); i++) {
		if (!reg[i].slot || reg[i].slot == me)
			continue;
		if (atomic_load(&reg[i].state) != FREE)
			wipe(reg[i].slot);
		atomic_store(&reg[i].state, FREE);
	}
	untracked = 0;
	shim_unwind_stash_fork_child();
	if (me) {
		uintptr_t lo = me->stack_lo, hi = me->stack_hi;
		wipe(me);
		me->tid = (int)syscall(SYS_gettid);
		me->stack_lo = lo;
		me->stack_hi = hi;
		atomic_store(&me->live, 1);
		if (arm(me) != 0) {
			self = NULL;
			release(me);
		}
	}
}

int shim_profiler_owns_sigprof(void)
{
	return atomic_load_explicit(&owned, memory_order_relaxed);
}

void shim_profiler_sigprof(const struct sigaction *act, struct sigaction *prev)
{
	*prev = theirs;
	if (act)
		theirs = *act;
}

void shim_profiler_foreach(void (*fn)(const struct shim_prof_view *, void *), void *arg)
{
	for (int i = 0; i < shim_reg_count(&reg_hi); i++) {
		struct prof_thread *t = reg[i].slot;
		struct shim_prof_view v;

		if (atomic_load_explicit(&reg[i].state, memory_order_acquire) != USED || !t)
			continue;
		if (!t->tab.samples && !t->tab.dropped)
			continue;
		memset(&v, 0, sizeof(v));
		v.tid = t->tid;
		v.live = atomic_load(&t->live);
		v.name = v.live ? "" : t->name;
		v.samples = t->tab.samples;
		v.dropped = t->tab.dropped;
		v.skipped = t->skipped;
		v.clock_seconds = (double)(t->clock_ns - t->clock0_ns) * 1e-9;
		v.tab = &t->tab;
		fn(&v, arg);
	}
}

int shim_profiler_hz(void)
{
	return hz;
}

int shim_profiler_wall(void)
{
	return clock_id == CLOCK_MONOTONIC && hz;
}

static void count_samples(const struct shim_prof_view *v, void *arg)
{
	*(uint64_t *)arg += v->samples;
}

uint64_t shim_profiler_samples(void)
{
	uint64_t n = 0;
	shim_profiler_foreach(count_samples, &n);
	return n;
}
