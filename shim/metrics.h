/* SPDX-License-Identifier: MIT */
/* The /metrics endpoint (SHIMMER_METRICS_ADDR): a listening socket made in the
 * constructor and served by the worker thread, one short-lived connection at a
 * time, every step bounded in time. Never counted by the hooks, never blocks a
 * thread of the target. */
#ifndef SHIM_METRICS_H
#define SHIM_METRICS_H

#define SHIM_METRICS_PORT_FILE "metrics.port"

/* Open the listener when SHIMMER_METRICS_ADDR is set, write its port to
 * <run folder>/metrics.port and hand it to the worker (which starts at the
 * program's next hooked call). A port in use or any other failure: one
 * "shimmer: " line, no endpoint, nothing else changes. Constructor only (the
 * caller holds shim_tls.internal). */
void shim_metrics_init(void);

/* The bound port, 0 when there is no endpoint. */
int shim_metrics_port(void);

/* fork child: the listener is the parent's; forget it (the child has no
 * endpoint unless it execs). */
void shim_metrics_fork_child(void);

#endif
