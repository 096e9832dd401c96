/* SPDX-License-Identifier: MIT */
/* The fd table (fd -> kind and resource) and the resource table (interned
 * paths, peers, DNS names). Both are fixed-size, mmap'd, lock-free: any
 * thread's hook may read or update them. */
#ifndef SHIM_FDTAB_H
#define SHIM_FDTAB_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "thread.h"

#define SHIM_FD_CAP 65536 /* fds above are not tracked */
#define SHIM_RES_NAME 250 /* longer names are cut, ending in "..." */

enum shim_kind {
	SHIM_KIND_NONE, /* not known yet */
	SHIM_KIND_FILE,
	SHIM_KIND_SOCKET,
	SHIM_KIND_PIPE,
	SHIM_KIND_OTHER, /* tty, eventfd, epoll, device... */
	SHIM_KIND_DNS,   /* a looked-up name (resource only, never an fd) */
	SHIM_KIND_COUNT
};

struct shim_resource {
	uint8_t kind;
	uint8_t pad;
	uint16_t len;
	char name[SHIM_RES_NAME + 2];
};

/* Resource 0 is "(other)": where everything lands once the table is full. */
#define SHIM_RES_OTHER 0

/* The fd table: [SHIM_FD_CAP] words (SHIM_FD_KNOWN | kind << 24 | resource
 * id), read inline by the recorders' fast path (shim/record.h); NULL before
 * init. shim_fd_words points at the pointer (the same table). */
#define SHIM_FD_KNOWN 0x80000000u
#define SHIM_FD_ID_MASK 0xffffffu
extern _Atomic uint32_t *shim_fd_tab;
extern _Atomic uint32_t *const *const shim_fd_words;

/* Set up both tables (constructor). Returns 0 or -1. */
int shim_fd_init(void);

/* The id of resource (kind, name[0..len)), interned if new; SHIM_RES_OTHER when
 * the table is full. Async-signal-safe: yes. Allocates: no. Locks: none. */
uint32_t shim_res_intern(unsigned kind, const char *name, size_t len);

/* Read-only view of resource `id` (NULL past the end). */
const struct shim_resource *shim_res_get(uint32_t id);

/* Number of resources interned, and lookups that found the table full. */
uint32_t shim_res_count(void);
uint64_t shim_res_dropped(void);

/* fd now refers to (kind, res). */
void shim_fd_set(int fd, unsigned kind, uint32_t res);

/* fd was opened on `path` (relative to dirfd when relative, as given).
 * Returns fd's resource id now; SHIM_RES_OTHER (fd left as it was) when fd is
 * out of the table's range or path is NULL. Async-signal-safe: yes. errno: kept. */
uint32_t shim_fd_set_path(int fd, unsigned kind, const char *path);

/* 1 + the highest fd ever recorded: a census need not look further. */
int shim_fd_high_water(void);

/* newfd is now a copy of oldfd. */
void shim_fd_dup(int oldfd, int newfd);

/* fd is closed (inline: every close of a file pays it). */
static inline void shim_fd_clear(int fd)
{
	if (shim_fd_tab && (unsigned)fd < SHIM_FD_CAP)
		__atomic_store_n(&shim_fd_tab[fd], 0, __ATOMIC_RELAXED);
}

/* Forget every fd (after exec the table is rebuilt lazily). */
void shim_fd_reset(void);

/* The resource of fd, classifying it on first sight (fstat, /proc/self/fd
 * link, getpeername) when the program got it before us or by a path we do not
 * hook. kind_out, when not NULL, receives the kind. Returns SHIM_RES_OTHER
 * for fds out of range. Async-signal-safe: yes (raw syscalls). */
uint32_t shim_fd_res(int fd, unsigned *kind_out);

/* Kind of fd, classifying it if unknown. */
unsigned shim_fd_kind(int fd);

/* Format a socket address as a resource name into buf ("tcp 127.0.0.1:80",
 * "udp [::1]:53", "unix /run/x.sock"); socktype is SOCK_STREAM/SOCK_DGRAM or 0
 * when unknown. Returns the length. Allocates: no. */
size_t shim_addr_format(const struct sockaddr *sa, socklen_t len, int socktype, char *buf,
			size_t size);

/* Name of a kind ("file", "socket", ...). */
const char *shim_kind_name(unsigned kind);

#endif
