/* SPDX-License-Identifier: MIT */
/* Shimmer's only voice: "shimmer: ..." lines on stderr through a raw write(2).
 * Never stdio, never malloc, never a lock. */
#ifndef SHIM_LOG_H
#define SHIM_LOG_H

enum shim_loglevel { SHIM_LOG_QUIET, SHIM_LOG_ERROR, SHIM_LOG_INFO, SHIM_LOG_DEBUG };

/* Current level, set from SHIMMER_LOG by config. */
extern int shim_log_level;

/* Print one "shimmer: " line at `level` if the level allows it. At most 64
 * lines a process (then one "further messages suppressed" line).
 * Async-signal-safe: no (vsnprintf), allocates: no, locks: none. */
void shim_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define shim_err(...) shim_log(SHIM_LOG_ERROR, __VA_ARGS__)
#define shim_info(...) shim_log(SHIM_LOG_INFO, __VA_ARGS__)
#define shim_debug(...) shim_log(SHIM_LOG_DEBUG, __VA_ARGS__)

/* Reset the line budget (after fork, the child speaks for itself). */
void shim_log_reset(void);

#endif
