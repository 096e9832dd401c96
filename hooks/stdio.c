/* SPDX-License-Identifier: MIT */
/* Stdio family: FILE*-level calls, attributed to the stream's fd and counted
 * in bytes the program asked for and got. Kept cheap (sort, gzip, python call
 * these in loops): the stream's fd and error flag are read from the FILE
 * itself, never through a libc call that could lock or touch errno. Never
 * formats, allocates or does I/O of its own. */
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "hook.h"

/* bits/stdio.h makes these macros when optimizing; we define the functions. */
#undef fread_unlocked
#undef fwrite_unlocked

/* The fortified entry points are declared only under _FORTIFY_SOURCE. */
extern size_t __fread_chk(void *restrict buf, size_t buflen, size_t size, size_t n,
			  FILE *restrict s);
extern size_t __fread_unlocked_chk(void *restrict buf, size_t buflen, size_t size, size_t n,
				   FILE *restrict s);
extern char *__fgets_chk(char *restrict buf, size_t buflen, int n, FILE *restrict s);
extern char *__fgets_unlocked_chk(char *restrict buf, size_t buflen, int n, FILE *restrict s);

/* glibc's libio flag for a stream over an fd (libio/libio.h, stable ABI since
 * 2.1): string and memory streams lack it, and their _fileno means nothing. */
#define IO_IS_FILEBUF 0x2000

/* The stream's fd as fileno() would say, or -1; no lock, errno untouched. */
static inline int sfd(const FILE *s)
{
	return s && (s->_flags & IO_IS_FILEBUF) && s->_fileno >= 0 ? s->_fileno : -1;
}

/* The stream's error indicator, read without the stream lock. */
static inline int serr(const FILE *s)
{
	return s && __ferror_unlocked_body(s);
}

/* A failed call's errno for the record: stdio can fail without setting one. */
static inline int errcode(int e)
{
	return e ? e : EIO;
}

/* FREAD: items read or 0 (fread, __fread_chk and their _unlocked twins).
 * Bytes are items * size; a short count is an error only when the call set
 * the stream's error indicator (EOF is not an error). */
#define FREAD(name, params, args)                                                                  \
	SHIM_REAL_DECL(name);                                                                      \
	SHIM_EXPORT size_t name params                                                             \
	{                                                                                          \
		size_t r;                                                                          \
		int e, had;                                                                        \
		HOOK_PRE(name, SHIM_FAM(STDIO), 0, args);                                          \
		had = serr(s);                                                                     \
		r = real_##name args;                                                              \
		e = errno;                                                                         \
		HOOK_REC_MAYBE_FD(name, r * size,                                                  \
				  r < n && !had && serr(s) ? errcode(e) : 0, sfd(s));              \
		HOOK_RETURN(r, e);                                                                 \
	}

/* FGETS: buf or NULL (EOF, or an error when the call set the indicator);
 * bytes are the length of the string read. */
#define FGETS(name, params, args)                                                                  \
	SHIM_REAL_DECL(name);                                                                      \
	SHIM_EXPORT char *name params                                                              \
	{                                                                                          \
		char *r;                                                                           \
		int e, had;                                                                        \
		HOOK_PRE(name, SHIM_FAM(STDIO), NULL, args);                                       \
		had = serr(s);                                                                     \
		r = real_##name args;                                                              \
		e = errno;                                                                         \
		HOOK_REC_MAYBE_FD(name, r ? (int64_t)strlen(r) : -1,                               \
				  !r && !had && serr(s) ? errcode(e) : 0,                          \
				  sfd(s));                                                         \
		HOOK_RETURN(r, e);                                                                 \
	}

/* GETDELIM: the line's length or -1 (EOF, or an error when the call set the
 * indicator or its arguments were invalid). */
#define GETDELIM(name, params, args)                                                               \
	SHIM_REAL_DECL(name);                                                                      \
	SHIM_EXPORT ssize_t name params                                                            \
	{                                                                                          \
		ssize_t r;                                                                         \
		int e, had;                                                                        \
		HOOK_PRE(name, SHIM_FAM(STDIO), -1, args);                                         \
		had = serr(s);                                                                     \
		r = real_##name args;                                                              \
		e = errno;                                                                         \
		HOOK_REC_MAYBE_FD(name, r,                                                         \
				  r < 0 && (!line || !cap || (!had && serr(s)))                    \
				      ? errcode(e) : 0, sfd(s));                                   \
		HOOK_RETURN(r, e);                                                                 \
	}

/* FPUTS: non-negative or EOF; bytes are strlen(str) on success. */
#define FPUTS(name)                                                                                \
	SHIM_REAL_DECL(name);                                                                      \
	SHIM_EXPORT int name(const char *restrict str, FILE *restrict s)                           \
	{                                                                                          \
		int r, e;                                                                          \
		HOOK_PRE(name, SHIM_FAM(STDIO), EOF, (str, s));                                    \
		r = real_##name(str, s);                                                           \
		e = errno;                                                                         \
		HOOK_REC_MAYBE_FD(name, r != EOF ? (int64_t)strlen(str) : -1,                      \
				  r == EOF ? errcode(e) : 0,                                       \
				  sfd(s));                                                         \
		HOOK_RETURN(r, e);                                                                 \
	}

/* FFLUSH: 0 or EOF; fflush(NULL) flushes every stream and has no fd. */
#define FFLUSH(name)                                                                               \
	SHIM_REAL_DECL(name);                                                                      \
	SHIM_EXPORT int name(FILE *s)                                                              \
	{                                                                                          \
		int r, e;                                                                          \
		HOOK_PRE(name, SHIM_FAM(STDIO), EOF, (s));                                         \
		r = real_##name(s);                                                                \
		e = errno;                                                                         \
		HOOK_REC_MAYBE_FD(name, -1, r == EOF ? errcode(e) : 0, sfd(s));                    \
		HOOK_RETURN(r, e);                                                                 \
	}

/* FOPEN: the stream or NULL; its fd now names `path` as given. */
#define FOPEN(name)                                                                                \
	SHIM_REAL_DECL(name);                                                                      \
	SHIM_EXPORT FILE *name(const char *restrict path, const char *restrict mode)               \
	{                                                                                          \
		FILE *r;                                                                           \
		int e, fd;                                                                         \
		HOOK_PRE(name, SHIM_FAM(STDIO), NULL, (path, mode));                               \
		r = real_##name(path, mode);                                                       \
		e = errno;                                                                         \
		fd = sfd(r);                                                                       \
		if (fd >= 0)                                                                       \
			shim_fd_set_path(fd, SHIM_KIND_FILE, path);                                \
		HOOK_REC_MAYBE_FD(name, -1, r ? 0 : errcode(e), fd);                               \
		HOOK_RETURN(r, e);                                                                 \
	}

/* freopen closes the stream's fd and opens path (or reopens the same file
 * when path is NULL) under the same FILE; on failure the stream is closed. */
#define FREOPEN(name)                                                                              \
	SHIM_REAL_DECL(name);                                                                      \
	SHIM_EXPORT FILE *name(const char *restrict path, const char *restrict mode,               \
			       FILE *restrict s)                                                   \
	{                                                                                          \
		FILE *r;                                                                           \
		int e, old, fd;                                                                    \
		HOOK_PRE(name, SHIM_FAM(STDIO), NULL, (path, mode, s));                            \
		old = sfd(s);                                                                      \
		r = real_##name(path, mode, s);                                                    \
		e = errno;                                                                         \
		fd = sfd(r);                                                                       \
		reopened(old, fd, path);                                                           \
		HOOK_REC_MAYBE_FD(name, -1, r ? 0 : errcode(e), fd);                               \
		HOOK_RETURN(r, e);                                                                 \
	}

static void reopened(int old, int fd, const char *path)
{
	if (fd >= 0 && !path && old >= 0 && old != fd)
		shim_fd_dup(old, fd); /* same file, new fd */
	if (old >= 0 && old != fd)
		shim_fd_clear(old);
	if (fd >= 0 && path)
		shim_fd_set_path(fd, SHIM_KIND_FILE, path);
}

/* fopen, fopen64: see FOPEN. */
FOPEN(fopen)
FOPEN(fopen64)

/* freopen, freopen64: the stream or NULL; see FREOPEN. */
FREOPEN(freopen)
FREOPEN(freopen64)

SHIM_REAL_DECL(fdopen);
SHIM_REAL_DECL(fclose);

/* fdopen: a stream over fd (which keeps its resource) or NULL. */
SHIM_EXPORT FILE *fdopen(int fd, const char *mode)
{
	FILE *r;
	int e;

	HOOK_PRE(fdopen, SHIM_FAM(STDIO), NULL, (fd, mode));
	r = real_fdopen(fd, mode);
	e = errno;
	HOOK_REC_MAYBE_FD(fdopen, -1, r ? 0 : errcode(e), fd);
	HOOK_RETURN(r, e);
}

/* fclose: 0 or EOF; recorded on the stream's fd, which is forgotten after
 * (fclose closes it even when it fails). */
SHIM_EXPORT int fclose(FILE *s)
{
	int r, e, fd;

	HOOK_PRE(fclose, SHIM_FAM(STDIO), EOF, (s));
	fd = sfd(s); /* s is freed by the call */
	r = real_fclose(s);
	e = errno;
	HOOK_REC_MAYBE_FD(fclose, -1, r == EOF ? errcode(e) : 0, fd);
	if (fd >= 0)
		shim_fd_clear(fd);
	HOOK_RETURN(r, e);
}

/* fread, fread_unlocked and the fortified twins: see FREAD. */
FREAD(fread, (void *restrict buf, size_t size, size_t n, FILE *restrict s), (buf, size, n, s))
FREAD(fread_unlocked, (void *restrict buf, size_t size, size_t n, FILE *restrict s),
      (buf, size, n, s))
FREAD(__fread_chk, (void *restrict buf, size_t buflen, size_t size, size_t n, FILE *restrict s),
      (buf, buflen, size, n, s))
FREAD(__fread_unlocked_chk,
      (void *restrict buf, size_t buflen, size_t size, size_t n, FILE *restrict s),
      (buf, buflen, size, n, s))

/* fwrite, fwrite_unlocked: items written; bytes items * size; a short count
 * with the error indicator newly set is an error. Same shape as FREAD. */
FREAD(fwrite, (const void *restrict buf, size_t size, size_t n, FILE *restrict s),
      (buf, size, n, s))
FREAD(fwrite_unlocked, (const void *restrict buf, size_t size, size_t n, FILE *restrict s),
      (buf, size, n, s))

/* fgets and twins: see FGETS. */
FGETS(fgets, (char *restrict buf, int n, FILE *restrict s), (buf, n, s))
FGETS(fgets_unlocked, (char *restrict buf, int n, FILE *restrict s), (buf, n, s))
FGETS(__fgets_chk, (char *restrict buf, size_t buflen, int n, FILE *restrict s),
      (buf, buflen, n, s))
FGETS(__fgets_unlocked_chk, (char *restrict buf, size_t buflen, int n, FILE *restrict s),
      (buf, buflen, n, s))

/* fputs, fputs_unlocked: see FPUTS. */
FPUTS(fputs)
FPUTS(fputs_unlocked)

/* getline, getdelim, __getdelim: see GETDELIM. */
GETDELIM(getline, (char **restrict line, size_t *restrict cap, FILE *restrict s),
	 (line, cap, s))
GETDELIM(getdelim, (char **restrict line, size_t *restrict cap, int delim, FILE *restrict s),
	 (line, cap, delim, s))
GETDELIM(__getdelim, (char **restrict line, size_t *restrict cap, int delim, FILE *restrict s),
	 (line, cap, delim, s))

/* fflush, fflush_unlocked: see FFLUSH. */
FFLUSH(fflush)
FFLUSH(fflush_unlocked)
