/* SPDX-License-Identifier: MIT */
/* The registry of per-thread slots. Hooks claim a slot lock-free on a thread's
 * first call. A thread still allocates after its key destructors ran (libc's
 * own thread-exit frees), so an ending thread keeps its slot (DYING) and a
 * later exit or the export folds it into "exited" once the kernel says the
 * thread is gone. The registry mutex is taken only by exits, export and fork. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "fdtab.h"
#include "log.h"
#include "record.h"
#include "thread.h"
#include "zone.h"

__thread struct shim_tls shim_tls __attribute__((tls_model("initial-exec")));
uint64_t shim_threads_untracked;

enum { FREE, CLAIMING, USED, DYING };

/* The registry (shim/zone.h: shim_reg_count, shim_reg_raise). */
static struct {
	atomic_int state;
	struct shim_thread *slot;
} reg[SHIM_MAX_THREADS] SHIM_BIG __attribute__((aligned(4096)));
static atomic_int reg_hi;
static struct shim_thread *exited; /* merged stats of threads that ended */
static int exited_used;		   /* something was merged into it */
static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_key_t key;
static int key_ok;
static atomic_uint_fast64_t seen;

static struct shim_thread *map_slot(void)
{
	return shim_zone_map(sizeof(struct shim_thread));
}

/* Drop a slot's pages: the kernel hands back zeroes on next touch, so a reused
 * slot costs no memset and no resident memory until it is written. */
static void wipe_slot(struct shim_thread *t)
{
	syscall(SYS_madvise, t, sizeof(*t), MADV_DONTNEED);
}

void shim_thread_merge(struct shim_thread *dst, const struct shim_thread *src)
{
	uint32_t nres, nrows;

	/* only what src used is read, and only what it adds is written: the
	 * merged slot's untouched pages stay unmapped */
	for (unsigned i = 0; i < SHIM_FN_COUNT; i++) {
		const struct shim_stat *f = &src->fn[i];
		if (!(f->calls | f->errors | f->ticks | f->bytes))
			continue;
		dst->fn[i].calls += f->calls;
		dst->fn[i].errors += f->errors;
		dst->fn[i].ticks += f->ticks;
		dst->fn[i].bytes += f->bytes;
	}
	nrows = __atomic_load_n(&src->nhist, __ATOMIC_ACQUIRE);
	for (uint32_t r = 1; r <= nrows && r < SHIM_HIST_ROWS; r++) {
		uint64_t *d;
		if (src->hist_fn[r] >= SHIM_FN_COUNT || src->hist_row[src->hist_fn[r]] != r)
			continue; /* being claimed, or left unused by a race */
		d = shim_hist_of(dst, src->hist_fn[r]);
		for (unsigned b = 0; b < SHIM_HIST_BUCKETS; b++)
			d[b] += src->hist[r][b];
	}
	for (uint32_t k = 0, n = shim_site_count(src); k < n; k++) {
		const struct shim_site *s = shim_site_nth(src, k);
		struct shim_site *d;
		if (!s || !s->pc)
			continue;
		if (!src->fn_full) {
			struct shim_stat *f = &dst->fn[s->fn];
			f->calls += s->st.calls;
			f->errors += s->st.errors;
			f->ticks += s->st.ticks;
			f->bytes += s->st.bytes;
		}
		d = shim_site_get(dst, s->fn, s->pc);
		if (!d) {
			dst->sites_dropped += s->st.calls;
			continue;
		}
		d->st.calls += s->st.calls;
		d->st.errors += s->st.errors;
		d->st.ticks += s->st.ticks;
		d->st.bytes += s->st.bytes;
	}
	for (unsigned i = 0; i < SHIM_ERR_CAP; i++) {
		const struct shim_errstat *e = &src->err[i];
		struct shim_errstat *d;
		if (!e->err)
			continue;
		d = shim_err_get(dst, e->fn, e->err);
		if (d)
			d->count += e->count;
		else
			dst->errs_dropped += e->count;
	}
	/* a thread's own slot does not keep res_hi up to date (the recorders'
	 * inline path skips it): look as far as resources exist */
	nres = src->fn_full ? src->res_hi : shim_res_count();
	for (unsigned i = 0; i < nres && i < SHIM_RES_CAP; i++) {
		const struct shim_resstat *r = &src->res[i];
		if (!r->ops)
			continue;
		if (i >= dst->res_hi)
			dst->res_hi = i + 1;
		dst->res[i].ops += r->ops;
		dst->res[i].rbytes += r->rbytes;
		dst->res[i].wbytes += r->wbytes;
		dst->res[i].ticks += r->ticks;
		dst->res[i].errors += r->errors;
	}
	dst->sites_dropped += src->sites_dropped;
	dst->errs_dropped += src->errs_dropped;
	dst->fn_full = 1;
}

/* Fold the slots of threads that are really gone into `exited` and free them.
 * tgkill(sig 0) fails with ESRCH only once the kernel has let the thread go:
 * it can no longer write its slot. A reused tid only delays the fold.
 * reg_lock held. */
static void reap(void)
{
	int pid = (int)syscall(SYS_getpid), e = errno;

	for (int i = 0; i < shim_reg_count(&reg_hi); i++) {
		if (atomic_load(&reg[i].state) != DYING)
			continue;
		if (syscall(SYS_tgkill, pid, reg[i].slot->tid, 0) == 0 || errno != ESRCH)
			continue;
		if (exited) {
			shim_thread_merge(exited, reg[i].slot);
			exited_used = 1;
		}
		wipe_slot(reg[i].slot);
		atomic_store(&reg[i].state, FREE);
	}
	errno = e;
}

/* pthread key destructor: the thread is ending. Its slot stays attached for
 * the calls it still makes on the way out; a later reap() folds it. */
static void thread_gone(void *arg)
{
	struct shim_thread *t = arg;

	shim_internal_enter();
	pthread_mutex_lock(&reg_lock);
	reap();
	for (int i = 0; i < shim_reg_count(&reg_hi); i++) {
		if (reg[i].slot == t && atomic_load(&reg[i].state) == USED) {
			atomic_store(&reg[i].state, DYING);
			break;
		}
	}
	pthread_mutex_unlock(&reg_lock);
	shim_internal_leave();
}

int shim_thread_init(void)
{
	exited = map_slot();
	if (!exited)
		return -1;
	key_ok = pthread_key_create(&key, thread_gone) == 0;
	return 0;
}

/* Cold path of shim_thread_self: kept out of line so the hooks' fast path is a
 * TLS load and a test. errno is the caller's business: a failed mmap must not
 * leave its ENOMEM behind in a hook that returns the real errno. */
static struct shim_thread *attach(void)
{
	static atomic_int hint;
	int start = atomic_load_explicit(&hint, memory_order_relaxed);

	for (int n = 0; n < SHIM_MAX_THREADS; n++) {
		int i = (start + n) % SHIM_MAX_THREADS, expect = FREE;
		/* no load first: a read of a page never written maps the zero
		 * page, and the write after it faults a second time */
		if (!atomic_compare_exchange_strong(&reg[i].state, &expect, CLAIMING))
			continue;
		shim_reg_raise(&reg_hi, i);
		if (!reg[i].slot)
			reg[i].slot = map_slot();
		if (!reg[i].slot) {
			atomic_store(&reg[i].state, FREE);
			return NULL;
		}
		reg[i].slot->tid = (int)syscall(SYS_gettid);
		shim_tls.slot = reg[i].slot;
		if (__atomic_load_n(&shim_active, __ATOMIC_ACQUIRE) & SHIM_FAM(ALLOC))
			shim_tls_set_alloc(reg[i].slot);
		atomic_store_explicit(&reg[i].state, USED, memory_order_release);
		atomic_store_explicit(&hint, (i + 1) % SHIM_MAX_THREADS, memory_order_relaxed);
		atomic_fetch_add(&seen, 1);
		/* keys below 32 live in the thread descriptor: no allocation */
		if (key_ok)
			pthread_setspecific(key, reg[i].slot);
		return reg[i].slot;
	}
	__atomic_fetch_add(&shim_threads_untracked, 1, __ATOMIC_RELAXED);
	return NULL;
}

__attribute__((cold, noinline)) struct shim_thread *shim_thread_attach(void)
{
	int e = errno;
	struct shim_thread *t = attach();

	errno = e;
	return t;
}

void shim_thread_foreach(void (*fn)(const struct shim_thread *, void *), void *arg)
{
	pthread_mutex_lock(&reg_lock);
	reap();
	for (int i = 0; i < shim_reg_count(&reg_hi); i++) {
		int st = atomic_load_explicit(&reg[i].state, memory_order_acquire);
		if (st == USED || st == DYING)
			fn(reg[i].slot, arg);
	}
	/* untouched, the merged slot of exited threads would only cost page
	 * faults to read */
	if (exited && exited_used)
		fn(exited, arg);
	pthread_mutex_unlock(&reg_lock);
}

uint64_t shim_thread_seen(void)
{
	return atomic_load(&seen);
}

void shim_thread_fork_prepare(void)
{
	pthread_mutex_lock(&reg_lock);
}

void shim_thread_fork_parent(void)
{
	pthread_mutex_unlock(&reg_lock);
}

void shim_thread_fork_child(void)
{
	struct shim_thread *self = shim_tls.slot;

	pthread_mutex_init(&reg_lock, NULL);
	for (int i = 0; i < shim_reg_count(&reg_hi); i++) {
		if (!reg[i].slot)
			continue;
		wipe_slot(reg[i].slot);
		atomic_store(&reg[i].state, reg[i].slot == self ? USED : FREE);
	}
	if (exited)
		wipe_slot(exited);
	exited_used = 0;
	if (self)
		self->tid = (int)syscall(SYS_gettid);
	atomic_store(&seen, self ? 1 : 0);
	shim_threads_untracked = 0;
}
