/* SPDX-License-Identifier: MIT */
/* The jansson and zlib functions Shimmer calls, defined here (hidden) with
 * the libraries' own prototypes and forwarded to the library, opened with
 * dlopen(RTLD_LOCAL) by the first call (each function looked up at its own
 * first call): a process that never writes JSON or gzip (one killed before
 * export, or SHIMMER_FORMATS=table) never maps them, and none pays their load
 * at start. Each list below must name every such function the code calls: a
 * missing one fails the link (no -ljansson -lz, -z defs). Also jansson's
 * allocator while a writer runs: a bump arena (after the loader). */
#include <dlfcn.h>
#include <jansson.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "libs.h"
#include "log.h"
#include "thread.h"

/* return type, name, parameters, arguments, what jansson returns for NULL */
#define JANSSON_FNS(X)                                                                             \
	X(json_t *, json_object, (void), (), NULL)                                                 \
	X(json_t *, json_array, (void), (), NULL)                                                  \
	X(json_t *, json_true, (void), (), NULL)                                                   \
	X(json_t *, json_false, (void), (), NULL)                                                  \
	X(json_t *, json_integer, (json_int_t v), (v), NULL)                                       \
	X(json_t *, json_real, (double v), (v), NULL)                                              \
	X(json_t *, json_string, (const char *s), (s), NULL)                                       \
	X(json_t *, json_stringn, (const char *s, size_t n), (s, n), NULL)                         \
	X(json_t *, json_stringn_nocheck, (const char *s, size_t n), (s, n), NULL)                 \
	X(const char *, json_string_value, (const json_t *s), (s), NULL)                           \
	X(size_t, json_array_size, (const json_t *a), (a), 0)                                      \
	X(json_t *, json_array_get, (const json_t *a, size_t i), (a, i), NULL)                     \
	X(int, json_array_append_new, (json_t *a, json_t *v), (a, v), -1)                          \
	X(int, json_array_remove, (json_t *a, size_t i), (a, i), -1)                               \
	X(json_t *, json_object_get, (const json_t *o, const char *k), (o, k), NULL)               \
	X(int, json_object_set_new, (json_t *o, const char *k, json_t *v), (o, k, v), -1)          \
	X(int, json_object_set_new_nocheck, (json_t *o, const char *k, json_t *v), (o, k, v), -1)  \
	X(char *, json_dumps, (const json_t *j, size_t flags), (j, flags), NULL)                   \
	X(int, json_dump_callback, (const json_t *j, json_dump_callback_t cb, void *d, size_t f), \
	  (j, cb, d, f), -1)

#define ZLIB_FNS(X)                                                                                \
	X(int, deflateInit2_,                                                                      \
	  (z_streamp s, int level, int method, int bits, int mem, int strategy, const char *ver,   \
	   int size),                                                                              \
	  (s, level, method, bits, mem, strategy, ver, size), Z_STREAM_ERROR)                      \
	X(int, deflate, (z_streamp s, int flush), (s, flush), Z_STREAM_ERROR)                      \
	X(int, deflateEnd, (z_streamp s), (s), Z_STREAM_ERROR)                                     \
	X(uLong, deflateBound, (z_streamp s, uLong n), (s, n), 0)

struct sym {
	const char *name;
	void **slot;
};

struct lib {
	const char *soname;
	const struct sym *syms; /* looked up at the load; the others at their first call */
	size_t nsyms;
	void (*after)(void); /* once loaded, before the first call */
	int state;	     /* 0 not yet, 1 loaded, -1 failed (atomic) */
	void *handle;
	int missing;	     /* a function was not found (said once) */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

#define PTR(ret, name, params, args, fail) static __typeof__(&name) p_##name;
JANSSON_FNS(PTR)
ZLIB_FNS(PTR)
static __typeof__(&json_delete) p_json_delete;
static __typeof__(&json_object_seed) p_json_object_seed;
static __typeof__(&json_set_alloc_funcs) p_json_set_alloc_funcs;
static __typeof__(&json_get_alloc_funcs) p_json_get_alloc_funcs;

static const struct sym jansson_syms[] = {
	{"json_delete", (void **)&p_json_delete},
	{"json_object_seed", (void **)&p_json_object_seed},
	{"json_set_alloc_funcs", (void **)&p_json_set_alloc_funcs},
	{"json_get_alloc_funcs", (void **)&p_json_get_alloc_funcs},
};

static size_t seed; /* json_object_seed's, until jansson is loaded */

static void *arena_malloc(size_t n);
static void arena_free(void *p);
static int arena_on; /* our allocator is jansson's (atomic) */

static void seed_jansson(void)
{
	json_malloc_t mf;
	json_free_t ff;

	/* jansson otherwise seeds its hash from /dev/urandom: an open and a
	 * read in the middle of the export */
	if (seed)
		p_json_object_seed(seed);
	/* the arena's allocator, unless the program (sharing this jansson)
	 * chose its own: ours hands everything outside an arena to malloc and
	 * free, as jansson's default does */
	p_json_get_alloc_funcs(&mf, &ff);
	if (mf == malloc && ff == free) {
		p_json_set_alloc_funcs(arena_malloc, arena_free);
		__atomic_store_n(&arena_on, 1, __ATOMIC_RELEASE);
	}
}

static struct lib jansson = {.soname = "libjansson.so.4",
			     .syms = jansson_syms,
			     .nsyms = sizeof(jansson_syms) / sizeof(jansson_syms[0]),
			     .after = seed_jansson};
static struct lib zlib = {.soname = "libz.so.1"};

static int open_lib(struct lib *l)
{
	int st = __atomic_load_n(&l->state, __ATOMIC_ACQUIRE);
	void *h;

	if (st)
		return st > 0 ? 0 : -1;
	pthread_mutex_lock(&lock);
	st = __atomic_load_n(&l->state, __ATOMIC_ACQUIRE);
	if (!st) {
		shim_tls.internal++; /* the loader's allocations are ours */
		/* lazily bound: of its imports only those our calls reach get
		 * looked up */
		h = dlopen(l->soname, RTLD_LAZY | RTLD_LOCAL);
		l->handle = h;
		st = h ? 1 : -1;
		for (size_t i = 0; h && i < l->nsyms; i++)
			if (!(*l->syms[i].slot = dlsym(h, l->syms[i].name)))
				st = -1;
		if (st > 0 && l->after)
			l->after();
		else if (st < 0)
			shim_err("cannot load %s (%s): the outputs that need it are not written",
				 l->soname, h ? "a function is missing" : "not found");
		shim_tls.internal--;
		__atomic_store_n(&l->state, st, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&lock);
	return st > 0 ? 0 : -1;
}

int shim_libs_jansson(void)
{
	return open_lib(&jansson);
}

int shim_libs_zlib(void)
{
	return open_lib(&zlib);
}

/* ---- the jansson arena ---- */

static __thread struct shim_json_arena *cur; /* this thread's open arena */
static char first_block[SHIM_ARENA_FIRST] __attribute__((aligned(16)));
static int first_busy; /* an arena holds first_block (atomic) */

/* A block of at least n more bytes, or -1: the arena is at its cap. */
static int arena_grow(struct shim_json_arena *a, size_t n)
{
	size_t size = (size_t)SHIM_ARENA_FIRST << (a->nblocks + 1);
	char *b;

	if (a->nblocks == SHIM_ARENA_BLOCKS)
		return -1;
	if (size < n)
		size = n;
	if (!(b = malloc(size)))
		return -1;
	a->base[a->nblocks] = b;
	a->size[a->nblocks++] = size;
	a->next = b;
	a->limit = b + size;
	return 0;
}

static void *arena_malloc(size_t n)
{
	struct shim_json_arena *a = cur;
	char *p;

	if (!a)
		return malloc(n);
	n = n <= SIZE_MAX - 15 ? (n + 15) & ~(size_t)15 : SIZE_MAX; /* malloc's alignment */
	if ((size_t)(a->limit - a->next) < n && arena_grow(a, n) != 0) {
		a->spilled = 1;
		return malloc(n);
	}
	p = a->next;
	a->next += n;
	return p;
}

static void arena_free(void *p)
{
	const struct shim_json_arena *a = cur;

	for (size_t i = a ? a->nblocks : 0; i-- > 0;)
		if ((char *)p >= a->base[i] && (char *)p < a->base[i] + a->size[i])
			return; /* freed with the arena */
	free(p);
}

void shim_libs_json_arena_begin(struct shim_json_arena *a)
{
	json_malloc_t mf;
	json_free_t ff;

	memset(a, 0, sizeof(*a));
	a->off = 1;
	if (cur || shim_libs_jansson() != 0 || !__atomic_load_n(&arena_on, __ATOMIC_ACQUIRE))
		return;
	p_json_get_alloc_funcs(&mf, &ff);
	if (mf != arena_malloc || ff != arena_free)
		return; /* the program has set its own since */
	a->off = 0;
	if (!__atomic_exchange_n(&first_busy, 1, __ATOMIC_ACQUIRE)) {
		a->base[0] = a->next = first_block;
		a->size[0] = sizeof(first_block);
		a->limit = first_block + sizeof(first_block);
		a->nblocks = 1;
		a->first = 1;
	}
	cur = a;
}

int shim_libs_json_arena_whole(const struct shim_json_arena *a)
{
	return !a->off && !a->spilled;
}

void shim_libs_json_arena_end(struct shim_json_arena *a)
{
	if (a->off)
		return;
	cur = NULL;
	for (size_t i = a->first; i < a->nblocks; i++)
		free(a->base[i]);
	if (a->first)
		__atomic_store_n(&first_busy, 0, __ATOMIC_RELEASE);
	a->nblocks = 0;
	a->off = 1;
}

void shim_libs_fork_child(void)
{
	pthread_mutex_init(&lock, NULL);
	/* an arena another thread had open is not the child's */
	__atomic_store_n(&first_busy, 0, __ATOMIC_RELAXED);
}

static inline int ready(struct lib *l)
{
	return __builtin_expect(__atomic_load_n(&l->state, __ATOMIC_ACQUIRE) > 0, 1) ||
	       open_lib(l) == 0;
}

/* The function name of l, looked up at its first call (a short process
 * calls a dozen of the list): NULL when l cannot be loaded or lacks it (said
 * once). */
static void *lazy(struct lib *l, void **slot, const char *name)
{
	void *p = __atomic_load_n(slot, __ATOMIC_ACQUIRE);

	if (__builtin_expect(p != NULL, 1) || !ready(l))
		return p;
	shim_tls.internal++;
	p = dlsym(l->handle, name);
	shim_tls.internal--;
	if (p)
		__atomic_store_n(slot, p, __ATOMIC_RELEASE);
	else if (!__atomic_exchange_n(&l->missing, 1, __ATOMIC_RELAXED))
		shim_err("%s has no %s: the outputs that need it are not written", l->soname,
			 name);
	return p;
}

#define FWD(lib, ret, name, params, args, fail)                                                    \
	ret name params                                                                            \
	{                                                                                          \
		__typeof__(&name) fwd_ = lazy(&lib, (void **)&p_##name, #name);                    \
		return fwd_ ? fwd_ args : fail;                                                    \
	}
#define JFWD(ret, name, params, args, fail) FWD(jansson, ret, name, params, args, fail)
#define ZFWD(ret, name, params, args, fail) FWD(zlib, ret, name, params, args, fail)
JANSSON_FNS(JFWD)
ZLIB_FNS(ZFWD)

void json_delete(json_t *json)
{
	if (ready(&jansson))
		p_json_delete(json);
}

/* The constructor's call: recorded, applied when jansson is loaded (never
 * loads it). */
void json_object_seed(size_t s)
{
	if (__atomic_load_n(&jansson.state, __ATOMIC_ACQUIRE) > 0)
		p_json_object_seed(s);
	else
		seed = s;
}
