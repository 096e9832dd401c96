/* SPDX-License-Identifier: MIT */
/* Spans: hooks record fixed-size span records into their thread's own ring
 * through the small recorder calls below (no formatting, no malloc, no locks);
 * the open-span state of an fd lives in a fixed table indexed by fd. The
 * export side drains the rings into a bounded store read by the model. */
#ifndef SHIM_SPAN_H
#define SHIM_SPAN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "fdtab.h"
#include "fn.h"

enum shim_span_type {
	SHIM_SPAN_NONE,
	SHIM_SPAN_PROCESS, /* the root span of a process image */
	SHIM_SPAN_DNS,	   /* one lookup: "dns lookup" */
	SHIM_SPAN_CONNECT, /* the connect call itself */
	SHIM_SPAN_CLIENT,  /* an outbound connection, connect to close */
	SHIM_SPAN_SERVER,  /* an inbound connection, accept to close */
	SHIM_SPAN_FILE,	   /* a file, open to close */
	SHIM_SPAN_SLOW,	   /* one blocking call slower than SHIMMER_SLOW_CALL_MS */
	SHIM_SPAN_TYPES
};

#define SHIM_SPAN_NORES UINT32_MAX

/* One finished span as a hook records it (ticks, resource ids). */
struct shim_span {
	uint64_t span_id;
	uint64_t parent_id;
	uint64_t t0, t1; /* clock ticks */
	uint64_t rbytes, wbytes;
	uint32_t rops, wops, ops; /* reads, writes, all calls on the fd */
	uint32_t res;		  /* path, peer or looked-up name; SHIM_SPAN_NORES */
	uint32_t res2;		  /* server.address name (client), listener (server) */
	int32_t err;		  /* errno, negative EAI_* code, 0 = success */
	int32_t tid;
	int32_t count; /* DNS answers; exit code (process) */
	uint16_t fn;   /* enum shim_fn of the call (connect, slow, dns) */
	uint8_t type;  /* enum shim_span_type */
	uint8_t flags; /* SHIM_SPANF_* */
};

#define SHIM_SPANF_EXITCODE 1  /* count holds an exit code */
#define SHIM_SPANF_UNFINISHED 2 /* still open when the image ended */
#define SHIM_SPANF_EXEC 4      /* the image ended by exec */

/* Nonzero when spans are recorded (sampled, not OTEL_SDK_DISABLED). */
extern int shim_span_on;

/* Settings and context, set up in the constructor from shim_config and the
 * environment (TRACEPARENT, TRACESTATE, the sampler). Returns 0; never fails
 * the process (an invalid TRACEPARENT is one line). No thread, no heavy work. */
int shim_span_init(void);

/* ---- recorders: every one async-signal-safe, no allocation, no lock ---- */

/* A lookup of name resource `res` started at t0 ended now with err (0, EAI
 * code or errno) and `answers` addresses; ai, when not NULL, is the result list
 * (struct addrinfo *) remembered so a later connect to one of its addresses
 * names server.address. */
void shim_span_dns(unsigned fn, uint64_t t0, uint32_t res, int err, int answers, const void *ai);

/* connect(fd) to sa started at t0 ended now with err (0 or errno; EINPROGRESS
 * counts as connecting): a connect span, and a CLIENT span opened on fd. */
void shim_span_connect(int fd, uint64_t t0, const struct sockaddr *sa, socklen_t len,
		       uint32_t peer_res, int err);

/* fd was accepted on listening socket lfd: a SERVER span opens on fd. */
void shim_span_accept(int lfd, int fd, uint64_t t0);

/* open of `path` started at t0 gave fd (or -1 with err): a file span opens;
 * a failed open is a span of its own. */
void shim_span_open(int fd, const char *path, uint64_t t0, int err);

/* A successful open started at t0 gave fd, which names resource res: a file
 * span opens on fd, with that open counted as its first operation. errno: kept. */
void shim_span_file(int fd, uint32_t res, uint64_t t0);

/* One call on fd moved bytes (< 0: none) in direction dir (enum shim_dir):
 * shim_span_io out of line. */
void shim_span_io_slow(int fd, unsigned dir, int64_t bytes);

/* fd is being closed: its open span (if any) ends now (at tick t1). errno: kept. */
void shim_span_close(int fd);
void shim_span_close_at(int fd, uint64_t t1);

/* A call of fn on resource res (SHIM_SPAN_NORES: none) took dt ticks from t0:
 * a slow-call span when dt is above SHIMMER_SLOW_CALL_MS. */
void shim_span_slow(unsigned fn, uint64_t t0, uint64_t dt, int err, uint32_t res);

/* Slow-call candidates: calls of at least this many ticks are checked. */
extern uint64_t shim_span_slow_ticks;

/* The open span of an fd (the fd span table's entry), for the inline path:
 * one cache line, so an open, its reads and writes and its close touch one. */
struct shim_fdspan {
	int32_t pid; /* the image that opened it; anything else means none */
	uint8_t type;
	uint8_t pad[3];
	uint32_t res, res2;
	int32_t tid;
	uint32_t xops; /* calls other than reads and writes (ops is the sum of the three) */
	uint64_t span_id;
	uint64_t t0;
	uint64_t rbytes, wbytes;
	uint32_t rops, wops;
} __attribute__((aligned(64)));
_Static_assert(sizeof(struct shim_fdspan) == 64, "an fd's span state is one cache line");

extern struct shim_fdspan *shim_span_fds;
extern int shim_span_fd_hi; /* 1 + highest fd that ever had a span (0: spans off) */
extern int shim_pid;	    /* shim/init.h */

/* One call on fd moved b bytes in direction dir (enum shim_dir): the counts of
 * fd's open span, if it has one. Plain adds, not locked ones: three
 * lock-prefixed adds cost ~50 ns a call, more than the rest of the hook. Two
 * threads doing I/O on the same fd at the same instant may lose one update of
 * a span attribute; the exact statistics (per-thread slots) never do.
 * The entry is not asked whether it holds an open span of this image: counts
 * are read only from an entry that does (fd_end), an entry is zeroed before
 * it opens one (fd_open), and a fork child's entries of its parent's spans
 * are its own copies, never written out. So the adds need no test.
 * Async-signal-safe: yes. Allocates: no. errno: kept. */
static inline __attribute__((always_inline)) void shim_span_io(int fd, unsigned dir, uint64_t b)
{
	struct shim_fdspan *f;

	/* no hint: with spans on, most fds a program writes have one */
	if ((unsigned)fd >= (unsigned)shim_span_fd_hi)
		return;
	f = &shim_span_fds[fd];
/* one add to memory where it can be had (a relaxed load and store are three
 * instructions): never torn, and like the pair, not atomic between threads */
#if defined(__x86_64__)
#define SHIM_SPAN_BUMP(v, d)                                                                       \
	__asm__("add%z0 %1, %0" : "+m"(*(v)) : "er"((__typeof__(*(v)))(d)))
#else
#define SHIM_SPAN_BUMP(v, d)                                                                       \
	__atomic_store_n((v), __atomic_load_n((v), __ATOMIC_RELAXED) + (d), __ATOMIC_RELAXED)
#endif
	if (dir == SHIM_DIR_IN) {
		SHIM_SPAN_BUMP(&f->rops, 1);
		SHIM_SPAN_BUMP(&f->rbytes, b);
	} else if (dir == SHIM_DIR_OUT) {
		SHIM_SPAN_BUMP(&f->wops, 1);
		SHIM_SPAN_BUMP(&f->wbytes, b);
	} else {
		SHIM_SPAN_BUMP(&f->xops, 1);
	}
#undef SHIM_SPAN_BUMP
}

/* Per-call hook from the recorders' out-of-line path: bytes and op counts of
 * the fd's open span, and the slow-call check. Async-signal-safe: yes.
 * Allocates: no. errno: may change (a slow-call span): the caller keeps it. */
static inline void shim_span_call(unsigned fn, unsigned dir, uint64_t t0, uint64_t dt,
				  int64_t bytes, int err, int fd, uint32_t res)
{
	if (__builtin_expect(!shim_span_on, 1))
		return;
	if (fd >= 0)
		shim_span_io(fd, dir, bytes > 0 ? (uint64_t)bytes : 0);
	if (__builtin_expect(dt >= shim_span_slow_ticks, 0))
		shim_span_slow(fn, t0, dt, err, res);
}

/* ---- exit code, context for children ---- */

/* The image's exit status (exit, _exit, on_exit). */
void shim_span_exit_code(int status);

/* "00-<trace>-<span>-<flags>" of the current span into buf (>= 56 bytes).
 * Returns the length, 0 when there is no context to pass on.
 * Async-signal-safe: yes. */
size_t shim_span_traceparent(char *buf, size_t size);

/* The TRACESTATE this image received ("" when none). */
const char *shim_span_tracestate(void);

/* The settings a child must get back when its program dropped them:
 * "LD_PRELOAD=...", "SHIMMER_...=...", "OTEL_...=..." as the image got them
 * (pointers into the initial environment). NULL-terminated. */
const char *const *shim_span_keep_env(void);

/* ---- export side: allocates, takes the store lock; never from a hook ---- */

/* End the root span now (exit/_exit/exec), close every span still open and
 * drain every ring into the store. */
void shim_span_finish(int by_exec);

/* Move every ring's finished spans into the store. */
void shim_span_drain(void);

/* The store: *out points at n spans (valid until the next drain or reset),
 * with the lock held until shim_span_store_unlock(). */
size_t shim_span_store_lock(const struct shim_span **out);
void shim_span_store_unlock(void);

/* Forget the first n spans of the store (lock held): the push delivered them
 * and the store is filling up. */
void shim_span_store_shift(size_t n);

/* Spans the store can hold. */
#define SHIM_SPAN_STORE_MAX 65536

/* The root span (its end is 0 until shim_span_finish). */
void shim_span_root(struct shim_span *out);

/* Trace identity: 16 bytes of trace id, the W3C flags, and whether the root has
 * a remote parent (TRACEPARENT). */
void shim_span_trace(uint8_t trace_id[16], uint8_t *flags, int *remote);

/* Ticks to Unix nanoseconds. */
uint64_t shim_span_unix_ns(uint64_t ticks);

/* Spans lost: rings full, too many threads, store full. */
uint64_t shim_span_dropped(void);

/* After fork (child): new root span, child of the parent's current span. */
void shim_span_fork_child(void);

/* ---- ids (exposed for the unit tests) ---- */

/* A random nonzero 64-bit id from this thread's generator (seeded by getrandom
 * once a thread and once a fork child). Async-signal-safe: yes. */
uint64_t shim_span_random64(void);

/* Parse a W3C traceparent. Returns 0 (fills id, parent span, flags) or -1. */
int shim_span_parse_traceparent(const char *s, uint8_t trace_id[16], uint64_t *parent,
				uint8_t *flags);

#endif
