/* SPDX-License-Identifier: MIT */
/* The jansson and zlib functions Shimmer calls, defined here (hidden) with
 * the libraries' own prototypes and forwarded to the library, opened with
 * dlopen(RTLD_LOCAL) by the first call: a process that never writes JSON or
 * gzip (one killed before export, or SHIMMER_FORMATS=table) never maps them,
 * and none pays their load at start. Each list below must name every such
 * function the code calls: a missing one fails the link (no -ljansson -lz,
 * -z defs). libm's three functions are computed here (the end of the file). */
#include <dlfcn.h>
#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
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
	X(const char *, json_string_value, (const json_t *s), (s), NULL)                           \
	X(size_t, json_array_size, (const json_t *a), (a), 0)                                      \
	X(json_t *, json_array_get, (const json_t *a, size_t i), (a, i), NULL)                     \
	X(int, json_array_append_new, (json_t *a, json_t *v), (a, v), -1)                          \
	X(int, json_array_remove, (json_t *a, size_t i), (a, i), -1)                               \
	X(json_t *, json_object_get, (const json_t *o, const char *k), (o, k), NULL)               \
	X(int, json_object_set_new, (json_t *o, const char *k, json_t *v), (o, k, v), -1)          \
	X(char *, json_dumps, (const json_t *j, size_t flags), (j, flags), NULL)

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
	const struct sym *syms;
	size_t nsyms;
	void (*after)(void); /* once loaded, before the first call */
	int state;	     /* 0 not yet, 1 loaded, -1 failed (atomic) */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

#define PTR(ret, name, params, args, fail) static __typeof__(&name) p_##name;
#define SYM(ret, name, params, args, fail) {#name, (void **)&p_##name},
JANSSON_FNS(PTR)
ZLIB_FNS(PTR)
static __typeof__(&json_delete) p_json_delete;
static __typeof__(&json_vpack_ex) p_json_vpack_ex;
static __typeof__(&json_object_seed) p_json_object_seed;

static const struct sym jansson_syms[] = {
	JANSSON_FNS(SYM){"json_delete", (void **)&p_json_delete},
	{"json_vpack_ex", (void **)&p_json_vpack_ex},
	{"json_object_seed", (void **)&p_json_object_seed},
};
static const struct sym zlib_syms[] = {ZLIB_FNS(SYM)};

static size_t seed; /* json_object_seed's, until jansson is loaded */

static void seed_jansson(void)
{
	/* jansson otherwise seeds its hash from /dev/urandom: an open and a
	 * read in the middle of the export */
	if (seed)
		p_json_object_seed(seed);
}

static struct lib jansson = {"libjansson.so.4", jansson_syms,
			     sizeof(jansson_syms) / sizeof(jansson_syms[0]), seed_jansson, 0};
static struct lib zlib = {"libz.so.1", zlib_syms, sizeof(zlib_syms) / sizeof(zlib_syms[0]), NULL,
			  0};

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
		h = dlopen(l->soname, RTLD_NOW | RTLD_LOCAL);
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

void shim_libs_fork_child(void)
{
	pthread_mutex_init(&lock, NULL);
}

static inline int ready(struct lib *l)
{
	return __builtin_expect(__atomic_load_n(&l->state, __ATOMIC_ACQUIRE) > 0, 1) ||
	       open_lib(l) == 0;
}

#define JFWD(ret, name, params, args, fail)                                                        \
	ret name params                                                                            \
	{                                                                                          \
		return ready(&jansson) ? p_##name args : fail;                                     \
	}
#define ZFWD(ret, name, params, args, fail)                                                        \
	ret name params                                                                            \
	{                                                                                          \
		return ready(&zlib) ? p_##name args : fail;                                        \
	}
JANSSON_FNS(JFWD)
ZLIB_FNS(ZFWD)

void json_delete(json_t *json)
{
	if (ready(&jansson))
		p_json_delete(json);
}

json_t *json_pack(const char *fmt, ...)
{
	va_list ap;
	json_t *r;

	if (!ready(&jansson))
		return NULL;
	va_start(ap, fmt);
	r = p_json_vpack_ex(NULL, 0, fmt, ap); /* what jansson's json_pack is */
	va_end(ap);
	return r;
}

json_t *json_vpack_ex(json_error_t *error, size_t flags, const char *fmt, va_list ap)
{
	return ready(&jansson) ? p_json_vpack_ex(error, flags, fmt, ap) : NULL;
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
