/* SPDX-License-Identifier: MIT */
/* File family: the fd-level entry points, their fortified (_chk/_2) twins and
 * the fd table upkeep (open, dup, close). Records only; never formats. */
#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include "hook.h"

SHIM_REAL_DECL(open);
SHIM_REAL_DECL(open64);
SHIM_REAL_DECL(openat);
SHIM_REAL_DECL(close);
SHIM_REAL_DECL(read);
SHIM_REAL_DECL(write);

/* open's mode is there only with O_CREAT or O_TMPFILE */
static inline int needs_mode(int flags)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
}

static inline void opened(int fd, const char *path)
{
	if (fd >= 0)
		shim_fd_set_path(fd, SHIM_KIND_FILE, path);
}

SHIM_EXPORT int open(const char *path, int flags, ...)
{
	mode_t mode = 0;
	int r, e;

	if (needs_mode(flags)) {
		va_list ap;
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	HOOK_PRE(open, SHIM_FAM(FILE), -1, (path, flags, mode));
	r = real_open(path, flags, mode);
	e = errno;
	opened(r, path);
	HOOK_REC(open, -1, r < 0 ? e : 0, r);
	HOOK_RETURN(r, e);
}

SHIM_EXPORT int open64(const char *path, int flags, ...)
{
	mode_t mode = 0;
	int r, e;

	if (needs_mode(flags)) {
		va_list ap;
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	HOOK_PRE(open64, SHIM_FAM(FILE), -1, (path, flags, mode));
	r = real_open64(path, flags, mode);
	e = errno;
	opened(r, path);
	HOOK_REC(open64, -1, r < 0 ? e : 0, r);
	HOOK_RETURN(r, e);
}

SHIM_EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;
	int r, e;

	if (needs_mode(flags)) {
		va_list ap;
		va_start(ap, flags);
		mode = va_arg(ap, mode_t);
		va_end(ap);
	}
	HOOK_PRE(openat, SHIM_FAM(FILE), -1, (dirfd, path, flags, mode));
	r = real_openat(dirfd, path, flags, mode);
	e = errno;
	opened(r, path);
	HOOK_REC(openat, -1, r < 0 ? e : 0, r);
	HOOK_RETURN(r, e);
}

SHIM_EXPORT int close(int fd)
{
	int r, e;

	HOOK_PRE(close, SHIM_FAMS_FD, -1, (fd));
	r = real_close(fd);
	e = errno;
	/* record against the resource before the fd is forgotten */
	HOOK_REC(close, -1, r < 0 ? e : 0, fd);
	if (r == 0 || e != EBADF)
		shim_fd_clear(fd);
	HOOK_RETURN(r, e);
}

SHIM_EXPORT ssize_t read(int fd, void *buf, size_t n)
{
	ssize_t r;
	int e;

	HOOK_PRE(read, SHIM_FAMS_FD, -1, (fd, buf, n));
	r = real_read(fd, buf, n);
	e = errno;
	HOOK_REC(read, r, r < 0 ? e : 0, fd);
	HOOK_RETURN(r, e);
}

SHIM_EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
	ssize_t r;
	int e;

	HOOK_PRE(write, SHIM_FAMS_FD, -1, (fd, buf, n));
	r = real_write(fd, buf, n);
	e = errno;
	HOOK_REC(write, r, r < 0 ? e : 0, fd);
	HOOK_RETURN(r, e);
}
