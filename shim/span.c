/* SPDX-License-Identifier: MIT */
/* Span recording. A hook writes a finished span into its thread's own ring
 * (single writer, lock-free, fixed size; full: drop and count) and keeps the
 * state of an fd's open span in a fixed table indexed by fd. The export side
 * (worker, exit) drains the rings into a bounded store under a mutex that no
 * hook ever takes. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "context.h"
#include "fn.h"
#include "init.h"
#include "span.h"
#include "thread.h"
#include "worker.h"
#include "zone.h"

#define RING_CAP 4096	 /* spans a thread holds until the next drain */
#define MAX_RINGS 256	 /* threads with a ring; more drop and count */
#define STORE_MAX SHIM_SPAN_STORE_MAX
#define MEMO_N 16	 /* recent lookups remembered for server.address */
#define MEMO_ADDRS 4	 /* addresses remembered per lookup */

struct ring {
	_Atomic uint64_t head; /* written by the owning thread */
	_Atomic uint64_t tail; /* written by the drain */
	uint64_t dropped;
	struct shim_span rec[RING_CAP];
};

enum { R_FREE, R_CLAIMING, R_USED, R_ORPHAN };

struct memo {
	_Atomic uint32_t seq; /* odd while written */
	uint32_t res;
	uint8_t n;
	uint8_t fam[MEMO_ADDRS];
	uint8_t addr[MEMO_ADDRS][16];
};

int shim_span_on SHIM_HOT;
uint64_t shim_span_slow_ticks SHIM_HOT = UINT64_MAX;
struct shim_fdspan *shim_span_fds SHIM_HOT;
int shim_span_fd_hi SHIM_HOT;

static uint64_t slow_ns;
/* what every open and close of a file reads, in one line: the shortest file
 * span kept, ns per tick as measured at tick npt_tick, the ticks below which
 * a span is shorter than min_ns for sure (a 1% margin on that measure; at
 * most min_ns), and shim_pid (a copy, taken at init and in a fork child
 * before any hook runs there) */
static struct {
	uint64_t min_ns, npt_tick, short_ticks;
	double npt;
	int32_t pid;
} ch __attribute__((aligned(64)));
static struct ring *rings[MAX_RINGS];
static _Atomic int rstate[MAX_RINGS];
static __thread struct ring *my_ring __attribute__((tls_model("initial-exec")));
static pthread_key_t ring_key;
static int key_ok;
static atomic_uint_fast64_t lost; /* no ring for the thread */
static struct memo memo[MEMO_N];
static atomic_uint memo_next;
static struct shim_span root;
static uint64_t tick0, unix0;

static pthread_mutex_t store_mx = PTHREAD_MUTEX_INITIALIZER;
static struct shim_span *store;
static size_t nstore, capstore;
static uint64_t store_dropped;

/* This thread's id, kept next to its ring pointer (the line every open of a
 * file reads anyway); a fork child forgets the parent's. */
static __thread int tid_cache __attribute__((tls_model("initial-exec")));

static int my_tid(void)
{
	struct shim_thread *t;

	if (__builtin_expect(tid_cache != 0, 1))
		return tid_cache;
	t = shim_tls.slot;
	tid_cache = t ? t->tid : (int)syscall(SYS_gettid);
	return tid_cache;
}

/* Nanoseconds per tick at tick `now`, re-measured about every second of ticks
 * (out of line: a pair of clock readings). */
static __attribute__((noinline)) double npt_measure(uint64_t now)
{
	double npt = shim_clock_ns_per_tick();
	uint64_t st = npt <= 1.0 ? ch.min_ns : (uint64_t)((double)ch.min_ns / npt * 0.99);

	ch.npt = npt;
	ch.npt_tick = now;
	__atomic_store_n(&ch.short_ticks, st, __ATOMIC_RELAXED);
	return npt;
}

static inline double npt_at(uint64_t now)
{
	if (!shim_clock_tsc)
		return 1.0;
	if (__builtin_expect(ch.npt == 0.0 || now - ch.npt_tick > (1ull << 31), 0))
		return npt_measure(now);
	return ch.npt;
}

static double npt(void)
{
	return shim_clock_tsc ? npt_at(shim_clock_now()) : 1.0;
}

uint64_t shim_span_unix_ns(uint64_t ticks)
{
	double d = ((double)ticks - (double)tick0) * npt();
	return d < 0 && (uint64_t)-d > unix0 ? 0 : (uint64_t)((double)unix0 + d);
}

static void ring_gone(void *arg)
{
	for (int i = 0; i < MAX_RINGS; i++)
		if (rings[i] == arg) {
			atomic_store(&rstate[i], R_ORPHAN);
			break;
		}
	my_ring = NULL;
}

int shim_span_init(void)
{
	struct timespec rt;

	tick0 = shim_clock_now();
	clock_gettime(CLOCK_REALTIME, &rt);
	unix0 = (uint64_t)rt.tv_sec * 1000000000ull + (uint64_t)rt.tv_nsec;
	shim_ctx_keep_env(environ);
	shim_span_on = shim_ctx_init();
	root.span_id = shim_ctx.root_id;
	root.parent_id = shim_ctx.parent_id;
	root.t0 = tick0;
	root.tid = shim_pid;
	ch.pid = shim_pid;
	root.type = SHIM_SPAN_PROCESS;
	root.res = root.res2 = SHIM_SPAN_NORES;
	if (!shim_span_on)
		return 0;
	shim_span_fds = shim_zone_map(sizeof(struct shim_fdspan) * SHIM_FD_CAP);
	if (!shim_span_fds) {
		shim_span_on = 0;
		return 0;
	}
	key_ok = pthread_key_create(&ring_key, ring_gone) == 0;
	ch.min_ns = (uint64_t)shim_config.span_min_us * 1000ull;
	/* without a TSC a tick is a ns; with one, the first close measures */
	ch.short_ticks = shim_clock_tsc ? 0 : ch.min_ns;
	slow_ns = (uint64_t)shim_config.slow_call_ms * 1000000ull;
	/* a candidate test in ticks: a tick is at most 1 ns for any TSC of 1 GHz
	 * or more (and is 1 ns without one), so ticks >= ns never misses */
	shim_span_slow_ticks = slow_ns ? slow_ns : UINT64_MAX;
	return 0;
}

static struct ring *claim(void)
{
	for (int i = 0; i < MAX_RINGS; i++) {
		int expect = R_FREE;
		if (atomic_load_explicit(&rstate[i], memory_order_relaxed) != R_FREE ||
		    !atomic_compare_exchange_strong(&rstate[i], &expect, R_CLAIMING))
			continue;
		if (!rings[i])
			rings[i] = shim_zone_map(sizeof(struct ring));
		if (!rings[i]) {
			atomic_store(&rstate[i], R_FREE);
			return NULL;
		}
		my_ring = rings[i];
		atomic_store(&rstate[i], R_USED);
		if (key_ok)
			pthread_setspecific(ring_key, my_ring);
		return my_ring;
	}
	return NULL;
}

static void emit(const struct shim_span *s)
{
	struct ring *r = my_ring ? my_ring : claim();
	uint64_t h, t;

	if (!r) {
		atomic_fetch_add_explicit(&lost, 1, memory_order_relaxed);
		return;
	}
	h = atomic_load_explicit(&r->head, memory_order_relaxed);
	t = atomic_load_explicit(&r->tail, memory_order_acquire);
	if (h - t >= RING_CAP) {
		r->dropped++;
		return;
	}
	r->rec[h & (RING_CAP - 1)] = *s;
	atomic_store_explicit(&r->head, h + 1, memory_order_release);
}

static void span_base(struct shim_span *s, unsigned type, uint64_t t0, uint64_t t1)
{
	memset(s, 0, sizeof(*s));
	s->type = (uint8_t)type;
	s->t0 = t0;
	s->t1 = t1;
	s->tid = my_tid();
	s->parent_id = shim_ctx.root_id;
	s->res = s->res2 = SHIM_SPAN_NORES;
	s->fn = SHIM_FN_COUNT;
}

/* ---- server.address: addresses of recent lookups (any thread) ---- */

static void memo_put(uint32_t res, const struct addrinfo *ai)
{
	struct memo *m = &memo[atomic_fetch_add(&memo_next, 1) % MEMO_N];
	uint32_t seq = atomic_load(&m->seq);
	uint8_t n = 0;

	if ((seq & 1) || !atomic_compare_exchange_strong(&m->seq, &seq, seq + 1))
		return; /* another thread writes this entry: skip */
	for (; ai && n < MEMO_ADDRS; ai = ai->ai_next) {
		if (ai->ai_family == AF_INET && ai->ai_addrlen >= sizeof(struct sockaddr_in)) {
			memcpy(m->addr[n], &((struct sockaddr_in *)(void *)ai->ai_addr)->sin_addr, 4);
			m->fam[n++] = AF_INET;
		} else if (ai->ai_family == AF_INET6 &&
			   ai->ai_addrlen >= sizeof(struct sockaddr_in6)) {
			memcpy(m->addr[n], &((struct sockaddr_in6 *)(void *)ai->ai_addr)->sin6_addr,
			       16);
			m->fam[n++] = AF_INET6;
		}
		/* the same address once per socket type: skip repeats */
		for (int j = 0; n > 1 && j < n - 1; j++)
			if (m->fam[j] == m->fam[n - 1] &&
			    memcmp(m->addr[j], m->addr[n - 1], m->fam[j] == AF_INET ? 4 : 16) == 0) {
				n--;
				break;
			}
	}
	m->n = n;
	m->res = res;
	atomic_store(&m->seq, seq + 2);
}

static uint32_t memo_find(const struct sockaddr *sa, socklen_t len)
{
	const void *a;
	int fam = sa->sa_family;
	unsigned start = atomic_load(&memo_next);

	if (fam == AF_INET && len >= sizeof(struct sockaddr_in))
		a = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	else if (fam == AF_INET6 && len >= sizeof(struct sockaddr_in6))
		a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
	else
		return SHIM_SPAN_NORES;
	for (unsigned k = 1; k <= MEMO_N; k++) { /* newest first */
		struct memo *m = &memo[(start - k) % MEMO_N];
		uint32_t seq = atomic_load(&m->seq), res = SHIM_SPAN_NORES;
		if (!seq || (seq & 1))
			continue;
		for (int i = 0; i < m->n && i < MEMO_ADDRS; i++)
			if (m->fam[i] == fam && memcmp(m->addr[i], a, fam == AF_INET ? 4 : 16) == 0)
				res = m->res;
		if (res != SHIM_SPAN_NORES && atomic_load(&m->seq) == seq)
			return res;
	}
	return SHIM_SPAN_NORES;
}

/* ---- recorders ---- */

void shim_span_dns(unsigned fn, uint64_t t0, uint32_t res, int err, int answers, const void *ai)
{
	struct shim_span s;

	if (!shim_span_on || shim_pid_foreign_fast())
		return;
	span_base(&s, SHIM_SPAN_DNS, t0, shim_clock_now());
	s.fn = (uint16_t)fn;
	s.res = res;
	s.err = err;
	s.count = answers;
	s.span_id = shim_span_random64();
	if (!err && ai)
		memo_put(res, ai);
	emit(&s);
}

/* fd's entry, cleared and opened as a span of type from t0 with resource res
 * and xops other calls so far; pid is stored by the caller when it is filled
 * in (NULL: fd out of range). */
static inline struct shim_fdspan *fd_open(int fd, unsigned type, uint64_t t0, uint32_t res,
					  uint32_t xops)
{
	struct shim_fdspan *f;
	int hi;

	if (fd < 0 || fd >= SHIM_FD_CAP)
		return NULL;
	f = &shim_span_fds[fd];
	/* one line of stores; pid 0 until the caller publishes the entry */
	*f = (struct shim_fdspan){
		.type = (uint8_t)type,
		.t0 = t0,
		.tid = my_tid(),
		.res = res,
		.res2 = SHIM_SPAN_NORES,
		.xops = xops,
	};
	hi = __atomic_load_n(&shim_span_fd_hi, __ATOMIC_RELAXED);
	while (fd >= hi && !__atomic_compare_exchange_n(&shim_span_fd_hi, &hi, fd + 1, 0,
							  __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
	return f;
}

void shim_span_connect(int fd, uint64_t t0, const struct sockaddr *sa, socklen_t len,
		       uint32_t peer_res, int err)
{
	struct shim_span s;
	struct shim_fdspan *f = NULL;

	if (!shim_span_on || shim_pid_foreign_fast())
		return;
	span_base(&s, SHIM_SPAN_CONNECT, t0, shim_clock_now());
	s.fn = SHIM_FN_connect;
	s.res = peer_res;
	s.err = err == EINPROGRESS ? 0 : err;
	if (sa)
		s.res2 = memo_find(sa, len);
	if ((!err || err == EINPROGRESS) &&
	    (f = fd_open(fd, SHIM_SPAN_CLIENT, t0, SHIM_SPAN_NORES, 0)) != NULL) {
		f->span_id = shim_span_random64();
		f->res = peer_res;
		f->res2 = s.res2;
		s.parent_id = f->span_id;
	}
	s.span_id = shim_span_random64();
	emit(&s);
	if (f)
		__atomic_store_n(&f->pid, ch.pid, __ATOMIC_RELEASE);
}

void shim_span_accept(int lfd, int fd, uint64_t t0)
{
	struct shim_fdspan *f;

	(void)t0;
	if (!shim_span_on || fd < 0 || shim_pid_foreign_fast())
		return;
	f = fd_open(fd, SHIM_SPAN_SERVER, shim_clock_now(), SHIM_SPAN_NORES, 0);
	if (!f)
		return;
	f->res = shim_fd_res(fd, NULL);
	f->res2 = shim_fd_res(lfd, NULL);
	__atomic_store_n(&f->pid, ch.pid, __ATOMIC_RELEASE);
}

/* shim_pid_foreign_fast with no call unless this thread called vfork: the
 * open and close of every file pass here. */
static inline int foreign(void)
{
	return __builtin_expect(shim_tls.vforked, 0) && shim_pid_foreign_fast();
}

void shim_span_open(int fd, const char *path, uint64_t t0, int err)
{
	struct shim_fdspan *f;
	uint32_t w;

	if (!shim_span_on || foreign())
		return;
	if (fd < 0) {
		struct shim_span s;
		span_base(&s, SHIM_SPAN_FILE, t0, shim_clock_now());
		s.err = err;
		if (path)
			s.res = shim_res_intern(SHIM_KIND_FILE, path, strnlen(path, SHIM_RES_NAME));
		s.span_id = shim_span_random64();
		emit(&s);
		return;
	}
	/* the open just named the fd: its word is known (when in range) */
	w = fd < SHIM_FD_CAP && shim_fd_tab ? __atomic_load_n(&shim_fd_tab[fd], __ATOMIC_RELAXED)
					    : 0;
	f = fd_open(fd, SHIM_SPAN_FILE, t0,
		    w & SHIM_FD_KNOWN ? w & SHIM_FD_ID_MASK : shim_fd_res(fd, NULL), 0);
	if (f)
		__atomic_store_n(&f->pid, ch.pid, __ATOMIC_RELEASE);
}

void shim_span_file(int fd, uint32_t res, uint64_t t0)
{
	struct shim_fdspan *f;

	if (!shim_span_on || foreign())
		return;
	f = fd_open(fd, SHIM_SPAN_FILE, t0, res, 1);
	if (f)
		__atomic_store_n(&f->pid, ch.pid, __ATOMIC_RELEASE);
}

void shim_span_io_slow(int fd, unsigned dir, int64_t bytes)
{
	shim_span_io(fd, dir, bytes > 0 ? (uint64_t)bytes : 0);
}

/* Emit fd's entry f as a span ending at t1, if this thread is the one to end
 * it (the entry's pid is still this image's). */
static __attribute__((noinline)) void fd_emit(struct shim_fdspan *f, uint64_t t1, int unfinished)
{
	struct shim_span s;
	int32_t pid = ch.pid;
	int saved;

	if (!__atomic_compare_exchange_n(&f->pid, &pid, 0, 0, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
		return; /* another thread ends it */
	saved = errno; /* a thread's first span may map its ring or seed its ids */
	span_base(&s, f->type, f->t0, t1);
	s.tid = f->tid;
	s.span_id = f->span_id ? f->span_id : shim_span_random64();
	s.res = f->res;
	s.res2 = f->res2;
	s.rbytes = f->rbytes;
	s.wbytes = f->wbytes;
	s.rops = f->rops;
	s.wops = f->wops;
	s.ops = f->rops + f->wops + f->xops;
	s.flags = unfinished ? SHIM_SPANF_UNFINISHED : 0;
	emit(&s);
	errno = saved;
}

/* End fd's open span at t1; `unfinished` keeps a short file span (image end). */
static inline __attribute__((always_inline)) void fd_end(int fd, uint64_t t1, int unfinished)
{
	struct shim_fdspan *f = &shim_span_fds[fd];
	uint64_t d;

	if (__atomic_load_n(&f->pid, __ATOMIC_ACQUIRE) != ch.pid)
		return; /* none */
	d = t1 - f->t0;
	if (f->type == SHIM_SPAN_FILE && !unfinished && d < ch.min_ns &&
	    (d < __atomic_load_n(&ch.short_ticks, __ATOMIC_RELAXED) ||
	     (double)d * npt_at(t1) < (double)ch.min_ns)) {
		/* too short to keep, the common case: nothing is emitted, so a
		 * plain store ends it (a locked exchange cost ~15 ns a close).
		 * The one racing end, the image's at exit, may then emit it as
		 * unfinished, which it was; never twice. */
		__atomic_store_n(&f->pid, 0, __ATOMIC_RELEASE);
		return;
	}
	fd_emit(f, t1, unfinished);
}

void shim_span_close_at(int fd, uint64_t t1)
{
	if (!shim_span_on || fd < 0 || fd >= shim_span_fd_hi || foreign())
		return;
	fd_end(fd, t1, 0);
}

void shim_span_close(int fd)
{
	shim_span_close_at(fd, shim_clock_now());
}

void shim_span_slow(unsigned fn, uint64_t t0, uint64_t dt, int err, uint32_t res)
{
	struct shim_span s;

	if (fn >= SHIM_FN_COUNT || shim_fninfo[fn].family == SHIM_FAM_DNS ||
	    fn == SHIM_FN_connect || shim_tls.internal || shim_pid_foreign_fast())
		return; /* those have spans of their own */
	if ((double)dt * npt() < (double)slow_ns)
		return;
	span_base(&s, SHIM_SPAN_SLOW, t0, t0 + dt);
	s.fn = (uint16_t)fn;
	s.err = err;
	s.res = res;
	s.span_id = shim_span_random64();
	emit(&s);
}

void shim_span_exit_code(int status)
{
	root.count = status;
	root.flags |= SHIM_SPANF_EXITCODE;
}

/* ---- export side ---- */

static void store_put(const struct shim_span *s)
{
	if (nstore == capstore) {
		size_t ncap = capstore ? capstore * 2 : 256;
		void *p;
		if (ncap > STORE_MAX)
			ncap = STORE_MAX;
		p = ncap > capstore ? realloc(store, ncap * sizeof(*store)) : NULL;
		if (!p) {
			store_dropped++;
			return;
		}
		store = p;
		capstore = ncap;
	}
	store[nstore++] = *s;
}

void shim_span_drain(void)
{
	if (!shim_span_on)
		return;
	pthread_mutex_lock(&store_mx);
	for (int i = 0; i < MAX_RINGS; i++) {
		int st = atomic_load(&rstate[i]);
		struct ring *r = rings[i];
		uint64_t h, t;
		if ((st != R_USED && st != R_ORPHAN) || !r)
			continue;
		h = atomic_load_explicit(&r->head, memory_order_acquire);
		for (t = atomic_load(&r->tail); t < h; t++)
			store_put(&r->rec[t & (RING_CAP - 1)]);
		atomic_store_explicit(&r->tail, t, memory_order_release);
		if (st == R_ORPHAN) {
			store_dropped += r->dropped;
			r->dropped = 0;
			atomic_store(&r->head, 0);
			atomic_store(&r->tail, 0);
			atomic_store(&rstate[i], R_FREE);
		}
	}
	pthread_mutex_unlock(&store_mx);
}

void shim_span_finish(int by_exec)
{
	uint64_t now = shim_clock_now();

	root.t1 = now;
	if (by_exec)
		root.flags |= SHIM_SPANF_EXEC;
	if (!shim_span_on)
		return;
	for (int fd = 0; fd < shim_span_fd_hi; fd++)
		fd_end(fd, now, 1);
	shim_span_drain();
}

size_t shim_span_store_lock(const struct shim_span **out)
{
	pthread_mutex_lock(&store_mx);
	*out = store;
	return nstore;
}

void shim_span_store_shift(size_t n)
{
	if (n > nstore)
		n = nstore;
	memmove(store, store + n, (nstore - n) * sizeof(*store));
	nstore -= n;
}

void shim_span_store_unlock(void)
{
	pthread_mutex_unlock(&store_mx);
}

void shim_span_root(struct shim_span *out)
{
	*out = root;
}

void shim_span_trace(uint8_t trace_id[16], uint8_t *flags, int *remote)
{
	memcpy(trace_id, shim_ctx.trace_id, 16);
	*flags = shim_ctx.flags;
	*remote = shim_ctx.remote;
}

uint64_t shim_span_dropped(void)
{
	uint64_t n = store_dropped + atomic_load(&lost);
	for (int i = 0; i < MAX_RINGS; i++)
		if (rings[i] && atomic_load(&rstate[i]) != R_FREE)
			n += rings[i]->dropped;
	return n;
}

void shim_span_fork_child(void)
{
	shim_ctx_fork_child();
	root.span_id = shim_ctx.root_id;
	root.parent_id = shim_ctx.parent_id;
	root.t0 = shim_clock_now();
	root.t1 = 0;
	root.tid = shim_pid;
	ch.pid = shim_pid;
	root.flags = 0;
	root.count = 0;
	tid_cache = 0;
	if (!shim_span_on)
		return;
	/* the parent's spans are the parent's to export */
	pthread_mutex_init(&store_mx, NULL);
	nstore = 0;
	store_dropped = 0;
	atomic_store(&lost, 0);
	for (int i = 0; i < MAX_RINGS; i++) {
		if (!rings[i])
			continue;
		atomic_store(&rings[i]->head, 0);
		atomic_store(&rings[i]->tail, 0);
		rings[i]->dropped = 0;
		atomic_store(&rstate[i], rings[i] == my_ring ? R_USED : R_FREE);
	}
}
