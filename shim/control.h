/* SPDX-License-Identifier: MIT */
/* Long-running processes: the periodic flush (SHIMMER_FLUSH_SECS) and the
 * on-demand dump trigger, a unix socket control.sock in the run folder that
 * the worker thread serves. Nothing here runs in a hook or a signal handler. */
#ifndef SHIM_CONTROL_H
#define SHIM_CONTROL_H

/* The socket's name inside the run folder. */
#define SHIM_CONTROL_SOCK "control.sock"

/* Constructor: register the periodic flush and, when SHIMMER_CONTROL=1 or a
 * flush period is set, the control socket's set-up, both on the worker (which
 * starts lazily from the program's first recorded call). No thread, no I/O
 * here. Fails open with one "shimmer: " line. */
void shim_control_init(void);

/* The image ends (exit, _exit, exec), after the worker was stopped: stop
 * serving and remove control.sock, so a dump never reaches a dead image.
 * Idempotent. Export time only. */
void shim_control_close(void);

/* Fork child, after shim_worker_fork_child: drop the parent's socket without
 * removing its file; the child's worker makes the child's own socket in the
 * child's own run folder when it starts. */
void shim_control_fork_child(void);

#endif
