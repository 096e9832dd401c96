/* SPDX-License-Identifier: MIT */
/* The heap sampler: per-thread countdown and PRNG, a lock-free table of
 * interned allocation stacks and a lock-free open-addressing table of live
 * sampled pointers (tombstones, bounded probes), both mmap'd at init and
 * touched only as used. Runs inside allocation hooks: never malloc, stdio,
 * locks or formatting; the thread's guard is held while it unwinds. */
#include <errno.h>
#include <link.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "fn.h"
#include "heap.h"
#include "libs.h"
#include "log.h"
#include "profiler.h"
#include "record.h"
#include "thread.h"
#include "unwind.h"
#include "zone.h"

static __thread uint64_t rng __attribute__((tls_model("initial-exec")));
static __thread unsigned shard __attribute__((tls_model("initial-exec")));
unsigned char shim_heap_filter[SHIM_HEAP_FILTER] SHIM_BIG;

struct hstack {
	uint64_t hash;	/* 0 = empty; claimed by CAS */
	uint32_t off;	/* first PC in pcs[] */
	uint32_t depth;
	uint32_t ready; /* off/depth/pcs written (release) */
	uint32_t pad;
};

/* What one shard of threads sampled from one stack. Threads add to their own
 * shard, so two threads allocating from the same code do not share a line. */
struct hcount {
	uint64_t samples;
	uint64_t objs_fx; /* estimated objects x OBJ_ONE */
	uint64_t bytes;	  /* estimated bytes */
	uint64_t pad;
};
#define SHARDS 4

/* A live entry: key is the pointer (or EMPTY/BUSY/TOMB), val packs the size
 * (high 44 bits) and the stack id (low 20 bits). */
struct live {
	uintptr_t key;
	uint64_t val;
};

enum { EMPTY = 0, BUSY = 1, TOMB = 2 };
#define OBJ_ONE 1024.0
#define ID_BITS 20
#define SIZE_MAX_PACKED ((1ull << (64 - ID_BITS)) - 1)
#define PROBES 64

_Static_assert(SHIM_HEAP_STACKS <= (1u << ID_BITS), "stack ids must fit the entry");

enum { BEFORE, ON, OFF };
static int state;	   /* BEFORE the constructor decided, then ON or OFF */
static uint64_t mean;	   /* 0 = off */
static struct hstack *stacks;
static struct hcount *counts; /* [SHARDS][SHIM_HEAP_STACKS] */
static uintptr_t *pcs_store;
static uint64_t pcs_used, nstacks;
static struct live *live;
static size_t live_mask;
/* What the export walks instead of the whole tables (megabytes of untouched
 * pages for a short process with one sample, a fault each): a bit per ready
 * stack id, and a bit per page of the live table that ever held an entry. */
#define LIVE_PAGE 4096
#define LIVE_PAGES_MAX 4096 /* the largest table: 1 << 20 entries of 16 bytes */
static uint64_t stack_bits[SHIM_HEAP_STACKS / 64];
static uint64_t live_page_bits[LIVE_PAGES_MAX / 64];
_Static_assert((1u << 20) * 16 / LIVE_PAGE <= LIVE_PAGES_MAX, "every live page has a bit");
static uintptr_t self_lo, self_hi; /* our own code: frames to leave out */
static uint64_t n_samples, n_dropped, n_freed, live_bytes, peak_bytes;
static int sampled; /* set once by the first sample: n_samples lags behind */

/* A thread's share of the counters above, added to them in batches: the
 * shared lines would otherwise bounce between threads on every sample. */
struct tstats {
	int64_t live;	  /* estimated bytes */
	uint32_t samples; /* taken */
	uint32_t freed;
};
static __thread struct tstats mine __attribute__((tls_model("initial-exec")));
#define BATCH_EVENTS 64
#define BATCH_BYTES (1 << 20)

/* ---- per-thread randomness: xorshift64*, seeded per thread ---- */

static uint64_t next_rand(void)
{
	uint64_t x = rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng = x;
	return x * 0x2545f4914f6cdd1dull;
}

static void seed(void)
{
	struct timespec ts;
	uint64_t s;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	s = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)(uintptr_t)&rng;
	s ^= (uint64_t)syscall(SYS_gettid) * 0x9e3779b97f4a7c15ull;
	rng = s ? s : 0x853c49e6748fea9bull;
	shard = (unsigned)syscall(SYS_gettid) % SHARDS;
	for (int i = 0; i < 4; i++)
		next_rand();
}

/* A uniform double in [0, 1): 53 random bits. */
static inline double uniform(void)
{
	return (double)(next_rand() >> 11) * 0x1p-53;
}

/* Exp(1) by von Neumann's comparison method (1951): exact, with no
 * logarithm, so the process start does not map libm (about 70 us there).
 * Draw x = u1 and continue the run u1 > u2 > ... while it falls; given x, the
 * run's length is odd with probability 1 - x + x^2/2! - ... = e^-x. An odd
 * length returns k + x; an even one adds 1 to k (probability 1/e) and
 * starts again. About 4.3 uniforms a draw, one draw a sample. */
double shim_heap_exp1(void)
{
	if (__builtin_expect(!rng, 0))
		seed();
	for (double k = 0;; k += 1) {
		double x = uniform(), prev = x;
		unsigned len = 1;

		for (;;) {
			double v = uniform();

			if (v >= prev)
				break;
			prev = v;
			len++;
		}
		if (len & 1)
			return k + x;
	}
}

/* Bytes to the next sample: exponential with the configured mean. */
static int64_t draw(void)
{
	double d;

	if (mean == 1)
		return 0;
	d = shim_heap_exp1() * (double)mean;
	return d >= 9.2e18 ? INT64_MAX : (int64_t)d;
}

/* 1 - e^-t for t >= 0, within a few units in the last place, without libm
 * (opening it cost each short process with a heap sample about 85 us, and a
 * sample taken while another thread was in the loader had to be dropped).
 * Below 1/2: the alternating series t - t^2/2! + t^3/3! - ..., in Horner's
 * form, which keeps every digit of a small t (1 - exp(-t) would lose them);
 * 18 terms leave under 1e-22 of t. Up to 40: 1 - 2^k e^r with -t = k ln2 + r,
 * |r| <= ln2/2, e^r by its series to r^14/14! (the rest under 1e-18), ln2 in
 * two parts so that k ln2 is exact. Past 40, e^-t is below half an ulp of 1. */
double shim_heap_one_minus_exp_neg(double t)
{
	static const double ln2_hi = 6.93147180369123816490e-01; /* 0x3fe62e42fee00000 */
	static const double ln2_lo = 1.90821492927058770002e-10; /* 0x3dea39ef35793c76 */
	union {
		uint64_t u;
		double d;
	} scale;
	/* 1/i: the series multiply (a chain of 17 divisions was ~250 cycles of
	 * every heap sample) */
	static const double inv[19] = {0,	  1,	    1.0 / 2,  1.0 / 3,	1.0 / 4,
				       1.0 / 5,	  1.0 / 6,  1.0 / 7,  1.0 / 8,	1.0 / 9,
				       1.0 / 10, 1.0 / 11, 1.0 / 12, 1.0 / 13, 1.0 / 14,
				       1.0 / 15, 1.0 / 16, 1.0 / 17, 1.0 / 18};
	double v = 1.0, r;
	int k;

	if (!(t > 0))
		return 0.0;
	if (t < 0.5) {
		/* t(1 - t/2(1 - t/3(...))), each step a dependent multiply and
		 * subtract: only as many terms as t needs, so the ones left out
		 * are below 1e-20 of the sum (t^6/7! below 2^-10, an allocation
		 * under 1/1024 of the mean; t^8/9! below 2^-6; t^12/13! below
		 * 2^-3) */
		int top = t < 0x1p-10 ? 6 : t < 0x1p-6 ? 8 : t < 0x1p-3 ? 12 : 18;

		for (int i = top; i >= 2; i--)
			v = 1.0 - t * inv[i] * v;
		return t * v;
	}
	if (t > 40)
		return 1.0;
	k = -(int)(t / ln2_hi + 0.5);
	r = (-t - k * ln2_hi) - k * ln2_lo;
	for (int i = 14; i >= 1; i--)
		v = 1.0 + r * inv[i] * v;
	scale.u = (uint64_t)(1023 + k) << 52; /* 2^k, k in [-58, -1] */
	return 1.0 - v * scale.d;
}

double shim_heap_weight(uint64_t size, uint64_t m)
{
	double q;

	if (m <= 1 || size == 0)
		return 1.0;
	q = shim_heap_one_minus_exp_neg((double)size / (double)m);
	return q > 0 ? 1.0 / q : 1.0;
}

/* ---- stacks: a lock-free intern table, one writer per new entry ---- */

static uint64_t stack_hash(const uintptr_t *pcs, uint32_t depth)
{
	uint64_t h = 0xcbf29ce484222325ull ^ depth;

	for (uint32_t i = 0; i < depth; i++) {
		h ^= (uint64_t)pcs[i];
		h *= 0x9e3779b97f4a7c15ull;
		h ^= h >> 29;
	}
	return h ? h : 1;
}

static int same(const struct hstack *e, const uintptr_t *pcs, uint32_t depth)
{
	if (e->depth != depth)
		return 0;
	for (uint32_t i = 0; i < depth; i++)
		if (pcs_store[e->off + i] != pcs[i])
			return 0;
	return 1;
}

static inline uint32_t stack_home(uint64_t h)
{
	return (uint32_t)(h >> 17) & (SHIM_HEAP_STACKS - 1);
}

/* The id of the stack pcs[0..depth) of hash h, interned when new; -1 when
 * full. */
static int64_t intern(const uintptr_t *pcs, uint32_t depth, uint64_t h)
{
	uint64_t off;
	uint32_t i = stack_home(h);

	for (uint32_t n = 0; n < PROBES; n++, i = (i + 1) & (SHIM_HEAP_STACKS - 1)) {
		struct hstack *e = &stacks[i];
		uint64_t eh = __atomic_load_n(&e->hash, __ATOMIC_ACQUIRE), zero = 0;

		if (eh == h) {
			/* still being filled by another thread: look further (at worst
			 * the stack gets a second entry, which the model merges) */
			if (__atomic_load_n(&e->ready, __ATOMIC_ACQUIRE) && same(e, pcs, depth))
				return i;
			continue;
		}
		if (eh != 0)
			continue;
		if (__atomic_load_n(&nstacks, __ATOMIC_RELAXED) >= SHIM_HEAP_STACKS * 3 / 4)
			return -1;
		if (!__atomic_compare_exchange_n(&e->hash, &zero, h, 0, __ATOMIC_ACQ_REL,
						 __ATOMIC_ACQUIRE)) {
			/* lost the slot to another stack: probe it again */
			i = (i - 1) & (SHIM_HEAP_STACKS - 1);
			continue;
		}
		off = __atomic_fetch_add(&pcs_used, depth, __ATOMIC_RELAXED);
		if (off + depth > SHIM_HEAP_PCS)
			return -1; /* the slot stays claimed and never ready: skipped */
		memcpy(&pcs_store[off], pcs, depth * sizeof(*pcs));
		e->off = (uint32_t)off;
		e->depth = depth;
		__atomic_fetch_add(&nstacks, 1, __ATOMIC_RELAXED);
		__atomic_store_n(&e->ready, 1, __ATOMIC_RELEASE);
		__atomic_fetch_or(&stack_bits[i / 64], 1ull << (i % 64), __ATOMIC_RELEASE);
		return i;
	}
	return -1;
}

/* ---- live sampled pointers ---- */

/* Home slot of p: neighbouring blocks get neighbouring slots (the table stays
 * in cache for a program's working set), and each 64 MiB region (a thread's
 * malloc arena) is displaced so arenas do not pile onto the same slots. */
static inline size_t live_home(const void *p)
{
	uintptr_t a = (uintptr_t)p >> 4;

	return (size_t)(a ^ (a >> 22) * 0x9e3779b1u) & live_mask;
}

static int live_put(const void *p, uint64_t val)
{
	size_t i = live_home(p);

	for (int n = 0; n < PROBES; n++, i = (i + 1) & live_mask) {
		struct live *s = &live[i];
		/* no load first: on a page never written, a load maps the zero
		 * page and the write after it faults a second time */
		uintptr_t k = EMPTY;
		if (__atomic_compare_exchange_n(&s->key, &k, BUSY, 0, __ATOMIC_ACQ_REL,
						__ATOMIC_RELAXED) ||
		    (k == TOMB && __atomic_compare_exchange_n(&s->key, &k, BUSY, 0, __ATOMIC_ACQ_REL,
							      __ATOMIC_RELAXED))) {
			size_t pg = i * sizeof(*live) / LIVE_PAGE;
			uint64_t bit = 1ull << (pg % 64);
			__atomic_store_n(&s->val, val, __ATOMIC_RELAXED);
			__atomic_store_n(&s->key, (uintptr_t)p, __ATOMIC_RELEASE);
			if (!(__atomic_load_n(&live_page_bits[pg / 64], __ATOMIC_RELAXED) & bit))
				__atomic_fetch_or(&live_page_bits[pg / 64], bit, __ATOMIC_RELEASE);
			return 0;
		}
	}
	return -1;
}

static void filter_add(const void *p)
{
	unsigned char *c = &shim_heap_filter[shim_heap_bucket(p)];
	unsigned char v;

	if (mean == 1)
		return; /* every block is sampled: the filter is full for good */
	v = __atomic_load_n(c, __ATOMIC_RELAXED);

	while (v != 255 &&
	       !__atomic_compare_exchange_n(c, &v, v + 1, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

void shim_heap_filter_mark(const void *p, size_t n)
{
	uintptr_t a = (uintptr_t)p & ~(uintptr_t)511, end = (uintptr_t)p + (n ? n : 1);

	for (; a < end; a += 512)
		__atomic_store_n(&shim_heap_filter[shim_heap_bucket((const void *)a)], 255,
				 __ATOMIC_RELAXED);
}

static void filter_del(const void *p)
{
	unsigned char *c = &shim_heap_filter[shim_heap_bucket(p)];
	unsigned char v = __atomic_load_n(c, __ATOMIC_RELAXED);

	/* a saturated bucket lost count of its members: it stays full */
	while (v != 0 && v != 255 &&
	       !__atomic_compare_exchange_n(c, &v, v - 1, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		;
}

static uint64_t est_bytes(uint64_t size)
{
	return shim_round_u64((double)size * shim_heap_weight(size, mean));
}

static void stats_flush(void)
{
	uint64_t now, peak;

	now = __atomic_add_fetch(&live_bytes, (uint64_t)mine.live, __ATOMIC_RELAXED);
	peak = __atomic_load_n(&peak_bytes, __ATOMIC_RELAXED);
	while ((int64_t)now > (int64_t)peak &&
	       !__atomic_compare_exchange_n(&peak_bytes, &peak, now, 1, __ATOMIC_RELAXED,
					    __ATOMIC_RELAXED))
		;
	if (mine.samples)
		__atomic_fetch_add(&n_samples, mine.samples, __ATOMIC_RELAXED);
	if (mine.freed)
		__atomic_fetch_add(&n_freed, mine.freed, __ATOMIC_RELAXED);
	memset(&mine, 0, sizeof(mine));
}

/* Count a sample (+bytes) or a freed sample (-bytes) in this thread's batch. */
static void stats_add(int64_t bytes, int freed)
{
	mine.live += bytes;
	if (freed)
		mine.freed++;
	else
		mine.samples++;
	if (mine.samples + mine.freed >= BATCH_EVENTS || mine.live >= BATCH_BYTES ||
	    mine.live <= -BATCH_BYTES)
		stats_flush();
}

uint64_t shim_heap_forget(const void *p)
{
	size_t i;

	if (!p || !live)
		return 0;
	i = live_home(p);
	for (int n = 0; n < PROBES; n++, i = (i + 1) & live_mask) {
		struct live *s = &live[i];
		uintptr_t k = __atomic_load_n(&s->key, __ATOMIC_ACQUIRE);
		uint64_t val;
		int saved;
		if (k == EMPTY)
			return 0;
		if (k != (uintptr_t)p)
			continue;
		val = __atomic_load_n(&s->val, __ATOMIC_RELAXED);
		if (!__atomic_compare_exchange_n(&s->key, &k, TOMB, 0, __ATOMIC_ACQ_REL,
						 __ATOMIC_RELAXED))
			return 0; /* a double free raced us: the other one took it */
		filter_del(p);
		saved = errno; /* free and realloc keep errno */
		stats_add(-(int64_t)est_bytes(val >> ID_BITS), 1);
		errno = saved;
		return val;
	}
	return 0;
}

void shim_heap_restore(const void *p, uint64_t entry)
{
	int saved;

	if (!entry || live_put(p, entry) != 0)
		return;
	saved = errno;
	filter_add(p);
	mine.freed--; /* the forget that came before did not happen after all */
	stats_add((int64_t)est_bytes(entry >> ID_BITS), 1);
	errno = saved;
}

/* ---- the sample ---- */

static void record(void *p, size_t n)
{
	uintptr_t pcs[SHIM_HEAP_DEPTH + 8];
	int depth, skip = 0;
	int64_t id;
	uint64_t h;
	double w;
	uint64_t est;
	struct hcount *c;
	uint64_t size = n > SIZE_MAX_PACKED ? SIZE_MAX_PACKED : n;

	depth = 0;
	if (shim_unwind_enter()) { /* not while a fork is being made */
		depth = shim_unwind_here(pcs, SHIM_HEAP_DEPTH + 8);
		shim_unwind_leave();
	}
	/* leave out our own frames (this sampler, the hook): the innermost frame
	 * is the code that called malloc */
	while (skip < depth && pcs[skip] > self_lo && pcs[skip] <= self_hi)
		skip++;
	if (skip == depth) {
		/* no unwinder, or a fork in progress: the hook's caller is not
		 * known here; keep the allocation in the totals under an empty
		 * stack */
		depth = skip = 0;
	}
	depth -= skip;
	if (depth > SHIM_HEAP_DEPTH)
		depth = SHIM_HEAP_DEPTH;
	h = stack_hash(pcs + skip, (uint32_t)depth);
	/* a stack's id is nearly always its home slot: fetch its counts line
	 * while intern reads the entry's */
	__builtin_prefetch(&counts[shard * SHIM_HEAP_STACKS + stack_home(h)], 1, 1);
	id = intern(pcs + skip, (uint32_t)depth, h);
	if (id < 0) {
		__atomic_fetch_add(&n_dropped, 1, __ATOMIC_RELAXED);
		return;
	}
	c = &counts[shard * SHIM_HEAP_STACKS + (size_t)id];
	__atomic_fetch_add(&c->samples, 1, __ATOMIC_RELAXED);
	if (mean == 1) {
		/* every allocation: weights are 1, objects are samples */
		est = size;
	} else {
		w = shim_heap_weight(size, mean);
		est = shim_round_u64(w * (double)size);
		__atomic_fetch_add(&c->objs_fx, shim_round_u64(w * OBJ_ONE), __ATOMIC_RELAXED);
	}
	__atomic_fetch_add(&c->bytes, est, __ATOMIC_RELAXED);
	if (!__atomic_load_n(&sampled, __ATOMIC_RELAXED))
		__atomic_store_n(&sampled, 1, __ATOMIC_RELAXED);
	if (live_put(p, size << ID_BITS | (uint64_t)id) != 0) {
		/* counted as allocated; its in-use share is lost */
		__atomic_fetch_add(&n_dropped, 1, __ATOMIC_RELAXED);
		stats_add(0, 0);
		return;
	}
	filter_add(p);
	stats_add((int64_t)est, 0);
}

static __thread int poked __attribute__((tls_model("initial-exec")));
static __thread int64_t poked_left __attribute__((tls_model("initial-exec")));

/* Inside shim_heap_sample (nested when its own allocations come back), which
 * sets the countdown as it goes: a poke then waits for its end (repoke). */
static __thread int in_sample __attribute__((tls_model("initial-exec")));
static __thread int repoke __attribute__((tls_model("initial-exec")));

void shim_heap_poke(void)
{
	if (poked)
		return;
	if (in_sample) {
		repoke = 1;
		return;
	}
	poked_left = shim_tls.heap_left;
	shim_tls.heap_left = 0;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	poked = 1;
}

int shim_heap_poke_pending(void)
{
	return poked;
}

/* The slow path the handler asked for: the distance the poke took is put
 * back (shim_tls.heap_left is minus what was allocated since), and the thread's
 * early CPU samples are unwound unless Shimmer's own code is running here.
 * Returns nonzero when the allocation is not due for a heap sample. */
static int unpoke(void)
{
	int64_t spent = -shim_tls.heap_left;

	poked = 0;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	shim_tls.heap_left = spent > 0 && poked_left > INT64_MIN + spent ? poked_left - spent : poked_left;
	if (!shim_tls.internal && !shim_tls_alloc_guarded())
		shim_profiler_catch_up();
	return shim_tls.heap_left > 0;
}

static void sample(void *p, size_t n)
{
	int saved = errno;
	int st;

	if (__builtin_expect(poked, 0) && unpoke()) {
		errno = saved;
		return;
	}
	st = __atomic_load_n(&state, __ATOMIC_ACQUIRE);

	if (st == OFF) {
		shim_tls.heap_left = INT64_MAX; /* this thread never comes back */
		goto out;
	}
	if (st == BEFORE || !(shim_active & SHIM_FAM(ALLOC))) {
		/* not decided yet (allocations before the constructor, or a
		 * process the constructor left off): ask again after a few KiB */
		shim_tls.heap_left = 4096;
		goto out;
	}
	if (!rng) {
		/* the thread's first allocation: its first distance, which this
		 * allocation may already cross */
		seed();
		shim_tls.heap_left = draw() - (int64_t)n;
		if (shim_tls.heap_left > 0)
			goto out;
	}
	shim_tls.heap_left = draw();
	/* Shimmer's own allocations and dlsym's are never the program's */
	if (!p || shim_tls_alloc_guarded())
		goto out;
	/* the live table's line for p is cold after a sample interval of the
	 * program's own work: fetch it while the stack is unwound */
	__builtin_prefetch(&live[live_home(p)], 1, 1);
	shim_internal_enter();
	record(p, n);
	shim_internal_leave();
out:
	errno = saved;
}

/* A poke that came while sample() ran is made at its end, when the countdown
 * it sets is final. A handler between the count's drop and the test of
 * repoke pokes by itself; the late poke then finds it made. */
void shim_heap_sample(void *p, size_t n)
{
	in_sample++;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	sample(p, n);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	in_sample--;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	if (__builtin_expect(repoke, 0) && !in_sample) {
		repoke = 0;
		shim_heap_poke();
	}
}

/* ---- setup and export ---- */

int shim_heap_init(void)
{
	size_t cap;

	mean = (uint64_t)shim_config.heap_sample;
	if (!mean || !(shim_config.families & SHIM_FAM(ALLOC))) {
		mean = 0;
		__atomic_store_n(&state, OFF, __ATOMIC_RELEASE);
		return 0;
	}
	/* every allocation sampled needs room for every live block; sparse
	 * sampling needs little (and must not cost resident memory) */
	cap = mean < 65536 ? (1u << 20) : (1u << 16);
	stacks = shim_zone_map(SHIM_HEAP_STACKS * sizeof(*stacks));
	pcs_store = shim_zone_map(SHIM_HEAP_PCS * sizeof(*pcs_store));
	live = shim_zone_map(cap * sizeof(*live));
	counts = shim_zone_map(SHARDS * SHIM_HEAP_STACKS * sizeof(*counts));
	if (!stacks || !pcs_store || !live || !counts) {
		shim_err("cannot map the heap sample tables: heap profiling is off");
		mean = 0;
		live = NULL;
		__atomic_store_n(&state, OFF, __ATOMIC_RELEASE);
		return -1;
	}
	live_mask = cap - 1;
	if (mean == 1)
		memset(shim_heap_filter, 255, sizeof(shim_heap_filter)); /* every free looks */
	/* return addresses in our own code: in (lo, hi] */
	shim_unwind_text_of((const void *)(uintptr_t)shim_heap_init, &self_lo, &self_hi, NULL);
	__atomic_store_n(&state, ON, __ATOMIC_RELEASE);
	/* this (main) thread may hold a distance from before the decision */
	shim_tls.heap_left = 0;
	return 0;
}

uint64_t shim_heap_mean(void)
{
	return mean;
}

/* Stack i's counts over all shards; objs_fx filled in for every-allocation mode. */
static void sum(uint32_t i, struct hcount *t)
{
	memset(t, 0, sizeof(*t));
	for (int k = 0; k < SHARDS; k++) {
		const struct hcount *c = &counts[(size_t)k * SHIM_HEAP_STACKS + i];
		t->samples += __atomic_load_n(&c->samples, __ATOMIC_RELAXED);
		t->objs_fx += __atomic_load_n(&c->objs_fx, __ATOMIC_RELAXED);
		t->bytes += __atomic_load_n(&c->bytes, __ATOMIC_RELAXED);
	}
	if (mean == 1)
		t->objs_fx = (uint64_t)(t->samples * OBJ_ONE);
}

uint64_t shim_heap_samples(void)
{
	uint64_t n = __atomic_load_n(&n_samples, __ATOMIC_RELAXED);

	/* threads add their counts in batches: any sample at all shows */
	return n ? n : (uint64_t)__atomic_load_n(&sampled, __ATOMIC_RELAXED);
}

/* The next ready stack id from `from` on, or SHIM_HEAP_STACKS: ids in order. */
static uint32_t next_stack(uint32_t from)
{
	for (uint32_t w = from / 64; w < SHIM_HEAP_STACKS / 64; w++) {
		uint64_t bits = __atomic_load_n(&stack_bits[w], __ATOMIC_ACQUIRE);
		if (w == from / 64)
			bits &= ~0ull << (from % 64);
		if (bits)
			return w * 64 + (uint32_t)__builtin_ctzll(bits);
	}
	return SHIM_HEAP_STACKS;
}

void shim_heap_stats(struct shim_heap_stats *s)
{
	memset(s, 0, sizeof(*s));
	s->samples = __atomic_load_n(&n_samples, __ATOMIC_RELAXED);
	s->dropped = __atomic_load_n(&n_dropped, __ATOMIC_RELAXED);
	s->freed = __atomic_load_n(&n_freed, __ATOMIC_RELAXED);
	s->live_bytes = __atomic_load_n(&live_bytes, __ATOMIC_RELAXED);
	if ((int64_t)s->live_bytes < 0)
		s->live_bytes = 0; /* frees flushed before the samples they undo */
	s->peak_bytes = __atomic_load_n(&peak_bytes, __ATOMIC_RELAXED);
	for (uint32_t i = next_stack(0); stacks && i < SHIM_HEAP_STACKS; i = next_stack(i + 1)) {
		struct hcount t;
		sum(i, &t);
		s->alloc_bytes += t.bytes;
		s->alloc_objects += shim_round_u64((double)t.objs_fx / OBJ_ONE);
	}
}

void shim_heap_foreach_stack(void (*fn)(uint32_t id, const uintptr_t *pcs, uint32_t depth,
					uint64_t samples, double objects, double bytes, void *arg),
			     void *arg)
{
	for (uint32_t i = next_stack(0); stacks && i < SHIM_HEAP_STACKS; i = next_stack(i + 1)) {
		const struct hstack *e = &stacks[i];
		struct hcount t;
		sum(i, &t);
		if (t.samples)
			fn(i, &pcs_store[e->off], e->depth, t.samples, (double)t.objs_fx / OBJ_ONE,
			   (double)t.bytes, arg);
	}
}

void shim_heap_foreach_live(void (*fn)(uint32_t id, uint64_t size, void *arg), void *arg)
{
	const size_t per_page = LIVE_PAGE / sizeof(*live);

	for (size_t i = 0; live && i <= live_mask; i++) {
		uintptr_t k, k2;
		size_t pg = i / per_page;
		if (!(__atomic_load_n(&live_page_bits[pg / 64], __ATOMIC_ACQUIRE) &
		      (1ull << (pg % 64)))) {
			i += per_page - 1 - i % per_page; /* never held an entry */
			continue;
		}
		k = __atomic_load_n(&live[i].key, __ATOMIC_ACQUIRE);
		uint64_t val;
		if (k <= TOMB)
			continue;
		val = __atomic_load_n(&live[i].val, __ATOMIC_RELAXED);
		k2 = __atomic_load_n(&live[i].key, __ATOMIC_ACQUIRE);
		if (k2 != k)
			continue; /* freed (and maybe reused) while read */
		fn((uint32_t)(val & ((1u << ID_BITS) - 1)), val >> ID_BITS, arg);
	}
}
