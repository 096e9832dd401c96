/* SPDX-License-Identifier: MIT */
/* The worker thread: a poll loop over an eventfd, the watched fds and the
 * earliest due job. Created lazily (PITFALLS: no thread before main), all
 * signals blocked (the target's signals go to the target's threads), every
 * call it makes passes through the hooks untouched. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "thread.h"
#include "worker.h"

struct job {
	uint64_t period_ns, next_ns;
	void (*fn)(void *);
	void *arg;
};

struct watch {
	int fd;
	void (*fn)(int, void *);
	void *arg;
	int now; /* wants the thread (not shim_worker_watch_lazy) */
};

volatile int shim_worker_pending SHIM_HOT;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER; /* jobs, watches, state */
static struct job jobs[SHIM_WORKER_JOBS];
static struct watch watches[SHIM_WORKER_FDS];
static struct job starts[4]; /* shim_worker_on_start: fn and arg only */
static struct job early[2];  /* shim_worker_on_start_shared */
static int njobs, nwatches, nstarts, nearly;
/* Jobs alone need no thread before the first one is due: a process that
 * lives less than that (a shell loop's `true`) never starts one. A watch or
 * a start hook wants it from the next hooked call. */
static atomic_ullong start_at;
static atomic_int start_now;
static int wake_fd = -1;
static atomic_int running, stopping, exited, created, worker_tid;
static pthread_t thread;

/* The thread for a job due at `due`: from the first hooked call after it, or
 * after LAZY_MS at most (a program that then blocks in one long call would
 * otherwise leave its first spans unsent until it returns). */
#define LAZY_MS 20
static void lazy_start(uint64_t due)
{
	uint64_t cap = shim_clock_mono_ns() + LAZY_MS * 1000000ull, at = atomic_load(&start_at);

	if (due > cap)
		due = cap;
	if (!at || due < at)
		atomic_store(&start_at, due);
}

int shim_worker_every(unsigned period_ms, void (*fn)(void *), void *arg)
{
	int rc = -1;

	if (!period_ms || !fn)
		return -1;
	pthread_mutex_lock(&lock);
	if (njobs < SHIM_WORKER_JOBS) {
		jobs[njobs].period_ns = (uint64_t)period_ms * 1000000ull;
		jobs[njobs].next_ns = shim_clock_mono_ns() + jobs[njobs].period_ns;
		jobs[njobs].fn = fn;
		jobs[njobs].arg = arg;
		lazy_start(jobs[njobs].next_ns);
		njobs++;
		rc = 0;
		if (!atomic_load(&running))
			shim_worker_pending = 1;
	}
	pthread_mutex_unlock(&lock);
	shim_worker_wake();
	return rc;
}

static int watch(int fd, void (*fn)(int, void *), void *arg, int now)
{
	int rc = -1;

	pthread_mutex_lock(&lock);
	if (nwatches < SHIM_WORKER_FDS && fd >= 0 && fn) {
		watches[nwatches].fd = fd;
		watches[nwatches].fn = fn;
		watches[nwatches].arg = arg;
		watches[nwatches].now = now;
		nwatches++;
		rc = 0;
		if (now)
			atomic_store(&start_now, 1);
		if (!atomic_load(&running))
			shim_worker_pending = 1;
	}
	pthread_mutex_unlock(&lock);
	shim_worker_wake();
	return rc;
}

int shim_worker_watch(int fd, void (*fn)(int, void *), void *arg)
{
	return watch(fd, fn, arg, 1);
}

int shim_worker_watch_lazy(int fd, void (*fn)(int, void *), void *arg)
{
	return watch(fd, fn, arg, 0);
}

int shim_worker_on_start(void (*fn)(void *), void *arg)
{
	int rc = -1;

	pthread_mutex_lock(&lock);
	if (fn && nstarts < (int)(sizeof(starts) / sizeof(starts[0]))) {
		starts[nstarts].fn = fn;
		starts[nstarts].arg = arg;
		nstarts++;
		rc = 0;
		atomic_store(&start_now, 1);
		if (!atomic_load(&running))
			shim_worker_pending = 1;
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

int shim_worker_on_start_shared(void (*fn)(void *), void *arg)
{
	int rc = -1;

	pthread_mutex_lock(&lock);
	if (fn && nearly < (int)(sizeof(early) / sizeof(early[0]))) {
		early[nearly].fn = fn;
		early[nearly].arg = arg;
		nearly++;
		rc = 0;
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

void shim_worker_unwatch(int fd)
{
	pthread_mutex_lock(&lock);
	for (int i = 0; i < nwatches; i++)
		if (watches[i].fd == fd) {
			watches[i] = watches[--nwatches];
			break;
		}
	pthread_mutex_unlock(&lock);
	shim_worker_wake();
}

void shim_worker_wake(void)
{
	uint64_t one = 1;
	int saved = errno;

	if (wake_fd >= 0 && write(wake_fd, &one, sizeof(one)) < 0) {
		/* a full counter already means "wake" */
	}
	errno = saved;
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* The private table starts as a copy of the program's: every fd the program
 * had open then would stay open here after the program closes it, and a
 * reader waiting for EOF on a pipe the program closed would wait forever.
 * Keep only what the worker uses (its eventfd, the watched listeners) and
 * stderr for its one-line messages; close the rest of the copy. */
static void drop_inherited(void)
{
	int keep[SHIM_WORKER_FDS + 3], n = 0, from = 0;
	struct rlimit rl;
	unsigned top = 65536;

	keep[n++] = 2;
	if (wake_fd >= 0)
		keep[n++] = wake_fd;
	pthread_mutex_lock(&lock);
	for (int i = 0; i < nwatches; i++)
		keep[n++] = watches[i].fd;
	pthread_mutex_unlock(&lock);
	qsort(keep, (size_t)n, sizeof(keep[0]), cmp_int);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < top)
		top = (unsigned)rl.rlim_cur;
	for (int i = 0; i <= n; i++) {
		int to = i < n ? keep[i] - 1 : (int)top - 1;
		if (to >= from && syscall(SYS_close_range, (unsigned)from, (unsigned)to, 0) != 0)
			for (int fd = from; fd <= to; fd++)
				syscall(SYS_close, fd);
		if (i < n)
			from = keep[i] + 1;
	}
}

static void *loop(void *unused)
{
	(void)unused;
	shim_internal_forever(); /* for the thread's whole life */
	atomic_store(&worker_tid, (int)syscall(SYS_gettid));
	for (int i = 0;; i++) {
		struct job s;
		pthread_mutex_lock(&lock);
		if (i >= nearly) {
			pthread_mutex_unlock(&lock);
			break;
		}
		s = early[i];
		pthread_mutex_unlock(&lock);
		s.fn(s.arg);
	}
	/* A table of fds of its own: the files and sockets opened here (flushes,
	 * the control socket) never take a number the program is about to reuse
	 * (a shell's close(1) then dup2(f, 1)), and the program cannot close or
	 * dup2 over them. fds made before this point (wake_fd, watches
	 * registered earlier) are shared still: the copy refers to the same files. */
	if (unshare(CLONE_FILES) != 0)
		shim_debug("worker: no fd table of its own (%s): its fds share the program's",
			   strerror(errno));
	else
		drop_inherited();
	for (int i = 0;; i++) {
		struct job s;
		pthread_mutex_lock(&lock);
		if (i >= nstarts) {
			pthread_mutex_unlock(&lock);
			break;
		}
		s = starts[i];
		pthread_mutex_unlock(&lock);
		s.fn(s.arg);
	}
	while (!atomic_load(&stopping)) {
		struct pollfd pfd[SHIM_WORKER_FDS + 1];
		struct watch w[SHIM_WORKER_FDS];
		uint64_t now = shim_clock_mono_ns(), due = now + 1000000000ull;
		int n, timeout;

		pthread_mutex_lock(&lock);
		for (int i = 0; i < njobs; i++)
			if (jobs[i].next_ns < due)
				due = jobs[i].next_ns;
		n = nwatches;
		memcpy(w, watches, sizeof(w[0]) * (size_t)n);
		pthread_mutex_unlock(&lock);

		pfd[0].fd = wake_fd;
		pfd[0].events = POLLIN;
		for (int i = 0; i < n; i++) {
			pfd[i + 1].fd = w[i].fd;
			pfd[i + 1].events = POLLIN;
			pfd[i + 1].revents = 0;
		}
		timeout = due > now ? (int)((due - now + 999999) / 1000000) : 0;
		if (poll(pfd, (nfds_t)n + 1, timeout) > 0) {
			if (pfd[0].revents & POLLIN) {
				uint64_t v;
				if (read(wake_fd, &v, sizeof(v)) < 0) {
					/* drained by someone else: fine */
				}
			}
			for (int i = 0; i < n; i++) {
				/* the program closed our fd (daemons close "all"): forget
				 * it rather than spin on POLLNVAL */
				if (pfd[i + 1].revents & POLLNVAL)
					shim_worker_unwatch(w[i].fd);
				else if (pfd[i + 1].revents & (POLLIN | POLLERR | POLLHUP))
					w[i].fn(w[i].fd, w[i].arg);
			}
		}
		if (atomic_load(&stopping))
			break;
		now = shim_clock_mono_ns();
		for (int i = 0;; i++) {
			struct job j;
			pthread_mutex_lock(&lock);
			if (i >= njobs) {
				pthread_mutex_unlock(&lock);
				break;
			}
			j = jobs[i];
			if (j.next_ns <= now)
				jobs[i].next_ns = now + j.period_ns;
			pthread_mutex_unlock(&lock);
			if (j.next_ns <= now)
				j.fn(j.arg);
		}
	}
	atomic_store(&exited, 1);
	return NULL;
}

/* The lowest fd shim_worker_high_fd moves to: 1000, or 64 below
 * RLIMIT_NOFILE when that is lower. Read once, not for every fd (a short
 * coreutils process closes its stdout and stderr, and each output file would
 * otherwise pay a getrlimit); a limit the program lowers below it later makes
 * the move fail with EINVAL, and it is read again. 0: not read yet. */
static int high_floor;

static int read_high_floor(void)
{
	struct rlimit rl;
	int floor = 1000;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    (rlim_t)floor + 64 > rl.rlim_cur)
		floor = rl.rlim_cur > 128 ? (int)rl.rlim_cur - 64 : 3;
	__atomic_store_n(&high_floor, floor, __ATOMIC_RELAXED);
	return floor;
}

int shim_worker_high_fd(int fd)
{
	int floor, high, saved;

	if (fd < 0)
		return fd;
	floor = __atomic_load_n(&high_floor, __ATOMIC_RELAXED);
	if (!floor)
		floor = read_high_floor();
	saved = errno;
	high = fcntl(fd, F_DUPFD_CLOEXEC, floor);
	if (high < 0 && errno == EINVAL) {
		errno = saved; /* the retry's success must not leave EINVAL behind */
		high = fcntl(fd, F_DUPFD_CLOEXEC, read_high_floor());
	}
	if (high < 0)
		return fd;
	close(fd);
	return high;
}

int shim_worker_start(void)
{
	sigset_t all, old;
	pthread_attr_t attr;
	int rc;

	if (!shim_worker_pending || atomic_load(&stopping))
		return 0;
	if (!atomic_load_explicit(&start_now, memory_order_relaxed) &&
	    shim_clock_mono_ns() < atomic_load_explicit(&start_at, memory_order_relaxed))
		return 0; /* only jobs, none due yet */
	pthread_mutex_lock(&lock);
	if (atomic_load(&running) || !shim_worker_pending) {
		pthread_mutex_unlock(&lock);
		return 0;
	}
	shim_worker_pending = 0;
	shim_internal_enter();
	if (wake_fd < 0) {
		/* far above the target's fds: programs that close "all" fds stop at
		 * their limit, and dup2 onto a low number will not hit ours */
		int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (fd >= 0)
			wake_fd = shim_worker_high_fd(fd);
	}
	/* the thread inherits this mask: it never takes the target's signals */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	atomic_store(&exited, 0);
	rc = pthread_create(&thread, &attr, loop, NULL);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc == 0) {
		atomic_store(&created, 1);
		atomic_store(&running, 1);
	} else
		shim_err("cannot start the worker thread: %s; periodic work runs at exit only",
			 strerror(rc));
	shim_internal_leave();
	pthread_mutex_unlock(&lock);
	return rc == 0 ? 0 : -1;
}

int shim_worker_stop(unsigned timeout_ms)
{
	struct timespec ts;

	if (!atomic_load(&running))
		return 0;
	if (pthread_equal(pthread_self(), thread))
		return -1;
	atomic_store(&stopping, 1);
	shim_worker_wake();
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	if (pthread_timedjoin_np(thread, NULL, &ts) != 0) {
		pthread_detach(thread);
		atomic_store(&running, 0);
		return -1;
	}
	atomic_store(&running, 0);
	return 0;
}

void shim_worker_fork_child(void)
{
	pthread_mutex_init(&lock, NULL);
	/* the eventfd is shared with the parent: a wake here would wake it */
	if (wake_fd >= 0)
		close(wake_fd);
	wake_fd = -1;
	atomic_store(&stopping, 0);
	atomic_store(&created, 0);
	atomic_store(&worker_tid, 0);
	if (atomic_load(&running)) {
		atomic_store(&running, 0);
		shim_worker_pending = njobs || nwatches || nstarts;
	}
	/* the child's jobs are due a period from now: no thread before that
	 * unless it watches fds or forks in turn */
	atomic_store(&start_now, nstarts > 0);
	for (int i = 0; i < nwatches; i++)
		if (watches[i].now)
			atomic_store(&start_now, 1);
	atomic_store(&start_at, 0);
	for (int i = 0; i < njobs; i++) {
		jobs[i].next_ns = shim_clock_mono_ns() + jobs[i].period_ns;
		lazy_start(jobs[i].next_ns);
	}
}

int shim_worker_alive(void)
{
	char path[40];
	struct stat st;
	int tid = atomic_load(&worker_tid);

	if (!atomic_load(&created) || !tid)
		return 0;
	/* a joined thread stays in the kernel's count a moment after the join:
	 * ask the kernel, not our flags */
	snprintf(path, sizeof(path), "/proc/self/task/%d", tid);
	return stat(path, &st) == 0;
}

int shim_worker_is_self(void)
{
	return atomic_load(&running) && pthread_equal(pthread_self(), thread);
}
