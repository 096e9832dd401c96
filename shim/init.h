/* SPDX-License-Identifier: MIT */
/* Start-up and shut-down of the shim: the constructor (no thread, no heavy
 * work), the final flush at exit/_exit/exec, and the fork handlers. */
#ifndef SHIM_INIT_H
#define SHIM_INIT_H

/* Write this image's outputs once (exit, _exit, exec). Safe to call from any
 * thread and more than once: only the first call writes, until
 * shim_finish_rearm(). Does nothing in a process whose state is not its own
 * (shim_pid_foreign). Takes shim_tls.internal itself. Never from a signal. */
void shim_finish(void);

/* As shim_finish; by_exec says the image ends by exec (the root span says so). */
void shim_finish_by(int by_exec);

/* An exec failed: the image lives on, so its final flush must happen again. */
void shim_finish_rearm(void);

/* The pid this image's state belongs to (a vfork child sees its parent's). */
extern int shim_pid;

/* Nonzero when the calling process is not the one our state belongs to: a
 * vfork child (it shares the parent's memory, so hooks must only pass
 * through), or a child made without the fork handlers (raw clone, _Fork).
 * One getpid system call. Async-signal-safe: yes. Allocates: no. */
int shim_pid_foreign(void);

/* As shim_pid_foreign for the hot paths: no system call unless this thread
 * called vfork since it last checked (only a vfork child shares our memory
 * and runs hooks; raw clone children are caught by shim_pid_foreign at the
 * points that write outputs). errno: kept. */
int shim_pid_foreign_fast(void);

#endif
