/* SPDX-License-Identifier: MIT */
/* Process family: fork, vfork, the exec family, posix_spawn, pthread_create and
 * _exit/_Exit. An exec or _exit ends this image, so its outputs are written
 * first through shim_finish (and again if the exec fails). vfork is an x86_64
 * trampoline that counts, then tail-jumps to libc's vfork; a vfork child shares
 * our memory, so every hook here only passes through in it. The hooks
 * themselves never format, allocate or lock. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../shim/config.h"
#include "../shim/init.h"
#include "../shim/otlp.h"
#include "../shim/profiler.h"
#include "../shim/span.h"
#include "hook.h"

extern int __libc_start_main(int (*main)(int, char **, char **), int argc, char **argv,
			     void (*init)(void), void (*fini)(void), void (*rtld_fini)(void),
			     void *stack_end);

SHIM_REAL_DECL(fork);
#if defined(__x86_64__)
SHIM_REAL_DECL(vfork);
#endif
SHIM_REAL_DECL(execve);
SHIM_REAL_DECL(execvpe);
SHIM_REAL_DECL(posix_spawn);
SHIM_REAL_DECL(posix_spawnp);
SHIM_REAL_DECL(pthread_create);
SHIM_REAL_DECL(_exit);
SHIM_REAL_DECL(_Exit);
SHIM_REAL_DECL(__libc_start_main);

/*
 * The child's environment: a copy (never the caller's array or environ) with
 * TRACEPARENT of our current span, the TRACESTATE we got, and LD_PRELOAD plus
 * the SHIMMER_* and OTEL_* settings put back when the program dropped them
 * (SHIMMER_FOLLOW_EXEC=0: not those). The copy is an array of pointers on the
 * caller's stack (ENV_COPY), the strings are the caller's, ours from the
 * initial environment, and one TRACEPARENT buffer on the stack: no malloc, no
 * static buffer, so a vfork child writes nothing of its parent's.
 */
#define ENV_EXTRA 72 /* ours: TRACEPARENT, TRACESTATE and the kept settings */

static size_t env_count(char *const *env)
{
	size_t n = 0;
	while (env && env[n])
		n++;
	return n;
}

static int has_name(char *const *env, const char *var)
{
	size_t len = strcspn(var, "=") + 1;
	for (; env && *env; env++)
		if (strncmp(*env, var, len) == 0)
			return 1;
	return 0;
}

/* Fill out (room for n + ENV_EXTRA + 1) from env; tp is a 72-byte buffer for
 * "TRACEPARENT=...". Returns out, or env unchanged when tracing is off. */
static char *const *child_env(char *const *env, char **out, char *tp)
{
	const char *const *keep = shim_span_keep_env();
	const char *ts = shim_span_tracestate();
	size_t k = 0, extra = 0;
	int put_tp;

	if (!shim_active && !shim_span_on)
		return env;
	memcpy(tp, "TRACEPARENT=", 12);
	put_tp = !shim_config.otel.disabled && shim_span_traceparent(tp + 12, 60) > 0;
	for (char *const *e = env; e && *e; e++) {
		if (put_tp && (strncmp(*e, "TRACEPARENT=", 12) == 0 ||
			       (ts[0] && strncmp(*e, "TRACESTATE=", 11) == 0)))
			continue; /* ours replace the program's copies of what it inherited */
		out[k++] = *e;
	}
	if (put_tp) {
		out[k++] = tp;
		extra++;
	}
	for (; keep && *keep && extra < ENV_EXTRA; keep++) {
		int is_ts = strncmp(*keep, "TRACESTATE=", 11) == 0;
		if ((is_ts && !put_tp) || (!is_ts && !shim_config.follow_exec) ||
		    (!is_ts && has_name(env, *keep)))
			continue;
		out[k++] = (char *)*keep;
		extra++;
	}
	out[k] = NULL;
	return out;
}

/* Declare the copy for env on this stack frame and point `use` at it. */
#define ENV_COPY(env, use)                                                                         	char *env_copy_[env_count(env) + ENV_EXTRA + 1];                                           	char env_tp_[72];                                                                          	char *const *use = child_env((env), env_copy_, env_tp_)

/* A child is about to start: the OTLP relay listens for its spans from now
 * (shim/otlp.h). Not in a vfork child, whose memory is its parent's. */
static void child_coming(void)
{
	if (!shim_pid_foreign_fast())
		shim_otlp_relay_expect_child();
}

/* The fork is counted once, in the parent: the child's table starts empty at
 * the fork (the pthread_atfork child handler in shim/init.c resets it) and
 * holds only what the child itself calls from there on. */
SHIM_EXPORT pid_t fork(void)
{
	pid_t r;
	int e;

	child_coming();
	HOOK_PRE(fork, SHIM_FAM(PROC), -1, ());
	r = real_fork();
	e = errno;
	if (r != 0)
		HOOK_REC(fork, -1, r < 0 ? e : 0, -1);
	HOOK_RETURN(r, e);
}

/*
 * vfork. The child borrows the parent's stack and memory until it execs or
 * exits, so a C wrapper cannot call vfork and return: the child's return would
 * pop the wrapper's frame from under the suspended parent. On x86_64 the
 * exported vfork is a trampoline: it calls shim_proc_vfork_prepare (count,
 * resolve), whose return leaves the stack exactly as at entry, then jumps to
 * libc's vfork, which returns straight into our caller in both processes. The
 * call is counted before it is made: its time is not measured and a failure
 * is not seen. Elsewhere vfork is served by the real fork (a valid vfork).
 */
#if defined(__x86_64__)
#ifdef __CET__
#define VFORK_ENDBR "endbr64\n\t"
#else
#define VFORK_ENDBR ""
#endif
__asm__(".pushsection .text\n\t"
	".globl vfork\n\t"
	".type vfork, @function\n\t"
	".p2align 4\n"
	"vfork:\n\t"
	".cfi_startproc\n\t" VFORK_ENDBR
	"movq (%rsp), %rdi\n\t" /* our caller, for attribution */
	"subq $8, %rsp\n\t"	/* align the stack for the call */
	".cfi_adjust_cfa_offset 8\n\t"
	"call shim_proc_vfork_prepare\n\t"
	"addq $8, %rsp\n\t"
	".cfi_adjust_cfa_offset -8\n\t"
	"testq %rax, %rax\n\t"
	"jz 1f\n\t"
	"jmp *%rax\n"
	"1:\n\t"
	"movl $-1, %eax\n\t" /* no real vfork: errno is ENOSYS */
	"ret\n\t"
	".cfi_endproc\n\t"
	".size vfork, .-vfork\n\t"
	".popsection");

/* Called by the vfork trampoline with the caller's return address: count the
 * call and return libc's vfork, or NULL with errno = ENOSYS when it cannot be
 * found. Leaves errno untouched otherwise. Async-signal-safe: yes.
 * Allocates: no (a slot mmap on the thread's first call). */
__attribute__((used, visibility("hidden"))) void *shim_proc_vfork_prepare(const void *pc)
{
	int e = errno;

	if (!SHIM_RESOLVE(vfork)) {
		errno = ENOSYS;
		return NULL;
	}
	child_coming();
	if (!shim_pid_foreign() && shim_enter(SHIM_FAM(PROC))) {
		shim_rec_call(SHIM_FN_vfork, pc, shim_clock_now(), -1, 0, -1);
		shim_leave();
	}
	/* from here until the parent is back, a hook in this thread's memory may
	 * be the child's: shim_pid_foreign_fast asks the kernel until then */
	shim_tls.vforked = 1;
	errno = e;
	return (void *)real_vfork;
}
#else
SHIM_EXPORT pid_t vfork(void)
{
	pid_t r;
	int e;

	child_coming();
	HOOK_PRE(fork, SHIM_FAM(PROC), -1, ());
	r = real_fork();
	e = errno;
	if (r != 0)
		HOOK_REC(vfork, -1, r < 0 ? e : 0, -1);
	HOOK_RETURN(r, e);
}
#endif

/* Whether an exec or _exit may write the outputs now. Not while Shimmer itself
 * runs, and not when the thread was inside another hooked call (held_guard 0
 * and in_io set): libc never reaches our exec/_exit from inside itself, so a
 * signal handler interrupted that call, and writing (malloc, stdio formatting)
 * from there could deadlock. That image then leaves no outputs. */
static int may_flush(int held_guard)
{
	return !shim_tls.internal && (held_guard || !shim_tls.in_io);
}

/* One exec call in flight: whether it was counted and the image flushed. */
struct exec_call {
	unsigned fn;
	const void *pc;
	int counted, flushed;
	uint64_t t0;
};

/* Before the real exec: count the call (so it is in this image's table), then
 * write this image's outputs, since a successful exec never comes back. In a
 * vfork child nothing is touched: its memory is the parent's. */
static void exec_begin(struct exec_call *x, unsigned fn, const void *pc)
{
	x->fn = fn;
	x->pc = pc;
	x->counted = x->flushed = 0;
	if (shim_pid_foreign())
		return;
	if (shim_enter(SHIM_FAM(PROC))) {
		shim_rec_call(fn, pc, shim_clock_now(), -1, 0, -1);
		x->counted = 1;
	}
	if (may_flush(x->counted)) {
		shim_finish_by(1);
		x->flushed = 1;
	}
	x->t0 = shim_clock_now();
}

/* The exec failed with err: the call already counted becomes a failed one
 * (its time is the real call's), and the image will write again at its end. */
static void exec_failed(const struct exec_call *x, int err)
{
	if (x->counted) {
		struct shim_thread *t = shim_thread_self();
		uint64_t dt = shim_clock_now() - x->t0;
		if (t) {
			struct shim_site *s = shim_site_get(t, x->fn, x->pc);
			struct shim_errstat *es = err ? shim_err_get(t, x->fn, err) : NULL;
			/* the call is in its site, or in fn's own totals without
			 * one (shim/thread.h: fn_full) */
			struct shim_stat *st = s ? &s->st : &t->fn[x->fn];
			st->errors++;
			st->ticks += dt;
			if (es)
				es->count++;
			else if (err)
				t->errs_dropped++;
		}
		shim_leave();
	}
	if (x->flushed)
		shim_finish_rearm();
}

/* The body of every exec hook: `call` is the real exec expression. */
#define EXEC_BODY(fn, call)                                                                        \
	do {                                                                                       \
		struct exec_call x;                                                                \
		int r, e;                                                                          \
		exec_begin(&x, SHIM_FN_##fn, SHIM_CALLER());                                       \
		r = (call);                                                                        \
		e = errno;                                                                         \
		exec_failed(&x, e);                                                                \
		errno = e;                                                                         \
		return r;                                                                          \
	} while (0)

/* A missing real function: the documented failure, nothing flushed. */
#define EXEC_RESOLVE(name)                                                                         \
	do {                                                                                       \
		if (!SHIM_RESOLVE(name)) {                                                         \
			errno = ENOSYS;                                                            \
			return -1;                                                                 \
		}                                                                                  \
	} while (0)

/* Every exec runs with the copied environment: the ones without an envp
 * (execv, execvp, execl, execlp) through execve/execvpe with environ's copy. */
SHIM_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	EXEC_RESOLVE(execve);
	ENV_COPY(envp, env);
	EXEC_BODY(execve, real_execve(path, argv, env));
}

SHIM_EXPORT int execv(const char *path, char *const argv[])
{
	EXEC_RESOLVE(execve);
	ENV_COPY(environ, env);
	EXEC_BODY(execv, real_execve(path, argv, env));
}

SHIM_EXPORT int execvp(const char *file, char *const argv[])
{
	EXEC_RESOLVE(execvpe);
	ENV_COPY(environ, env);
	EXEC_BODY(execvp, real_execvpe(file, argv, env));
}

SHIM_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	EXEC_RESOLVE(execvpe);
	ENV_COPY(envp, env);
	EXEC_BODY(execvpe, real_execvpe(file, argv, env));
}

/*
 * execl, execlp, execle: the list becomes an argv array on our stack, exactly
 * as glibc's own execl builds it (a VLA of argc + 1 pointers; more than
 * INT_MAX arguments is E2BIG), so the stack used is what glibc would use.
 * Then the real execv/execvp/execve runs it: our own hooks are not re-entered.
 */
#define ARGV_COUNT(ap, first, argc)                                                                \
	do {                                                                                       \
		va_start(ap, first);                                                               \
		for (argc = 1; va_arg(ap, const char *); argc++) {                                 \
			if (argc == INT_MAX) {                                                     \
				va_end(ap);                                                        \
				errno = E2BIG;                                                     \
				return -1;                                                         \
			}                                                                          \
		}                                                                                  \
		va_end(ap);                                                                        \
	} while (0)

/* Fill argv[0..argc] (argv[argc] is the list's NULL); ap stays open after it. */
#define ARGV_FILL(ap, first, argc, argv)                                                           \
	do {                                                                                       \
		va_start(ap, first);                                                               \
		argv[0] = (char *)(first);                                                         \
		for (ptrdiff_t i = 1; i <= argc; i++)                                              \
			argv[i] = va_arg(ap, char *);                                              \
	} while (0)

SHIM_EXPORT int execl(const char *path, const char *arg, ...)
{
	ptrdiff_t argc;
	va_list ap;

	EXEC_RESOLVE(execve);
	ARGV_COUNT(ap, arg, argc);
	{
		char *argv[argc + 1];
		ARGV_FILL(ap, arg, argc, argv);
		va_end(ap);
		ENV_COPY(environ, env);
		EXEC_BODY(execl, real_execve(path, argv, env));
	}
}

SHIM_EXPORT int execlp(const char *file, const char *arg, ...)
{
	ptrdiff_t argc;
	va_list ap;

	EXEC_RESOLVE(execvpe);
	ARGV_COUNT(ap, arg, argc);
	{
		char *argv[argc + 1];
		ARGV_FILL(ap, arg, argc, argv);
		va_end(ap);
		ENV_COPY(environ, env);
		EXEC_BODY(execlp, real_execvpe(file, argv, env));
	}
}

SHIM_EXPORT int execle(const char *path, const char *arg, ...)
{
	ptrdiff_t argc;
	char *const *envp;
	va_list ap;

	EXEC_RESOLVE(execve);
	ARGV_COUNT(ap, arg, argc);
	{
		char *argv[argc + 1];
		ARGV_FILL(ap, arg, argc, argv);
		envp = va_arg(ap, char *const *); /* execle: the environment follows the NULL */
		va_end(ap);
		{
			ENV_COPY(envp, env);
			EXEC_BODY(execle, real_execve(path, argv, env));
		}
	}
}

/* posix_spawn returns an error number, not -1/errno. The child execs with a
 * copy of the environment it is given, with our context and settings added
 * (child_env); the caller's array is never touched. */
#define RESTART_CLOCK() (hook_t0 = shim_clock_now())

SHIM_EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
			    const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	int r, e;

	child_coming();
	HOOK_PRE(posix_spawn, SHIM_FAM(PROC), ENOSYS, (pid, path, fa, attr, argv, envp));
	{
		ENV_COPY(envp, env);
		RESTART_CLOCK();
		r = real_posix_spawn(pid, path, fa, attr, argv, envp ? env : envp);
	}
	e = errno;
	HOOK_REC(posix_spawn, -1, r, -1);
	HOOK_RETURN(r, e);
}

SHIM_EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
			     const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
	int r, e;

	child_coming();
	HOOK_PRE(posix_spawnp, SHIM_FAM(PROC), ENOSYS, (pid, file, fa, attr, argv, envp));
	{
		ENV_COPY(envp, env);
		RESTART_CLOCK();
		r = real_posix_spawnp(pid, file, fa, attr, argv, envp ? env : envp);
	}
	e = errno;
	HOOK_REC(posix_spawnp, -1, r, -1);
	HOOK_RETURN(r, e);
}

/* Threads Shimmer's own code starts (libcurl's resolver threads under the
 * exporter) run with shim_tls.internal set for their whole life, so none of
 * their calls shows up in a statistic or a span. A fixed pool of start
 * records: no malloc; when it is empty the thread starts unmarked. */
#define INTERNAL_STARTS 32
static struct internal_start {
	void *(*start)(void *);
	void *arg;
	int used;
} istarts[INTERNAL_STARTS];

static void *internal_thread(void *p)
{
	struct internal_start *is = p;
	void *(*start)(void *) = is->start;
	void *arg = is->arg;

	__atomic_store_n(&is->used, 0, __ATOMIC_RELEASE);
	shim_internal_forever();
	return start(arg);
}

static struct internal_start *internal_claim(void *(*start)(void *), void *arg)
{
	for (int i = 0; i < INTERNAL_STARTS; i++) {
		int expect = 0;
		if (__atomic_compare_exchange_n(&istarts[i].used, &expect, 1, 0, __ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED)) {
			istarts[i].start = start;
			istarts[i].arg = arg;
			return &istarts[i];
		}
	}
	return NULL;
}

/* Start an internal thread: pthread_create's result, or -1 when the pool is
 * empty (the thread then starts the ordinary way). */
static int internal_create(pthread_t *th, const pthread_attr_t *attr, void *(*start)(void *),
			   void *arg)
{
	struct internal_start *is;
	int r;

	if (!SHIM_RESOLVE(pthread_create) || !(is = internal_claim(start, arg)))
		return -1;
	r = real_pthread_create(th, attr, internal_thread, is);
	if (r)
		__atomic_store_n(&is->used, 0, __ATOMIC_RELEASE);
	return r;
}

/* The new thread needs nothing from us now: it attaches its own slot on its
 * first hooked call. pthread_create returns an error number. */
SHIM_EXPORT int pthread_create(pthread_t *th, const pthread_attr_t *attr, void *(*start)(void *),
			       void *arg)
{
	void *wrap;
	int r, e;

	if (shim_tls.internal && (r = internal_create(th, attr, start, arg)) >= 0)
		return r;
	/* the new thread arms its own sampling timer before the program's routine */
	wrap = shim_profiler_wrap(&start, &arg);

	HOOK_PRE(pthread_create, SHIM_FAM(PROC), ENOSYS, (th, attr, start, arg));
	r = real_pthread_create(th, attr, start, arg);
	e = errno;
	if (r != 0)
		shim_profiler_unwrap(wrap);
	HOOK_REC(pthread_create, -1, r, -1);
	HOOK_RETURN(r, e);
}

/* _exit skips atexit and our destructor: count it, write the outputs, go. In
 * a vfork child (the parent's memory) only the real call is made; from a
 * signal handler that interrupted a hooked call, nothing is written. */
static void exit_begin(unsigned fn, const void *pc, int status)
{
	int entered;

	if (shim_pid_foreign())
		return;
	shim_span_exit_code(status);
	entered = shim_enter(SHIM_FAM(PROC));
	if (entered) {
		shim_rec_call(fn, pc, shim_clock_now(), -1, 0, -1);
		shim_leave();
	}
	if (may_flush(entered))
		shim_finish();
}

SHIM_EXPORT void _exit(int status)
{
	exit_begin(SHIM_FN__exit, SHIM_CALLER(), status);
	if (SHIM_RESOLVE(_exit))
		real__exit(status);
	for (;;)
		syscall(SYS_exit_group, status);
}

SHIM_EXPORT void _Exit(int status)
{
	exit_begin(SHIM_FN__Exit, SHIM_CALLER(), status);
	if (SHIM_RESOLVE(_Exit))
		real__Exit(status);
	for (;;)
		syscall(SYS_exit_group, status);
}

/*
 * The exit status of a normal exit reaches only on_exit handlers. One
 * registered in our constructor would run after the libraries' destructors
 * (ld.so's own exit handler is registered later, by __libc_start_main), so it
 * is registered here instead, just before the program's main: it then runs
 * before our destructor, which writes the root span with the status. main_wrap
 * ends in a tail call, so no frame of ours sits under main in any stack.
 */
static int (*prog_main)(int, char **, char **);

static void exit_status(int status, void *arg)
{
	(void)arg;
	if (!shim_pid_foreign())
		shim_span_exit_code(status);
}

static int main_wrap(int argc, char **argv, char **envp)
{
	shim_internal_enter();
	on_exit(exit_status, NULL);
	shim_internal_leave();
	return prog_main(argc, argv, envp);
}

SHIM_EXPORT int __libc_start_main(int (*main)(int, char **, char **), int argc, char **argv,
				  void (*init)(void), void (*fini)(void), void (*rtld_fini)(void),
				  void *stack_end)
{
	if (!SHIM_RESOLVE(__libc_start_main))
		for (;;)
			syscall(SYS_exit_group, 127);
	prog_main = main;
	return real___libc_start_main(main_wrap, argc, argv, init, fini, rtld_fini, stack_end);
}
