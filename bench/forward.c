/* SPDX-License-Identifier: MIT */
/* The floor for bench/run.py: a preload that forwards the hooked calls the
 * workloads make to the next definition (dlsym(RTLD_NEXT)) and does nothing
 * else. What it costs is the price of interposition itself; what libshimmer
 * adds on top is the price of counting and timing.
 * Built with -DTIMED (forward_timed.so), each file and socket call also reads
 * the TSC before and after and adds the difference and a call to this
 * thread's totals: the least any tool pays that times every call exactly
 * here, so what libshimmer adds on top of that is its own bookkeeping. */
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>
#if defined(TIMED)
#include <stdint.h>
#include <time.h>
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define TICKS() __rdtsc()
#else
/* no TSC to read: the clock Shimmer falls back to */
static inline uint64_t TICKS(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
#endif
#endif

#define EXPORT __attribute__((visibility("default")))

#if defined(TIMED)
static __thread uint64_t ticks, calls __attribute__((tls_model("initial-exec")));
/* the call's result, with its ticks and a call added to this thread's totals */
#define TIMED_CALL(call)                                                                           \
	({                                                                                         \
		uint64_t t0_ = TICKS();                                                            \
		__typeof__(call) r_ = (call);                                                      \
		ticks += TICKS() - t0_;                                                            \
		calls++;                                                                           \
		r_;                                                                                \
	})
#else
#define TIMED_CALL(call) (call)
#endif

/* dlsym callocs while resolving calloc: serve that from a static buffer. */
static _Alignas(16) unsigned char boot[65536];
static size_t boot_used;
static __thread int resolving __attribute__((tls_model("initial-exec")));

static void *next(const char *name)
{
	void *p;
	resolving++;
	p = dlsym(RTLD_NEXT, name);
	resolving--;
	return p;
}

#define REAL(name)                                                                                 \
	static __typeof__(&name) real_##name;                                                      \
	if (__builtin_expect(!real_##name, 0))                                                     \
	real_##name = (__typeof__(real_##name))next(#name)

static void *boot_alloc(size_t n)
{
	size_t at = __atomic_fetch_add(&boot_used, (n + 15) & ~(size_t)15, __ATOMIC_RELAXED);
	return at + n <= sizeof(boot) ? boot + at : NULL;
}

static int in_boot(const void *p)
{
	return (const unsigned char *)p >= boot && (const unsigned char *)p < boot + sizeof(boot);
}

EXPORT void *malloc(size_t n)
{
	if (resolving)
		return boot_alloc(n);
	REAL(malloc);
	return real_malloc(n);
}

EXPORT void *calloc(size_t n, size_t m)
{
	if (resolving)
		return boot_alloc(n * m);
	REAL(calloc);
	return real_calloc(n, m);
}

EXPORT void *realloc(void *p, size_t n)
{
	REAL(realloc);
	return real_realloc(p, n);
}

EXPORT void free(void *p)
{
	if (in_boot(p))
		return;
	REAL(free);
	real_free(p);
}

EXPORT ssize_t write(int fd, const void *b, size_t n)
{
	REAL(write);
	return TIMED_CALL(real_write(fd, b, n));
}

EXPORT ssize_t read(int fd, void *b, size_t n)
{
	REAL(read);
	return TIMED_CALL(real_read(fd, b, n));
}

EXPORT int open(const char *path, int flags, ...)
{
	mode_t mode = 0;
	if (flags & O_CREAT) {
		va_list ap;
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	REAL(open);
	return TIMED_CALL(real_open(path, flags, mode));
}

EXPORT int close(int fd)
{
	REAL(close);
	return TIMED_CALL(real_close(fd));
}

EXPORT int stat(const char *path, struct stat *st)
{
	REAL(stat);
	return TIMED_CALL(real_stat(path, st));
}

EXPORT off_t lseek(int fd, off_t off, int whence)
{
	REAL(lseek);
	return TIMED_CALL(real_lseek(fd, off, whence));
}

EXPORT ssize_t send(int fd, const void *b, size_t n, int flags)
{
	REAL(send);
	return TIMED_CALL(real_send(fd, b, n, flags));
}

EXPORT ssize_t recv(int fd, void *b, size_t n, int flags)
{
	REAL(recv);
	return TIMED_CALL(real_recv(fd, b, n, flags));
}
