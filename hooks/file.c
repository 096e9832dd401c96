/* SPDX-License-Identifier: MIT */
/* File family: the fd-level entry points, their fortified (_chk/_2) twins and
 * the fd table upkeep (open, dup, fcntl, pipe, close). Records only; never
 * formats. Path-only calls (stat, access, unlink...) are counted per function
 * and caller but not per resource; the fd table is touched by raw syscalls only. */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h> /* rename, renameat */
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include "../shim/span.h"
#include "../shim/worker.h"
#include "hook.h"

/* The fortified entry points are declared only under _FORTIFY_SOURCE. */
extern int __open_2(const char *path, int flags);
extern int __open64_2(const char *path, int flags);
extern int __openat_2(int dirfd, const char *path, int flags);
extern int __openat64_2(int dirfd, const char *path, int flags);
extern ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen);
extern ssize_t __pread_chk(int fd, void *buf, size_t n, off_t off, size_t buflen);
extern ssize_t __pread64_chk(int fd, void *buf, size_t n, off64_t off, size_t buflen);

/* open's mode is there only with O_CREAT or O_TMPFILE */
static inline int needs_mode(int flags)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
}

/* The fd a *at() call really works on: dirfd itself with AT_EMPTY_PATH and "". */
static inline int at_fd(int dirfd, const char *path, int flags)
{
	return (flags & AT_EMPTY_PATH) && path && !path[0] ? dirfd : -1;
}

/* sendfile and copy_file_range move bytes from one fd into another in one
 * call: the call is recorded against the fd written, and the bytes read are
 * credited here to in_fd's resource in this thread's slot.
 * Async-signal-safe: yes. Allocates: no. */
static void note_read(int in_fd, ssize_t n)
{
	struct shim_thread *t;
	uint32_t res;

	if (n <= 0 || in_fd < 0)
		return;
	t = shim_thread_self();
	if (!t)
		return;
	res = shim_fd_res(in_fd, NULL);
	if (res >= SHIM_RES_CAP)
		return;
	t->res[res].ops++;
	t->res[res].rbytes += (uint64_t)n;
	if (res >= t->res_hi)
		t->res_hi = res + 1;
}

/* Hook shapes. Each expands to the real pointer and the exported wrapper,
 * which returns what the real call returned with errno as it left it. XFER
 * and INTFD run only the recorders after the real call, which keep errno, so
 * they read errno only when the call failed and never write it.
 * XFER: ssize_t bytes moved, -1 on failure, attributed to fd. */
#define XFER(name, fams, fd, params, args)                                                         \
	SHIM_REAL_STUB(name, ssize_t, -1, params, args);                                           \
	HOOK_TIMED_NS(name, ssize_t, fd, 0, params, args, 0)                                       \
	SHIM_EXPORT ssize_t name params                                                            \
	{                                                                                          \
		HOOK_TIMED(name, fams, fd, 0, args, 0);                                            \
	}

/* INTFD: int, -1 on failure, no bytes, attributed to fd (-1: to no resource). */
#define INTFD(name, fams, fd, params, args)                                                        \
	SHIM_REAL_STUB(name, int, -1, params, args);                                               \
	HOOK_TIMED_NS(name, int, fd, 1, params, args, 1)                                           \
	SHIM_EXPORT int name params                                                                \
	{                                                                                          \
		HOOK_TIMED(name, fams, fd, 1, args, 1);                                            \
	}

/* The opens' and close's failures: recorded with their errno, which is kept.
 * Out of line, so that a hook keeps little across its real call. */
static __attribute__((noinline, cold)) int open_failed(unsigned fn, const void *pc, uint64_t t0,
						       const char *path)
{
	int e = errno;

	shim_span_open(-1, path, t0, e);
	shim_rec_call(fn, pc, t0, -1, e, -1);
	shim_leave();
	errno = e;
	return -1;
}

/* OPEN: int fd or -1; the new fd now names `path` (the fixed-argument opens).
 * A successful open ends in one tail call (shim_rec_opened) that keeps errno;
 * a failed one in open_failed (the kernel never opens a NULL path). */
#define OPEN_CALL(name, path, args)                                                                \
	do {                                                                                       \
		uint64_t hook_t0;                                                                  \
		int hook_r;                                                                        \
		if (!SHIM_RESOLVE(name)) {                                                         \
			errno = ENOSYS;                                                            \
			return -1;                                                                 \
		}                                                                                  \
		if (!shim_enter(SHIM_FAM(FILE)))                                                   \
			return real_##name args;                                                   \
		hook_t0 = shim_clock_now();                                                        \
		hook_r = real_##name args;                                                         \
		if (__builtin_expect(hook_r >= 0, 1))                                              \
			return shim_rec_opened(SHIM_FN_##name, SHIM_CALLER(), hook_t0, hook_r,     \
					       path);                                              \
		return open_failed(SHIM_FN_##name, SHIM_CALLER(), hook_t0, path);                  \
	} while (0)

#define OPEN(name, path, params, args)                                                             \
	SHIM_REAL_DECL(name);                                                                      \
	SHIM_EXPORT int name params                                                                \
	{                                                                                          \
		OPEN_CALL(name, path, args);                                                       \
	}

/* The variadic opens read their mode only when flags say it is there. */
#define OPEN_VA(name, path, params, args)                                                          \
	SHIM_REAL_DECL(name);                                                                      \
	SHIM_EXPORT int name params                                                                \
	{                                                                                          \
		mode_t mode = 0;                                                                   \
		if (needs_mode(flags)) {                                                           \
			va_list ap;                                                                \
			va_start(ap, flags);                                                       \
			mode = va_arg(ap, mode_t);                                                 \
			va_end(ap);                                                                \
		}                                                                                  \
		OPEN_CALL(name, path, args);                                                       \
	}

/* open, open64, openat, openat64: the fd or -1; a new fd names its path as given. */
OPEN_VA(open, path, (const char *path, int flags, ...), (path, flags, mode))
OPEN_VA(open64, path, (const char *path, int flags, ...), (path, flags, mode))
OPEN_VA(openat, path, (int dirfd, const char *path, int flags, ...), (dirfd, path, flags, mode))
OPEN_VA(openat64, path, (int dirfd, const char *path, int flags, ...),
	(dirfd, path, flags, mode))

/* The fortified opens (no mode: _FORTIFY_SOURCE sends O_CREAT calls to open). */
OPEN(__open_2, path, (const char *path, int flags), (path, flags))
OPEN(__open64_2, path, (const char *path, int flags), (path, flags))
OPEN(__openat_2, path, (int dirfd, const char *path, int flags), (dirfd, path, flags))
OPEN(__openat64_2, path, (int dirfd, const char *path, int flags), (dirfd, path, flags))

/* creat, creat64: open(path, O_CREAT|O_WRONLY|O_TRUNC, mode). */
OPEN(creat, path, (const char *path, mode_t mode), (path, mode))
OPEN(creat64, path, (const char *path, mode_t mode), (path, mode))

SHIM_REAL_STUB(close, int, -1, (int fd), (fd));

static __attribute__((noinline, cold)) int close_failed(const void *pc, uint64_t t0, int fd)
{
	int e = errno;
	uint64_t t1 = shim_clock_now();

	/* record against the resource before the fd is forgotten; the fd's
	 * span ends when the call did */
	shim_rec_call_end(SHIM_FN_close, pc, t0, t1, -1, e, fd);
	if (e != EBADF) {
		shim_span_close_at(fd, t1);
		shim_fd_clear(fd);
	}
	shim_leave();
	errno = e;
	return -1;
}

/* close: 0 or -1; the fd is forgotten unless it was not open (EBADF). A
 * successful close ends in one tail call that keeps errno (shim_rec_closed). */
SHIM_EXPORT int close(int fd)
{
	uint64_t t0;

	if (!shim_enter(SHIM_FAMS_FD))
		return real_close(fd);
	t0 = shim_clock_now();
	if (__builtin_expect(real_close(fd) == 0, 1))
		return shim_rec_closed(SHIM_CALLER(), t0, fd);
	return close_failed(SHIM_CALLER(), t0, fd);
}

/* Reads and writes: bytes moved (the return value) to or from fd's resource.
 * read, write, readv, writev are also the socket path (file or net family). */
XFER(read, SHIM_FAMS_FD, fd, (int fd, void *buf, size_t n), (fd, buf, n))
XFER(__read_chk, SHIM_FAMS_FD, fd, (int fd, void *buf, size_t n, size_t buflen),
     (fd, buf, n, buflen))
XFER(write, SHIM_FAMS_FD, fd, (int fd, const void *buf, size_t n), (fd, buf, n))
XFER(readv, SHIM_FAMS_FD, fd, (int fd, const struct iovec *iov, int cnt), (fd, iov, cnt))
XFER(writev, SHIM_FAMS_FD, fd, (int fd, const struct iovec *iov, int cnt), (fd, iov, cnt))

/* Positioned reads and writes: as read/write, files only. */
XFER(pread, SHIM_FAM(FILE), fd, (int fd, void *buf, size_t n, off_t off), (fd, buf, n, off))
XFER(pread64, SHIM_FAM(FILE), fd, (int fd, void *buf, size_t n, off64_t off), (fd, buf, n, off))
XFER(__pread_chk, SHIM_FAM(FILE), fd, (int fd, void *buf, size_t n, off_t off, size_t buflen),
     (fd, buf, n, off, buflen))
XFER(__pread64_chk, SHIM_FAM(FILE), fd,
     (int fd, void *buf, size_t n, off64_t off, size_t buflen), (fd, buf, n, off, buflen))
XFER(pwrite, SHIM_FAM(FILE), fd, (int fd, const void *buf, size_t n, off_t off),
     (fd, buf, n, off))
XFER(pwrite64, SHIM_FAM(FILE), fd, (int fd, const void *buf, size_t n, off64_t off),
     (fd, buf, n, off))
XFER(preadv, SHIM_FAM(FILE), fd, (int fd, const struct iovec *iov, int cnt, off_t off),
     (fd, iov, cnt, off))
XFER(preadv64, SHIM_FAM(FILE), fd, (int fd, const struct iovec *iov, int cnt, off64_t off),
     (fd, iov, cnt, off))
XFER(pwritev, SHIM_FAM(FILE), fd, (int fd, const struct iovec *iov, int cnt, off_t off),
     (fd, iov, cnt, off))
XFER(pwritev64, SHIM_FAM(FILE), fd, (int fd, const struct iovec *iov, int cnt, off64_t off),
     (fd, iov, cnt, off))
XFER(preadv2, SHIM_FAM(FILE), fd,
     (int fd, const struct iovec *iov, int cnt, off_t off, int flags), (fd, iov, cnt, off, flags))
XFER(pwritev2, SHIM_FAM(FILE), fd,
     (int fd, const struct iovec *iov, int cnt, off_t off, int flags), (fd, iov, cnt, off, flags))

SHIM_REAL_DECL(sendfile);
SHIM_REAL_DECL(sendfile64);
SHIM_REAL_DECL(copy_file_range);

/* sendfile, sendfile64: bytes written to out_fd (recorded there), also
 * credited as read from in_fd's resource; -1 on failure. */
SHIM_EXPORT ssize_t sendfile(int out_fd, int in_fd, off_t *off, size_t n)
{
	ssize_t r;
	int e;

	HOOK_PRE(sendfile, SHIM_FAMS_FD, -1, (out_fd, in_fd, off, n));
	r = real_sendfile(out_fd, in_fd, off, n);
	e = errno;
	HOOK_REC(sendfile, r, r < 0 ? e : 0, out_fd);
	note_read(in_fd, r);
	HOOK_RETURN(r, e);
}

SHIM_EXPORT ssize_t sendfile64(int out_fd, int in_fd, off64_t *off, size_t n)
{
	ssize_t r;
	int e;

	HOOK_PRE(sendfile64, SHIM_FAMS_FD, -1, (out_fd, in_fd, off, n));
	r = real_sendfile64(out_fd, in_fd, off, n);
	e = errno;
	HOOK_REC(sendfile64, r, r < 0 ? e : 0, out_fd);
	note_read(in_fd, r);
	HOOK_RETURN(r, e);
}

/* copy_file_range: as sendfile (cp copies with it). */
SHIM_EXPORT ssize_t copy_file_range(int in_fd, off64_t *in_off, int out_fd, off64_t *out_off,
				    size_t n, unsigned int flags)
{
	ssize_t r;
	int e;

	HOOK_PRE(copy_file_range, SHIM_FAM(FILE), -1, (in_fd, in_off, out_fd, out_off, n, flags));
	r = real_copy_file_range(in_fd, in_off, out_fd, out_off, n, flags);
	e = errno;
	HOOK_REC(copy_file_range, r, r < 0 ? e : 0, out_fd);
	note_read(in_fd, r);
	HOOK_RETURN(r, e);
}

SHIM_REAL_DECL(lseek);
SHIM_REAL_DECL(lseek64);

/* lseek, lseek64: the new offset or (off_t)-1; no bytes. */
SHIM_EXPORT off_t lseek(int fd, off_t off, int whence)
{
	off_t r;
	int e;

	HOOK_PRE(lseek, SHIM_FAM(FILE), (off_t)-1, (fd, off, whence));
	r = real_lseek(fd, off, whence);
	e = errno;
	HOOK_REC(lseek, -1, r < 0 ? e : 0, fd);
	HOOK_RETURN(r, e);
}

SHIM_EXPORT off64_t lseek64(int fd, off64_t off, int whence)
{
	off64_t r;
	int e;

	HOOK_PRE(lseek64, SHIM_FAM(FILE), (off64_t)-1, (fd, off, whence));
	r = real_lseek64(fd, off, whence);
	e = errno;
	HOOK_REC(lseek64, -1, r < 0 ? e : 0, fd);
	HOOK_RETURN(r, e);
}

/* fsync, fdatasync, ftruncate(64), fstat(64): 0 or -1, on fd's resource. */
INTFD(fsync, SHIM_FAM(FILE), fd, (int fd), (fd))
INTFD(fdatasync, SHIM_FAM(FILE), fd, (int fd), (fd))
INTFD(ftruncate, SHIM_FAM(FILE), fd, (int fd, off_t len), (fd, len))
INTFD(ftruncate64, SHIM_FAM(FILE), fd, (int fd, off64_t len), (fd, len))
INTFD(fstat, SHIM_FAM(FILE), fd, (int fd, struct stat *st), (fd, st))
INTFD(fstat64, SHIM_FAM(FILE), fd, (int fd, struct stat64 *st), (fd, st))

/* fstatat(64), statx: 0 or -1; on dirfd's resource only with AT_EMPTY_PATH and "". */
INTFD(fstatat, SHIM_FAM(FILE), at_fd(dirfd, path, flags),
      (int dirfd, const char *restrict path, struct stat *restrict st, int flags),
      (dirfd, path, st, flags))
INTFD(fstatat64, SHIM_FAM(FILE), at_fd(dirfd, path, flags),
      (int dirfd, const char *restrict path, struct stat64 *restrict st, int flags),
      (dirfd, path, st, flags))
INTFD(statx, SHIM_FAM(FILE), at_fd(dirfd, path, flags),
      (int dirfd, const char *restrict path, int flags, unsigned int mask,
       struct statx *restrict st),
      (dirfd, path, flags, mask, st))

/* Path-only calls: 0 or -1, counted per function and caller, no resource. */
INTFD(stat, SHIM_FAM(FILE), -1, (const char *restrict path, struct stat *restrict st),
      (path, st))
INTFD(stat64, SHIM_FAM(FILE), -1, (const char *restrict path, struct stat64 *restrict st),
      (path, st))
INTFD(lstat, SHIM_FAM(FILE), -1, (const char *restrict path, struct stat *restrict st),
      (path, st))
INTFD(lstat64, SHIM_FAM(FILE), -1, (const char *restrict path, struct stat64 *restrict st),
      (path, st))
INTFD(access, SHIM_FAM(FILE), -1, (const char *path, int mode), (path, mode))
INTFD(faccessat, SHIM_FAM(FILE), -1, (int dirfd, const char *path, int mode, int flags),
      (dirfd, path, mode, flags))
INTFD(unlink, SHIM_FAM(FILE), -1, (const char *path), (path))
INTFD(unlinkat, SHIM_FAM(FILE), -1, (int dirfd, const char *path, int flags),
      (dirfd, path, flags))
INTFD(rename, SHIM_FAM(FILE), -1, (const char *from, const char *to), (from, to))
INTFD(renameat, SHIM_FAM(FILE), -1, (int fromfd, const char *from, int tofd, const char *to),
      (fromfd, from, tofd, to))
INTFD(mkdir, SHIM_FAM(FILE), -1, (const char *path, mode_t mode), (path, mode))
INTFD(rmdir, SHIM_FAM(FILE), -1, (const char *path), (path))

SHIM_REAL_DECL(dup);
SHIM_REAL_DECL(dup2);
SHIM_REAL_DECL(dup3);

/* dup: the new fd (now naming fd's resource) or -1. */
SHIM_EXPORT int dup(int fd)
{
	int r, e;

	HOOK_PRE(dup, SHIM_FAMS_FD, -1, (fd));
	r = real_dup(fd);
	e = errno;
	if (r >= 0)
		shim_fd_dup(fd, r);
	HOOK_REC(dup, -1, r < 0 ? e : 0, fd);
	HOOK_RETURN(r, e);
}

/* dup2, dup3: newfd (now naming oldfd's resource) or -1. */
SHIM_EXPORT int dup2(int oldfd, int newfd)
{
	int r, e;

	HOOK_PRE(dup2, SHIM_FAMS_FD, -1, (oldfd, newfd));
	r = real_dup2(oldfd, newfd);
	e = errno;
	if (r >= 0 && r != oldfd) {
		shim_span_close(r); /* newfd's old file or connection ends here */
		shim_fd_dup(oldfd, r);
	}
	HOOK_REC(dup2, -1, r < 0 ? e : 0, oldfd);
	HOOK_RETURN(r, e);
}

SHIM_EXPORT int dup3(int oldfd, int newfd, int flags)
{
	int r, e;

	HOOK_PRE(dup3, SHIM_FAMS_FD, -1, (oldfd, newfd, flags));
	r = real_dup3(oldfd, newfd, flags);
	e = errno;
	if (r >= 0 && r != oldfd) {
		shim_span_close(r); /* newfd's old file or connection ends here */
		shim_fd_dup(oldfd, r);
	}
	HOOK_REC(dup3, -1, r < 0 ? e : 0, oldfd);
	HOOK_RETURN(r, e);
}

/* fcntl's third argument is an int or a pointer by cmd; read as a pointer it
 * passes either through unchanged (glibc's own fcntl does the same). */
#define FCNTL(name)                                                                                \
	SHIM_REAL_DECL(name);                                                                      \
	SHIM_EXPORT int name(int fd, int cmd, ...)                                                 \
	{                                                                                          \
		va_list ap;                                                                        \
		void *arg;                                                                         \
		int r, e;                                                                          \
		va_start(ap, cmd);                                                                 \
		arg = va_arg(ap, void *);                                                          \
		va_end(ap);                                                                        \
		HOOK_PRE(name, SHIM_FAMS_FD, -1, (fd, cmd, arg));                                  \
		r = real_##name(fd, cmd, arg);                                                     \
		e = errno;                                                                         \
		if (r >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC))                          \
			shim_fd_dup(fd, r);                                                        \
		HOOK_REC(name, -1, r < 0 ? e : 0, fd);                                             \
		HOOK_RETURN(r, e);                                                                 \
	}

/* fcntl, fcntl64: what the real call returns; F_DUPFD(_CLOEXEC) copies fd's
 * resource to the new fd. */
FCNTL(fcntl)
FCNTL(fcntl64)

SHIM_REAL_DECL(pipe);
SHIM_REAL_DECL(pipe2);

/* pipe, pipe2: 0 or -1. Both ends are forgotten so that their first use
 * classifies them as "pipe:[inode]"; the call is recorded on the read end. */
/* A pipe Shimmer's own code makes (libunwind's memory-probe pipe, made the
 * first time it unwinds) must not take the low fd numbers the program expects
 * its own first open or pipe to get: move both ends far up. */
static int own_pipe(int r, int fds[2])
{
	if (r == 0) {
		fds[0] = shim_worker_high_fd(fds[0]);
		fds[1] = shim_worker_high_fd(fds[1]);
	}
	return r;
}

SHIM_EXPORT int pipe(int fds[2])
{
	int r, e;

	if (__builtin_expect(shim_tls.internal, 0) && SHIM_RESOLVE(pipe))
		return own_pipe(real_pipe(fds), fds);
	HOOK_PRE(pipe, SHIM_FAMS_FD, -1, (fds));
	r = real_pipe(fds);
	e = errno;
	if (r == 0) {
		shim_fd_clear(fds[0]);
		shim_fd_clear(fds[1]);
	}
	HOOK_REC(pipe, -1, r < 0 ? e : 0, r == 0 ? fds[0] : -1);
	HOOK_RETURN(r, e);
}

SHIM_EXPORT int pipe2(int fds[2], int flags)
{
	int r, e;

	if (__builtin_expect(shim_tls.internal, 0) && SHIM_RESOLVE(pipe2))
		return own_pipe(real_pipe2(fds, flags), fds);
	HOOK_PRE(pipe2, SHIM_FAMS_FD, -1, (fds, flags));
	r = real_pipe2(fds, flags);
	e = errno;
	if (r == 0) {
		shim_fd_clear(fds[0]);
		shim_fd_clear(fds[1]);
	}
	HOOK_REC(pipe2, -1, r < 0 ? e : 0, r == 0 ? fds[0] : -1);
	HOOK_RETURN(r, e);
}
