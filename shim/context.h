/* SPDX-License-Identifier: MIT */
/* Trace context of this process image: the trace id, the W3C flags, the root
 * span's id and its parent (from TRACEPARENT, or the parent process's current
 * span after fork), and the settings a child must get back. Read once. */
#ifndef SHIM_CONTEXT_H
#define SHIM_CONTEXT_H

#include <stdint.h>

struct shim_ctx {
	uint8_t trace_id[16];
	uint8_t flags;	    /* W3C trace flags: 0x01 sampled, 0x02 random trace id */
	int remote;	    /* the root's parent came from TRACEPARENT */
	uint64_t parent_id; /* the root span's parent, 0 = none */
	uint64_t root_id;   /* the root span of this image */
	char tracestate[512];
};

extern struct shim_ctx shim_ctx;

/* Read TRACEPARENT/TRACESTATE (an invalid one: one line, a new trace), draw
 * the ids, decide sampling (OTEL_TRACES_SAMPLER). Returns 1 when this image
 * records spans, 0 when not. Constructor only. */
int shim_ctx_init(void);

/* Fork child: the root span is new, child of the parent's current span. */
void shim_ctx_fork_child(void);

/* Capture LD_PRELOAD and the SHIMMER_* and OTEL_* settings of the initial
 * environment (constructor). */
void shim_ctx_keep_env(char **env);

#endif
