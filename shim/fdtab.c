/* SPDX-License-Identifier: MIT */
/* fd -> resource and the interned resource names. Lock-free: resources are
 * published by CAS into a hash of ids after their name is written; fd entries
 * are single atomic words. Raw syscalls only, so any hook may call in. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "clock.h"
#include "fdtab.h"
#include "zone.h"

#define HASH_CAP (SHIM_RES_CAP * 2)
#define FD_KNOWN 0x80000000u
#define FD_KIND_SHIFT 24

static struct shim_resource *res; /* [SHIM_RES_CAP] */
/* [HASH_CAP]: id + 1, 0 = empty. Two bytes an entry: the index is read where
 * names hash to, so its size is the pages a process's first opens fault in. */
static _Atomic uint16_t *rhash;
_Static_assert(SHIM_RES_CAP <= 65535, "rhash holds id + 1 in 16 bits");
_Atomic uint32_t *shim_fd_tab SHIM_HOT;     /* [SHIM_FD_CAP]: FD_KNOWN | kind << 24 | id */
static atomic_uint res_next = 1;   /* 0 is "(other)" */
static atomic_uint_fast64_t res_full;
_Atomic uint32_t *const *const shim_fd_words = &shim_fd_tab;
_Static_assert(FD_KNOWN == SHIM_FD_KNOWN, "shim/record.h reads fd words inline");

int shim_fd_init(void)
{
	if (res)
		return 0;
	res = shim_zone_map(sizeof(*res) * SHIM_RES_CAP);
	rhash = shim_zone_map(sizeof(*rhash) * HASH_CAP);
	shim_fd_tab = shim_zone_map(sizeof(*shim_fd_tab) * SHIM_FD_CAP);
	if (!res || !rhash || !shim_fd_tab)
		return -1;
	res[0].kind = SHIM_KIND_OTHER;
	memcpy(res[0].name, "(other)", 7);
	res[0].len = 7;
	return 0;
}

const char *shim_kind_name(unsigned kind)
{
	static const char *const names[SHIM_KIND_COUNT] = {"unknown", "file",  "socket",
							   "pipe",    "other", "dns"};
	return kind < SHIM_KIND_COUNT ? names[kind] : "?";
}

/* Eight bytes a step (every open of a path hashes it: a byte-wise FNV chain
 * of dependent multiplies cost ~50 ns for a 30-byte path). The last 1-8 bytes
 * are one load that may overlap the words before (a byte loop for them was
 * half the cost of an open's interning): the hash is still a function of
 * (kind, len, bytes) alone. */
static uint32_t hash_name(unsigned kind, const char *s, size_t len)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ kind ^ ((uint64_t)len << 32), w = 0;
	size_t i = 0;

	for (; i + 8 < len; i += 8) {
		memcpy(&w, s + i, 8);
		h = (h ^ w) * 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	if (len >= 8) {
		memcpy(&w, s + len - 8, 8);
	} else if (len >= 4) {
		uint32_t a, b;
		memcpy(&a, s, 4);
		memcpy(&b, s + len - 4, 4);
		w = (uint64_t)a << 32 | b;
	} else if (len) {
		w = (uint64_t)(unsigned char)s[0] << 16 | (uint64_t)(unsigned char)s[len / 2] << 8 |
		    (unsigned char)s[len - 1];
	}
	h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 29;
	return (uint32_t)h;
}

static int same(const struct shim_resource *r, unsigned kind, const char *name, size_t len)
{
	return r->kind == kind && r->len == len && memcmp(r->name, name, len) == 0;
}

uint32_t shim_res_intern(unsigned kind, const char *name, size_t len)
{
	uint32_t h, i, id = 0;

	if (!res)
		return SHIM_RES_OTHER;
	if (len > SHIM_RES_NAME)
		len = SHIM_RES_NAME; /* cut; the "..." is added when written */
	h = hash_name(kind, name, len);
	i = h & (HASH_CAP - 1);
	for (uint32_t n = 0; n < HASH_CAP; n++, i = (i + 1) & (HASH_CAP - 1)) {
		uint16_t cur = atomic_load_explicit(&rhash[i], memory_order_acquire);
		if (cur) {
			if (same(&res[cur - 1], kind, name, len))
				return cur - 1;
			continue;
		}
		/* empty: write a new entry, then publish its id here */
		if (!id) {
			id = atomic_fetch_add(&res_next, 1);
			if (id >= SHIM_RES_CAP) {
				atomic_fetch_add(&res_full, 1);
				return SHIM_RES_OTHER;
			}
			memcpy(res[id].name, name, len);
			res[id].len = (uint16_t)len;
			res[id].kind = (uint8_t)kind;
		}
		if (atomic_compare_exchange_strong_explicit(&rhash[i], &cur, (uint16_t)(id + 1),
							    memory_order_release,
							    memory_order_acquire))
			return id;
		/* lost the race for this bucket: is the winner our name? */
		if (same(&res[cur - 1], kind, name, len))
			return cur - 1; /* our id stays an unused, unpublished entry */
	}
	atomic_fetch_add(&res_full, 1);
	return SHIM_RES_OTHER;
}

const struct shim_resource *shim_res_get(uint32_t id)
{
	if (!res || id >= shim_res_count())
		return NULL;
	return &res[id];
}

uint32_t shim_res_count(void)
{
	uint32_t n = atomic_load(&res_next);
	return n > SHIM_RES_CAP ? SHIM_RES_CAP : n;
}

uint64_t shim_res_dropped(void)
{
	return atomic_load(&res_full);
}

static atomic_int fd_hi; /* 1 + the highest fd ever set */

static inline void bump_hi(int fd)
{
	int hi = atomic_load_explicit(&fd_hi, memory_order_relaxed);
	while (fd >= hi && !atomic_compare_exchange_weak(&fd_hi, &hi, fd + 1))
		;
}

static inline void set_word(int fd, unsigned kind, uint32_t id)
{
	if (shim_fd_tab && fd >= 0 && fd < SHIM_FD_CAP) {
		atomic_store_explicit(&shim_fd_tab[fd], FD_KNOWN | kind << FD_KIND_SHIFT | id,
				      memory_order_relaxed);
		bump_hi(fd);
	}
}

void shim_fd_set(int fd, unsigned kind, uint32_t id)
{
	set_word(fd, kind, id);
}

int shim_fd_high_water(void)
{
	return atomic_load(&fd_hi);
}

/* A thread's recent paths by where they were: the pointer a path was opened
 * from and the resource it named. A program opens from the same places (a
 * literal, a buffer it reuses), so a hit skips the length, the hash and the
 * shared table. A hit is checked against the resource's name (written once,
 * NUL after its len bytes), so a buffer that now holds another path misses;
 * a name cut at SHIM_RES_NAME never matches and takes the general way. */
#define PCACHE_N 4 /* one cache line */
struct pcache {
	const char *p;
	uint32_t id;
};
static __thread struct pcache pcache[PCACHE_N]
	__attribute__((tls_model("initial-exec"), aligned(64)));

static uint32_t intern_path(unsigned kind, const char *path)
{
	struct pcache *c = &pcache[((uintptr_t)path >> 4) & (PCACHE_N - 1)];
	uint32_t id = c->id;

	if (c->p == path && res && res[id].kind == kind && strcmp(res[id].name, path) == 0)
		return id;
	id = shim_res_intern(kind, path, strlen(path));
	c->p = path;
	c->id = id;
	return id;
}

uint32_t shim_fd_set_path(int fd, unsigned kind, const char *path)
{
	uint32_t id;

	if (fd < 0 || fd >= SHIM_FD_CAP || !path)
		return SHIM_RES_OTHER;
	id = intern_path(kind, path);
	set_word(fd, kind, id);
	return id;
}

void shim_fd_dup(int oldfd, int newfd)
{
	uint32_t v;

	if (!shim_fd_tab || oldfd < 0 || oldfd >= SHIM_FD_CAP || newfd < 0 || newfd >= SHIM_FD_CAP)
		return;
	v = atomic_load_explicit(&shim_fd_tab[oldfd], memory_order_relaxed);
	atomic_store_explicit(&shim_fd_tab[newfd], v, memory_order_relaxed);
	bump_hi(newfd);
}

void shim_fd_reset(void)
{
	if (shim_fd_tab)
		syscall(SYS_madvise, shim_fd_tab, sizeof(*shim_fd_tab) * SHIM_FD_CAP, MADV_DONTNEED);
}

size_t shim_addr_format(const struct sockaddr *sa, socklen_t len, int socktype, char *buf,
			size_t size)
{
	char host[INET6_ADDRSTRLEN];
	const char *proto = socktype == SOCK_DGRAM ? "udp" : socktype == SOCK_STREAM ? "tcp" : "ip";
	int n = 0;

	if (size == 0)
		return 0;
	buf[0] = '\0'; /* an address too short for its family names nothing */
	if (!sa || len < sizeof(sa_family_t))
		return 0;
	switch (sa->sa_family) {
	case AF_INET: {
		const struct sockaddr_in *in = (const void *)sa;
		if (len < sizeof(*in) || !inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host)))
			break;
		n = snprintf(buf, size, "%s %s:%u", proto, host, ntohs(in->sin_port));
		break;
	}
	case AF_INET6: {
		const struct sockaddr_in6 *in6 = (const void *)sa;
		if (len < sizeof(*in6) ||
		    !inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host)))
			break;
		n = snprintf(buf, size, "%s [%s]:%u", proto, host, ntohs(in6->sin6_port));
		break;
	}
	case AF_UNIX: {
		const struct sockaddr_un *un = (const void *)sa;
		size_t plen = len > offsetof(struct sockaddr_un, sun_path)
				      ? len - offsetof(struct sockaddr_un, sun_path)
				      : 0;
		if (plen && un->sun_path[0] == '\0') /* abstract namespace */
			n = snprintf(buf, size, "unix @%.*s", (int)(plen - 1), un->sun_path + 1);
		else if (plen)
			n = snprintf(buf, size, "unix %.*s", (int)strnlen(un->sun_path, plen),
				     un->sun_path);
		else
			n = snprintf(buf, size, "unix (unnamed)");
		break;
	}
	default:
		n = snprintf(buf, size, "socket family %d", sa->sa_family);
	}
	if (n < 0)
		return 0;
	return (size_t)n < size ? (size_t)n : size - 1;
}

/* First sight of an fd we did not see opened: ask the kernel what it is. */
static uint32_t classify(int fd, unsigned *kind)
{
	char link[32], name[SHIM_RES_NAME + 1];
	struct stat st;
	long n;

	*kind = SHIM_KIND_OTHER;
	if (syscall(SYS_fstat, fd, &st) != 0)
		return SHIM_RES_OTHER; /* not open: do not remember */
	if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))
		*kind = SHIM_KIND_FILE;
	else if (S_ISFIFO(st.st_mode))
		*kind = SHIM_KIND_PIPE;
	else if (S_ISSOCK(st.st_mode))
		*kind = SHIM_KIND_SOCKET;
	if (*kind == SHIM_KIND_SOCKET) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int type = 0;
		socklen_t tl = sizeof(type);
		syscall(SYS_getsockopt, fd, SOL_SOCKET, SO_TYPE, &type, &tl);
		if (syscall(SYS_getpeername, fd, &ss, &sl) == 0) {
			n = (long)shim_addr_format((void *)&ss, sl, type, name, sizeof(name));
			goto named;
		}
	}
	/* "/proc/self/fd/<fd>" by hand: no snprintf needed */
	{
		char digits[12];
		int d = 0, v = fd;
		memcpy(link, "/proc/self/fd/", 14);
		do
			digits[d++] = (char)('0' + v % 10);
		while ((v /= 10) && d < 11);
		for (int i = 0; i < d; i++)
			link[14 + i] = digits[d - 1 - i];
		link[14 + d] = '\0';
	}
	n = syscall(SYS_readlinkat, AT_FDCWD, link, name, sizeof(name) - 1);
	if (n <= 0)
		return SHIM_RES_OTHER;
named:
	if (n <= 0)
		return SHIM_RES_OTHER;
	uint32_t id = shim_res_intern(*kind, name, (size_t)n);
	shim_fd_set(fd, *kind, id);
	return id;
}

uint32_t shim_fd_res(int fd, unsigned *kind_out)
{
	unsigned kind = SHIM_KIND_OTHER;
	uint32_t v, id;

	if (!shim_fd_tab || fd < 0 || fd >= SHIM_FD_CAP) {
		if (kind_out)
			*kind_out = kind;
		return SHIM_RES_OTHER;
	}
	v = atomic_load_explicit(&shim_fd_tab[fd], memory_order_relaxed);
	if (v & FD_KNOWN) {
		kind = (v >> FD_KIND_SHIFT) & 0x7f;
		id = v & 0xffffff;
	} else {
		id = classify(fd, &kind);
	}
	if (kind_out)
		*kind_out = kind;
	return id;
}

unsigned shim_fd_kind(int fd)
{
	unsigned kind;
	shim_fd_res(fd, &kind);
	return kind;
}
