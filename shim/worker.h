/* SPDX-License-Identifier: MIT */
/* Shimmer's one background thread: periodic jobs (flushes, OTLP batches) and
 * fd watches (the /metrics listener). Started lazily from the first hooked
 * call after something asked for it, never from the constructor; blocks every
 * signal; everything it does runs with shim_tls.internal held, so no hook
 * counts it. */
#ifndef SHIM_WORKER_H
#define SHIM_WORKER_H

#include <stdint.h>

#define SHIM_WORKER_JOBS 16
#define SHIM_WORKER_FDS 16

/* Run fn(arg) every period_ms on the worker. Returns 0 or -1 (table full).
 * Registering does not start the thread: the first hooked call once the
 * first job is due (20 ms at most) does: a short process never starts it. Call from
 * the constructor or export-time code, not from a hook. */
int shim_worker_every(unsigned period_ms, void (*fn)(void *arg), void *arg);

/* Call fn(fd, arg) on the worker when fd is readable (level-triggered).
 * Returns 0 or -1. The fd stays the caller's; unwatch before closing it.
 * The worker has a table of fds of its own (unshare(CLONE_FILES) at its
 * start): an fd to watch must exist before the thread starts, or be made on
 * the worker itself; an fd the worker opens exists only on the worker (other
 * threads must not close it), and fd numbers of either side never collide. */
int shim_worker_watch(int fd, void (*fn)(int fd, void *arg), void *arg);

/* The same, without asking for the thread: the fd is watched once the thread
 * runs for another reason (a job due). For a listener whose backlog may
 * wait. */
int shim_worker_watch_lazy(int fd, void (*fn)(int fd, void *arg), void *arg);
void shim_worker_unwatch(int fd);

/* Run fn(arg) on the worker each time the thread starts (the first start, and
 * again in a fork child, whose worker restarts lazily), before its loop: set-up
 * that needs the thread, such as a control socket. Marks the worker pending as
 * a job does. Returns 0 or -1 (table full). Not from a hook. */
int shim_worker_on_start(void (*fn)(void *arg), void *arg);

/* Run fn(arg) on the worker each time the thread starts, before it takes a
 * table of fds of its own: an fd fn makes (and watches with
 * shim_worker_watch, which keeps it open on the worker) is then in the
 * program's table too, where the exit flush can reach it. Unlike
 * shim_worker_on_start it does not ask for the thread. Returns 0 or -1 (table
 * full). Not from a hook. */
int shim_worker_on_start_shared(void (*fn)(void *arg), void *arg);

/* Nonzero when jobs or watches wait for the thread to start. Hooks test it
 * on their slow path and call shim_worker_start(). */
extern volatile int shim_worker_pending;

/* Start the thread if something is registered and it is not running.
 * Idempotent, thread-safe. Returns 0 or -1 (one "shimmer: " line; jobs then
 * run only at exit). Not from a signal handler. */
int shim_worker_start(void);

/* Ask the thread to run its jobs once more now (e.g. a full queue). Async-
 * signal-safe: yes (one write to an eventfd). */
void shim_worker_wake(void);

/* Stop the thread: wake it, wait up to timeout_ms for it to leave its loop.
 * Returns 0 when it stopped, -1 on timeout (it is then left detached; its jobs
 * must tolerate running concurrently with the exit flush). */
int shim_worker_stop(unsigned timeout_ms);

/* After fork: the child has no worker thread; registered jobs stay and the
 * thread restarts lazily. */
void shim_worker_fork_child(void);

/* Move one of Shimmer's own fds far above the target's (>= 1000, or near
 * RLIMIT_NOFILE), O_CLOEXEC; returns the new fd (fd itself when that fails).
 * Programs that close "every fd" below their limit or dup2 onto low numbers
 * then leave ours alone. */
int shim_worker_high_fd(int fd);

/* Nonzero while the worker thread exists (also after a stop that timed out
 * and left it detached, until it leaves its loop). */
int shim_worker_alive(void);

/* Nonzero when the calling thread is the worker. */
int shim_worker_is_self(void);

#endif
