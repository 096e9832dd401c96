/* SPDX-License-Identifier: MIT */
/* Early CPU samples: taken before libunwind is loaded, unwound after. The
 * SIGPROF handler copies the registers and the live stack into a bump arena;
 * a normal context later runs libunwind's DWARF unwinder over the copy
 * through an address space of our own (libunwind's generic library: its
 * local one cannot take accessors), reading stack words from the copy and
 * code and unwind tables from the loaded objects. */
#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <libunwind.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "config.h"
#include "unwind.h"
#include "worker.h"
#include "zone.h"

#define ARENA_BYTES (4u << 20)
#define STACK_MAX (64u * 1024)
#define SEGS_MAX 512

enum { FILLING, READY, DONE };

struct rec {
	atomic_int state;
	uint32_t size; /* of the record, header included, 16-aligned */
	void *owner;
	uintptr_t lo, hi; /* the thread's stack */
	uintptr_t sp;
	uint32_t len; /* bytes of stack copied from sp */
	uint64_t regs[17]; /* DWARF numbering: rax rdx rcx rbx rsi rdi rbp rsp r8..r15 rip */
	unsigned char stack[];
};

static unsigned char *arena;
static atomic_size_t used;    /* bytes handed out (may pass ARENA_BYTES: then full) */
static atomic_int waiting;    /* records READY, not yet replayed */
/* one replay at a time (the generic library, the segment list); taken in a
 * normal context only, inside shim_unwind_enter/leave: never across a fork */
static pthread_mutex_t replay_lock = PTHREAD_MUTEX_INITIALIZER;

int shim_unwind_stash_init(void)
{
	void *p;

	if (arena)
		return 0;
	if (!(p = shim_zone_map(ARENA_BYTES)))
		return -1;
	arena = p;
	return 0;
}

/* Another frame's stack and another object's data, read word by word: under
 * AddressSanitizer those hold redzones its memcpy would report, and the
 * volatile reads keep the compiler from making this loop a memcpy call. */
__attribute__((no_sanitize_address)) static void raw_copy(void *dst, uintptr_t src, size_t n)
{
	const volatile unsigned char *s = (const volatile unsigned char *)src;
	unsigned char *d = dst;
	size_t i = 0;

	if (!(src & 7) && !((uintptr_t)dst & 7))
		for (; i + 8 <= n; i += 8)
			*(uint64_t *)(void *)(d + i) = *(const volatile uint64_t *)(s + i);
	for (; i < n; i++)
		d[i] = s[i];
}

int shim_unwind_stash(const void *ucv, uintptr_t lo, uintptr_t hi, void *owner)
{
#if defined(__x86_64__)
	const ucontext_t *uc = ucv;
	const greg_t *g = uc->uc_mcontext.gregs;
	uintptr_t sp = (uintptr_t)g[REG_RSP];
	size_t len, size, off;
	struct rec *r;

	if (!arena || !shim_unwind_pending() || sp < lo || sp >= hi)
		return -1;
	len = hi - sp < STACK_MAX ? hi - sp : STACK_MAX;
	size = (sizeof(struct rec) + len + 15) & ~(size_t)15;
	off = atomic_fetch_add_explicit(&used, size, memory_order_relaxed);
	if (off + size > ARENA_BYTES)
		return -1; /* full for good: frame-pointer walks from here on */
	r = (struct rec *)(arena + off);
	r->size = (uint32_t)size;
	r->owner = owner;
	r->lo = lo;
	r->hi = hi;
	r->sp = sp;
	r->len = (uint32_t)len;
	r->regs[0] = (uint64_t)g[REG_RAX];
	r->regs[1] = (uint64_t)g[REG_RDX];
	r->regs[2] = (uint64_t)g[REG_RCX];
	r->regs[3] = (uint64_t)g[REG_RBX];
	r->regs[4] = (uint64_t)g[REG_RSI];
	r->regs[5] = (uint64_t)g[REG_RDI];
	r->regs[6] = (uint64_t)g[REG_RBP];
	r->regs[7] = (uint64_t)sp;
	for (int i = 0; i < 8; i++)
		r->regs[8 + i] = (uint64_t)g[REG_R8 + i];
	r->regs[16] = (uint64_t)g[REG_RIP];
	raw_copy(r->stack, sp, len);
	atomic_fetch_add(&waiting, 1); /* before a replay can take it */
	atomic_store_explicit(&r->state, READY, memory_order_release);
	return 0;
#else
	(void)ucv, (void)lo, (void)hi, (void)owner;
	return -1;
#endif
}

int shim_unwind_stashed(void)
{
	return atomic_load_explicit(&waiting, memory_order_relaxed) > 0;
}

void shim_unwind_stash_fork_child(void)
{
	size_t n = atomic_load(&used);

	/* zero pages again: the parent's records must not be read as ours */
	if (arena && n)
		syscall(SYS_madvise, arena, n < ARENA_BYTES ? n : ARENA_BYTES, MADV_DONTNEED);
	atomic_store(&used, 0);
	atomic_store(&waiting, 0);
	/* a fork that waited out its time for a replay in another thread */
	pthread_mutex_init(&replay_lock, NULL);
}

/* ---- the replay ---- */

/* libunwind's generic library (it can unwind through accessors) */
static struct {
	int tried, ok;
	unw_addr_space_t as;
	int (*init_remote)(unw_cursor_t *, unw_addr_space_t, void *);
	int (*step)(unw_cursor_t *);
	int (*get_reg)(unw_cursor_t *, unw_regnum_t, unw_word_t *);
} gen;

/* The loaded objects' segments: the only memory outside the copy that an
 * unwind may read (unwind tables, code). */
static struct seg {
	uintptr_t lo, hi;
} segs[SEGS_MAX] SHIM_BIG;
static int nsegs;

static int add_segs(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size, (void)arg;
	for (int i = 0; i < info->dlpi_phnum && nsegs < SEGS_MAX; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type == PT_LOAD) {
			segs[nsegs].lo = info->dlpi_addr + ph->p_vaddr;
			segs[nsegs].hi = segs[nsegs].lo + ph->p_memsz;
			nsegs++;
		}
	}
	return 0;
}

static int in_segs(uintptr_t a)
{
	for (int i = 0; i < nsegs; i++)
		if (a >= segs[i].lo && a + sizeof(unw_word_t) <= segs[i].hi)
			return 1;
	return 0;
}

static int access_mem(unw_addr_space_t as, unw_word_t addr, unw_word_t *val, int write,
		      void *arg)
{
	const struct rec *r = arg;
	uintptr_t a = (uintptr_t)addr;

	(void)as;
	if (write)
		return -UNW_EINVAL;
	if (a >= r->sp && a + sizeof(*val) <= r->sp + r->len) {
		memcpy(val, r->stack + (a - r->sp), sizeof(*val));
		return 0;
	}
	/* the stack beyond the copy has changed since: never read it live */
	if (a >= r->lo && a < r->hi)
		return -UNW_EINVAL;
	if (!in_segs(a))
		return -UNW_EINVAL;
	raw_copy(val, a, sizeof(*val));
	return 0;
}

static int access_reg(unw_addr_space_t as, unw_regnum_t reg, unw_word_t *val, int write,
		      void *arg)
{
	const struct rec *r = arg;

	(void)as;
	if (write || reg < 0 || reg > 16)
		return -UNW_EBADREG;
	*val = r->regs[reg];
	return 0;
}

static int access_fpreg(unw_addr_space_t as, unw_regnum_t reg, unw_fpreg_t *val, int write,
			void *arg)
{
	(void)as, (void)reg, (void)val, (void)write, (void)arg;
	return -UNW_EBADREG;
}

static int resume(unw_addr_space_t as, unw_cursor_t *c, void *arg)
{
	(void)as, (void)c, (void)arg;
	return -UNW_EINVAL;
}

static void open_generic(void)
{
	unw_addr_space_t *local;
	unw_accessors_t *(*get_acc)(unw_addr_space_t);
	unw_addr_space_t (*create)(unw_accessors_t *, int);
	unw_accessors_t acc;
	void *h;

	gen.tried = 1;
	h = dlopen("libunwind-x86_64.so.8", RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return;
	local = (unw_addr_space_t *)dlsym(h, "_Ux86_64_local_addr_space");
	get_acc = (unw_accessors_t * (*)(unw_addr_space_t)) dlsym(h, "_Ux86_64_get_accessors");
	create = (unw_addr_space_t(*)(unw_accessors_t *, int))dlsym(h, "_Ux86_64_create_addr_space");
	gen.init_remote = (int (*)(unw_cursor_t *, unw_addr_space_t, void *))dlsym(
		h, "_Ux86_64_init_remote");
	gen.step = (int (*)(unw_cursor_t *))dlsym(h, "_Ux86_64_step");
	gen.get_reg = (int (*)(unw_cursor_t *, unw_regnum_t, unw_word_t *))dlsym(h, "_Ux86_64_get_reg");
	if (!local || !*local || !get_acc || !create || !gen.init_remote || !gen.step ||
	    !gen.get_reg)
		return;
	/* the local address space's way to find unwind tables (dl_iterate_phdr:
	 * the objects are ours), our way to read registers and memory */
	acc = *get_acc(*local);
	acc.access_mem = access_mem;
	acc.access_reg = access_reg;
	acc.access_fpreg = access_fpreg;
	acc.resume = resume;
	gen.as = create(&acc, 0);
	gen.ok = gen.as != NULL;
}

static int walk(struct rec *r, uintptr_t *pcs, int max)
{
	unw_cursor_t c;
	int n = 0;

	pcs[n++] = (uintptr_t)r->regs[16];
	if (!gen.ok || gen.init_remote(&c, gen.as, r) != 0)
		return shim_unwind_fp(r->stack, r->sp, r->sp + r->len, (uintptr_t)r->regs[6], pcs, n,
				      max);
	while (n < max && gen.step(&c) > 0) {
		unw_word_t ip;
		if (gen.get_reg(&c, UNW_REG_IP, &ip) != 0 || !ip)
			break;
		pcs[n++] = (uintptr_t)ip;
	}
	return n;
}

int shim_unwind_replay(void (*add)(void *owner, const uintptr_t *pcs, int n), int max)
{
	uintptr_t pcs[SHIM_DEPTH_MAX];
	size_t end, off;
	int done = 0;

	if (!arena || !shim_unwind_stashed())
		return 0;
	if (max > SHIM_DEPTH_MAX)
		max = SHIM_DEPTH_MAX;
	pthread_mutex_lock(&replay_lock);
	/* the handler's walks from now on; not from the worker: libunwind's
	 * first walk opens its memory-probe pipe, which must be in the fd table
	 * the program's threads (and so the handler) share, not the worker's
	 * own (the generic library's pipe is never used: the accessors are ours) */
	if (!shim_worker_is_self())
		shim_unwind_load();
	if (!gen.tried)
		open_generic();
	nsegs = 0;
	dl_iterate_phdr(add_segs, NULL);
	end = atomic_load(&used);
	if (end > ARENA_BYTES)
		end = ARENA_BYTES;
	for (off = 0; off + sizeof(struct rec) <= end;) {
		struct rec *r = (struct rec *)(arena + off);
		int expect = READY;
		if (!r->size)
			break; /* a record being written (its size comes first) */
		off += r->size;
		if (atomic_load_explicit(&r->state, memory_order_acquire) != READY ||
		    !atomic_compare_exchange_strong(&r->state, &expect, DONE))
			continue;
		add(r->owner, pcs, walk(r, pcs, max));
		atomic_fetch_sub(&waiting, 1);
		done++;
	}
	pthread_mutex_unlock(&replay_lock);
	return done;
}
