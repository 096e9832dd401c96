/* SPDX-License-Identifier: MIT */
/* OTLP/HTTP push of spans (http/json): from the worker thread, through libcurl
 * opened with dlopen the first time a batch is due (never linked: start-up
 * cost), batched per OTEL_BSP_*, retried on 429/502/503/504 only, bounded at
 * exit by SHIMMER_EXIT_FLUSH_MS. Never from a hook. At exit a process hands
 * its last spans to its traced parent when it has one (otlp_relay.c), which
 * pushes them with its own: a short process never waits on the collector. */
#ifndef SHIM_OTLP_H
#define SHIM_OTLP_H

#include <stddef.h>
#include <stdint.h>

/* Register the periodic export with the worker when an endpoint is set
 * (constructor: no thread, no libcurl yet). Returns 0. */
int shim_otlp_init(void);

/* Nonzero when an OTLP endpoint is configured and the push is on. */
int shim_otlp_active(void);

/* The exit push: deliver what is left, root span included, within
 * SHIMMER_EXIT_FLUSH_MS of `start_ns` (CLOCK_MONOTONIC); then give up with one
 * line saying how many spans were not delivered. Caller holds
 * shim_tls.internal. */
void shim_otlp_final(uint64_t start_ns);

/* Spans not delivered so far, and the last reason ("" when none). */
uint64_t shim_otlp_dropped(char *why, size_t size);

/* After fork: the child's queue is empty; the push restarts lazily. */
void shim_otlp_fork_child(void);

/* Parse an OTEL_EXPORTER_OTLP_HEADERS list ("k=v,k2=v2", values
 * percent-decoded) into "k: v" lines: calls fn(line, arg) for each. Returns
 * the number of headers or -1 on a malformed list. Pure. */
int shim_otlp_parse_headers(const char *s, void (*fn)(const char *line, void *arg), void *arg);

/* The delay before retry number `attempt` (0-based) of a failed export:
 * Retry-After seconds when the server gave them (>= 0), else exponential
 * backoff from 1 s, capped at 30 s. Pure. */
uint64_t shim_otlp_backoff_ms(unsigned attempt, long retry_after);

/* Nonzero when an HTTP status is to be retried (429, 502, 503, 504). Pure. */
int shim_otlp_retryable(long status);

/* POST body to an http:// url over a plain socket within timeout_ms (the exit
 * flush when libcurl is not initialized yet). Returns the HTTP status, or 0
 * with *why set; *retry_after from Retry-After seconds, else -1. headers is an
 * OTEL_EXPORTER_OTLP_HEADERS list or NULL. Export side only. */
long shim_otlp_raw_post(const char *url, const char *body, size_t len, int gzipped,
			const char *headers, long timeout_ms, long *retry_after, char *why,
			size_t wsize);

/* ---- between otlp_http.c and otlp_relay.c (export side only) ---- */
struct shim_sink;

/* POST one ExportTraceServiceRequest (gzipped per the settings) within
 * timeout_ms: libcurl, or the plain socket at exit when libcurl was never
 * set up. Returns the HTTP status, or 0 with *why set when no answer came;
 * *retry_after the server's Retry-After seconds, else -1. */
long shim_otlp_post(const struct shim_sink *body, long timeout_ms, long *retry_after, char *why,
		    size_t wsize);

/* Count n spans as not delivered, for the reason why. Thread-safe. */
void shim_otlp_lost(uint64_t n, const char *why);

/* The relay (otlp_relay.c): children hand their last requests to a parent
 * that pushes too, at exit, in one local message. Set up with the push
 * (constructor); the listener comes with the first child or the worker. */
void shim_otlp_relay_init(void);

/* A hook is about to start a child (fork, vfork, posix_spawn): listen for
 * its spans now if this process does not yet. Keeps errno; a no-op while
 * Shimmer itself runs, without the push, or once listening. Hook side. */
void shim_otlp_relay_expect_child(void);

/* Worker: post what children handed over when a batch is due. */
void shim_otlp_relay_tick(uint64_t now_ns);

/* Exit: refuse new children, take in the requests already queued (waiting
 * for none past deadline_ns, CLOCK_MONOTONIC). */
void shim_otlp_relay_stop(uint64_t deadline_ns);

/* Exit: add one request of this process (`nspans` spans in body, a
 * {"resourceSpans":[...]} object) to those held. Returns 0, -1 when it is
 * not one (the caller counts its spans as lost). */
int shim_otlp_relay_hold(const struct shim_sink *body, uint32_t nspans);

/* Exit: hand everything held to the parent's relay, or post it here with
 * retries until the deadline (CLOCK_MONOTONIC ns). Returns 0 when all went,
 * 1 when the deadline came first, 2 when the next retry would be after it. */
int shim_otlp_relay_flush(uint64_t deadline_ns);

/* Drop what is still held; returns its span count. */
uint64_t shim_otlp_relay_give_up(void);

/* After fork: nothing held, no listener (the child makes its own). */
void shim_otlp_relay_fork_child(void);

#endif
