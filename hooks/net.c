/* SPDX-License-Identifier: MIT */
/* Network family: socket set-up (naming each socket by its peer or local
 * address in the fd table), the send and receive calls with their byte counts,
 * and poll/select/epoll timed as waiting. read/write/close on sockets belong to
 * hooks/file.c. Records only: no malloc, no stdio, no locks, raw syscalls. */
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "../shim/span.h"
#include "hook.h"

/* Fortified twins: declared by glibc only under _FORTIFY_SOURCE. */
extern ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags);
extern ssize_t __recvfrom_chk(int fd, void *__restrict buf, size_t n, size_t buflen, int flags,
			      __SOCKADDR_ARG addr, socklen_t *__restrict addr_len);
extern int __poll_chk(struct pollfd *fds, nfds_t nfds, int timeout, size_t fdslen);
extern int __ppoll_chk(struct pollfd *fds, nfds_t nfds, const struct timespec *timeout,
		       const __sigset_t *ss, size_t fdslen);

SHIM_REAL_DECL(socket);
SHIM_REAL_DECL(socketpair);
SHIM_REAL_DECL(connect);
SHIM_REAL_DECL(accept);
SHIM_REAL_DECL(accept4);
SHIM_REAL_DECL(bind);
SHIM_REAL_DECL(listen);
SHIM_REAL_DECL(shutdown);
SHIM_REAL_DECL(sendto);
SHIM_REAL_DECL(sendmsg);
SHIM_REAL_DECL(sendmmsg);
SHIM_REAL_DECL(recvfrom);
SHIM_REAL_DECL(__recvfrom_chk);
SHIM_REAL_DECL(recvmsg);
SHIM_REAL_DECL(recvmmsg);
SHIM_REAL_DECL(poll);
SHIM_REAL_DECL(__poll_chk);
SHIM_REAL_DECL(ppoll);
SHIM_REAL_DECL(__ppoll_chk);
SHIM_REAL_DECL(select);
SHIM_REAL_DECL(pselect);
SHIM_REAL_DECL(epoll_wait);
SHIM_REAL_DECL(epoll_pwait);
SHIM_REAL_DECL(epoll_pwait2);

#define NET SHIM_FAM(NET)
#define NO_RES UINT32_MAX
/* With _GNU_SOURCE glibc passes socket addresses as a transparent union. */
#define SA(a) ((const struct sockaddr *)(a).__sockaddr__)

/* Record against resource res when there is one, else against fd's own. */
#define REC(fn, bytes, err, res, fd)                                                               \
	((res) != NO_RES ? HOOK_REC_RES(fn, bytes, err, res) : HOOK_REC(fn, bytes, err, fd))

/* Restart the clock after work done before the real call, so a call's time
 * is the real call's alone. */
#define RESTART_CLOCK() (hook_t0 = shim_clock_now())

/* Reads that leave the data queued (MSG_PEEK) or read the error queue are
 * counted as calls but not as bytes: the next read counts the same bytes. */
/* A receive with these flags moves no bytes: a peek, the error queue. */
#define NOBYTES(flags) (((flags) & (MSG_PEEK | MSG_ERRQUEUE)) != 0)

static inline int64_t rbytes(ssize_t r, int flags)
{
	return NOBYTES(flags) ? -1 : (int64_t)r;
}

/* SOCK_STREAM or SOCK_DGRAM of fd, from the name we gave it ("tcp ...", "udp
 * ...") or else from the kernel; 0 when unknown. */
static int sock_type(int fd)
{
	unsigned kind;
	uint32_t id = shim_fd_res(fd, &kind);
	const struct shim_resource *r = shim_res_get(id);
	int type = 0;
	socklen_t tl = sizeof(type);

	if (r && kind == SHIM_KIND_SOCKET && r->len > 4) {
		if (memcmp(r->name, "tcp ", 4) == 0)
			return SOCK_STREAM;
		if (memcmp(r->name, "udp ", 4) == 0)
			return SOCK_DGRAM;
	}
	if (syscall(SYS_getsockopt, fd, SOL_SOCKET, SO_TYPE, &type, &tl) != 0)
		return 0;
	return type;
}

/* The resource named by address sa ("tcp 127.0.0.1:80"), with `word` put
 * after the protocol when not NULL ("tcp listen 0.0.0.0:80"). NO_RES when the
 * address cannot be named. */
static uint32_t addr_res(const struct sockaddr *sa, socklen_t len, int type, const char *word)
{
	char tmp[SHIM_RES_NAME + 1], out[SHIM_RES_NAME + 1];
	size_t n = shim_addr_format(sa, len, type, tmp, sizeof(tmp)), sp, wl, o;

	if (!n || sa->sa_family == AF_UNSPEC)
		return NO_RES;
	if (!word)
		return shim_res_intern(SHIM_KIND_SOCKET, tmp, n);
	for (sp = 0; sp < n && tmp[sp] != ' '; sp++)
		;
	wl = strlen(word);
	if (sp + 1 + wl + (n - sp) >= sizeof(out))
		return shim_res_intern(SHIM_KIND_SOCKET, tmp, n);
	memcpy(out, tmp, sp);
	out[sp] = ' ';
	memcpy(out + sp + 1, word, wl);
	o = sp + 1 + wl;
	memcpy(out + o, tmp + sp, n - sp);
	return shim_res_intern(SHIM_KIND_SOCKET, out, o + n - sp);
}

/* Name fd by its own (local) address, as the kernel reports it. */
static void name_local(int fd, const char *word)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	uint32_t id;

	if (syscall(SYS_getsockname, fd, &ss, &sl) != 0)
		return;
	id = addr_res((const struct sockaddr *)&ss, sl, sock_type(fd), word);
	if (id != NO_RES)
		shim_fd_set(fd, SHIM_KIND_SOCKET, id);
}

/* The peer or source address a call reported back: an address of
 * caller-given capacity cap that the kernel says is *len long. */
static uint32_t reported_res(int fd, const struct sockaddr *sa, socklen_t cap, socklen_t len)
{
	int type;

	if (!sa || len == 0 || cap == 0)
		return NO_RES;
	type = sock_type(fd);
	if (type == SOCK_STREAM) /* a stream's peer is the fd's own name */
		return NO_RES;
	return addr_res(sa, len < cap ? len : cap, type, NULL);
}

static const char *unconnected_name(int domain, int type)
{
	type &= ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (domain == AF_UNIX)
		return "unix (unconnected)";
	if (domain != AF_INET && domain != AF_INET6)
		return "socket (unconnected)";
	return type == SOCK_STREAM  ? "tcp (unconnected)"
	       : type == SOCK_DGRAM ? "udp (unconnected)"
				    : "ip (unconnected)";
}

/* socket(2): the new fd is a socket named "tcp (unconnected)" until it is
 * connected, bound or listening. Same result and errno as libc's. */
SHIM_EXPORT int socket(int domain, int type, int protocol)
{
	int r, e;

	HOOK_PRE(socket, NET, -1, (domain, type, protocol));
	r = real_socket(domain, type, protocol);
	e = errno;
	if (r >= 0)
		shim_fd_set_path(r, SHIM_KIND_SOCKET, unconnected_name(domain, type));
	HOOK_REC(socket, -1, r < 0 ? e : 0, r);
	HOOK_RETURN(r, e);
}

/* socketpair(2): both fds are "unix socketpair". */
SHIM_EXPORT int socketpair(int domain, int type, int protocol, int sv[2])
{
	int r, e;

	HOOK_PRE(socketpair, NET, -1, (domain, type, protocol, sv));
	r = real_socketpair(domain, type, protocol, sv);
	e = errno;
	if (r == 0) {
		shim_fd_set_path(sv[0], SHIM_KIND_SOCKET, "unix socketpair");
		shim_fd_set_path(sv[1], SHIM_KIND_SOCKET, "unix socketpair");
	}
	HOOK_REC(socketpair, -1, r < 0 ? e : 0, r == 0 ? sv[0] : -1);
	HOOK_RETURN(r, e);
}

/* connect(2): counted against the peer, failed or not; a connected (or
 * connecting: EINPROGRESS) socket is named by its peer from now on. */
SHIM_EXPORT int connect(int fd, __CONST_SOCKADDR_ARG addr, socklen_t len)
{
	uint32_t res;
	int r, e;

	HOOK_PRE(connect, NET, -1, (fd, addr, len));
	res = SA(addr) ? addr_res(SA(addr), len, sock_type(fd), NULL) : NO_RES;
	RESTART_CLOCK();
	r = real_connect(fd, addr, len);
	e = errno;
	if (res != NO_RES && (r == 0 || e == EINPROGRESS))
		shim_fd_set(fd, SHIM_KIND_SOCKET, res);
	shim_span_connect(fd, hook_t0, SA(addr), len, res != NO_RES ? res : shim_fd_res(fd, NULL),
			  r < 0 ? e : 0);
	REC(connect, -1, r < 0 ? e : 0, res, fd);
	HOOK_RETURN(r, e);
}

/* The accepted fd is named by its peer: the address the caller asked for
 * when it fit, else the kernel's getpeername. An unnamed unix peer (the usual
 * client) is named by the path it came in on: "unix accepted /run/x.sock". */
static void accepted(int lfd, int fd, const struct sockaddr *sa, socklen_t cap, socklen_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	uint32_t id;

	if (fd < 0)
		return;
	if (!sa || len == 0 || len > cap) {
		if (syscall(SYS_getpeername, fd, &ss, &sl) != 0)
			return;
		sa = (const struct sockaddr *)&ss;
		len = sl;
	}
	if (sa->sa_family == AF_UNIX && len <= offsetof(struct sockaddr_un, sun_path)) {
		sl = sizeof(ss);
		if (syscall(SYS_getsockname, fd, &ss, &sl) != 0)
			return;
		id = addr_res((const struct sockaddr *)&ss, sl, 0, "accepted");
	} else {
		id = addr_res(sa, len, sock_type(lfd), NULL);
	}
	if (id != NO_RES)
		shim_fd_set(fd, SHIM_KIND_SOCKET, id);
}

/* accept(2): counted against the listening socket. */
SHIM_EXPORT int accept(int fd, __SOCKADDR_ARG addr, socklen_t *__restrict len)
{
	socklen_t cap = len ? *len : 0;
	int r, e;

	HOOK_PRE(accept, NET, -1, (fd, addr, len));
	r = real_accept(fd, addr, len);
	e = errno;
	accepted(fd, r, SA(addr), cap, len && r >= 0 ? *len : 0);
	shim_span_accept(fd, r, hook_t0);
	HOOK_REC(accept, -1, r < 0 ? e : 0, fd);
	HOOK_RETURN(r, e);
}

/* accept4(2): as accept. */
SHIM_EXPORT int accept4(int fd, __SOCKADDR_ARG addr, socklen_t *__restrict len, int flags)
{
	socklen_t cap = len ? *len : 0;
	int r, e;

	HOOK_PRE(accept4, NET, -1, (fd, addr, len, flags));
	r = real_accept4(fd, addr, len, flags);
	e = errno;
	accepted(fd, r, SA(addr), cap, len && r >= 0 ? *len : 0);
	shim_span_accept(fd, r, hook_t0);
	HOOK_REC(accept4, -1, r < 0 ? e : 0, fd);
	HOOK_RETURN(r, e);
}

/* bind(2): a bound socket is "udp bound 0.0.0.0:5353" (the kernel's port
 * when the caller asked for port 0) until it connects or listens. */
SHIM_EXPORT int bind(int fd, __CONST_SOCKADDR_ARG addr, socklen_t len)
{
	int r, e;

	HOOK_PRE(bind, NET, -1, (fd, addr, len));
	r = real_bind(fd, addr, len);
	e = errno;
	if (r == 0)
		name_local(fd, "bound");
	HOOK_REC(bind, -1, r < 0 ? e : 0, fd);
	HOOK_RETURN(r, e);
}

/* listen(2): a listening socket is "tcp listen 0.0.0.0:8000". */
SHIM_EXPORT int listen(int fd, int backlog)
{
	int r, e;

	HOOK_PRE(listen, NET, -1, (fd, backlog));
	r = real_listen(fd, backlog);
	e = errno;
	if (r == 0)
		name_local(fd, "listen");
	HOOK_REC(listen, -1, r < 0 ? e : 0, fd);
	HOOK_RETURN(r, e);
}

/* shutdown(2). */
SHIM_EXPORT int shutdown(int fd, int how)
{
	int r, e;

	HOOK_PRE(shutdown, NET, -1, (fd, how));
	r = real_shutdown(fd, how);
	e = errno;
	HOOK_REC(shutdown, -1, r < 0 ? e : 0, fd);
	HOOK_RETURN(r, e);
}

/* send(2): bytes sent, against the socket's peer. */
SHIM_REAL_STUB(send, ssize_t, -1, (int fd, const void *buf, size_t n, int flags),
	       (fd, buf, n, flags));
HOOK_TIMED_NS(send, ssize_t, fd, 0, (int fd, const void *buf, size_t n, int flags),
	     (fd, buf, n, flags), 0)
SHIM_EXPORT ssize_t send(int fd, const void *buf, size_t n, int flags)
{
	HOOK_TIMED(send, NET, fd, 0, (fd, buf, n, flags), 0);
}

/* sendto(2): against the destination when one is given (unconnected
 * datagrams; TCP Fast Open), else the socket's peer. */
SHIM_EXPORT ssize_t sendto(int fd, const void *buf, size_t n, int flags, __CONST_SOCKADDR_ARG addr,
			   socklen_t len)
{
	uint32_t res = NO_RES;
	ssize_t r;
	int e;

	HOOK_PRE(sendto, NET, -1, (fd, buf, n, flags, addr, len));
	if (SA(addr) && len) {
		res = addr_res(SA(addr), len, sock_type(fd), NULL);
		RESTART_CLOCK();
	}
	r = real_sendto(fd, buf, n, flags, addr, len);
	e = errno;
	/* TCP Fast Open: this sendto is the connect */
	if ((flags & MSG_FASTOPEN) && res != NO_RES && (r >= 0 || e == EINPROGRESS))
		shim_fd_set(fd, SHIM_KIND_SOCKET, res);
	REC(sendto, r, r < 0 ? e : 0, res, fd);
	HOOK_RETURN(r, e);
}

/* sendmsg(2): as sendto, the destination being msg_name. */
SHIM_EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	uint32_t res = NO_RES;
	ssize_t r;
	int e;

	HOOK_PRE(sendmsg, NET, -1, (fd, msg, flags));
	if (msg && msg->msg_name && msg->msg_namelen) {
		res = addr_res(msg->msg_name, msg->msg_namelen, sock_type(fd), NULL);
		RESTART_CLOCK();
	}
	r = real_sendmsg(fd, msg, flags);
	e = errno;
	if ((flags & MSG_FASTOPEN) && res != NO_RES && (r >= 0 || e == EINPROGRESS))
		shim_fd_set(fd, SHIM_KIND_SOCKET, res);
	REC(sendmsg, r, r < 0 ? e : 0, res, fd);
	HOOK_RETURN(r, e);
}

/* Bytes of the first n messages of v (what sendmmsg/recvmmsg moved). */
static int64_t mmsg_bytes(const struct mmsghdr *v, int n)
{
	int64_t b = 0;
	for (int i = 0; i < n; i++)
		b += v[i].msg_len;
	return b;
}

/* sendmmsg(2): the bytes of the messages sent (the returned count). */
SHIM_EXPORT int sendmmsg(int fd, struct mmsghdr *v, unsigned int vlen, int flags)
{
	int r, e;

	HOOK_PRE(sendmmsg, NET, -1, (fd, v, vlen, flags));
	r = real_sendmmsg(fd, v, vlen, flags);
	e = errno;
	HOOK_REC(sendmmsg, r > 0 ? mmsg_bytes(v, r) : 0, r < 0 ? e : 0, fd);
	HOOK_RETURN(r, e);
}

/* recv(2): bytes received, against the socket's peer; MSG_PEEK counts the
 * call only. */
SHIM_REAL_STUB(recv, ssize_t, -1, (int fd, void *buf, size_t n, int flags), (fd, buf, n, flags));
HOOK_TIMED_NS(recv, ssize_t, fd, 0, (int fd, void *buf, size_t n, int flags), (fd, buf, n, flags),
	     NOBYTES(flags))
SHIM_EXPORT ssize_t recv(int fd, void *buf, size_t n, int flags)
{
	HOOK_TIMED(recv, NET, fd, 0, (fd, buf, n, flags), NOBYTES(flags));
}

/* __recv_chk: the fortified recv (aborts like libc's when buflen < n). */
SHIM_REAL_STUB(__recv_chk, ssize_t, -1, (int fd, void *buf, size_t n, size_t buflen, int flags),
	       (fd, buf, n, buflen, flags));
HOOK_TIMED_NS(__recv_chk, ssize_t, fd, 0, (int fd, void *buf, size_t n, size_t buflen, int flags),
	     (fd, buf, n, buflen, flags), NOBYTES(flags))
SHIM_EXPORT ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags)
{
	HOOK_TIMED(__recv_chk, NET, fd, 0, (fd, buf, n, buflen, flags), NOBYTES(flags));
}

/* recvfrom(2): against the source address the kernel reported for a
 * datagram socket, else the socket's peer. */
SHIM_EXPORT ssize_t recvfrom(int fd, void *__restrict buf, size_t n, int flags,
			     __SOCKADDR_ARG addr, socklen_t *__restrict len)
{
	socklen_t cap = len ? *len : 0;
	uint32_t res = NO_RES;
	ssize_t r;
	int e;

	HOOK_PRE(recvfrom, NET, -1, (fd, buf, n, flags, addr, len));
	r = real_recvfrom(fd, buf, n, flags, addr, len);
	e = errno;
	if (r >= 0 && len)
		res = reported_res(fd, SA(addr), cap, *len);
	REC(recvfrom, rbytes(r, flags), r < 0 ? e : 0, res, fd);
	HOOK_RETURN(r, e);
}

/* __recvfrom_chk: the fortified recvfrom. */
SHIM_EXPORT ssize_t __recvfrom_chk(int fd, void *__restrict buf, size_t n, size_t buflen,
				   int flags, __SOCKADDR_ARG addr, socklen_t *__restrict len)
{
	socklen_t cap = len ? *len : 0;
	uint32_t res = NO_RES;
	ssize_t r;
	int e;

	HOOK_PRE(__recvfrom_chk, NET, -1, (fd, buf, n, buflen, flags, addr, len));
	r = real___recvfrom_chk(fd, buf, n, buflen, flags, addr, len);
	e = errno;
	if (r >= 0 && len)
		res = reported_res(fd, SA(addr), cap, *len);
	REC(__recvfrom_chk, rbytes(r, flags), r < 0 ? e : 0, res, fd);
	HOOK_RETURN(r, e);
}

/* recvmsg(2): as recvfrom, the source being msg_name. */
SHIM_EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	socklen_t cap = msg ? msg->msg_namelen : 0;
	uint32_t res = NO_RES;
	ssize_t r;
	int e;

	HOOK_PRE(recvmsg, NET, -1, (fd, msg, flags));
	r = real_recvmsg(fd, msg, flags);
	e = errno;
	if (r >= 0 && msg)
		res = reported_res(fd, msg->msg_name, cap, msg->msg_namelen);
	REC(recvmsg, rbytes(r, flags), r < 0 ? e : 0, res, fd);
	HOOK_RETURN(r, e);
}

/* recvmmsg(2): the bytes of the messages received (the returned count);
 * MSG_PEEK counts the call only. */
SHIM_EXPORT int recvmmsg(int fd, struct mmsghdr *v, unsigned int vlen, int flags,
			 struct timespec *timeout)
{
	int r, e;

	HOOK_PRE(recvmmsg, NET, -1, (fd, v, vlen, flags, timeout));
	r = real_recvmmsg(fd, v, vlen, flags, timeout);
	e = errno;
	HOOK_REC(recvmmsg, r > 0 ? rbytes(mmsg_bytes(v, r), flags) : 0, r < 0 ? e : 0, fd);
	HOOK_RETURN(r, e);
}

/* The waits: timed, no bytes, no resource. Same result and errno as libc. */
#define WAIT_HOOK(name, ret, params, args)                                                         \
	SHIM_EXPORT ret name params                                                                \
	{                                                                                          \
		ret r;                                                                             \
		int e;                                                                             \
		HOOK_PRE(name, NET, -1, args);                                                     \
		r = real_##name args;                                                              \
		e = errno;                                                                         \
		HOOK_REC(name, -1, r < 0 ? e : 0, -1);                                             \
		HOOK_RETURN(r, e);                                                                 \
	}

/* poll(2) */
WAIT_HOOK(poll, int, (struct pollfd * fds, nfds_t nfds, int timeout), (fds, nfds, timeout))

/* __poll_chk: the fortified poll. */
WAIT_HOOK(__poll_chk, int, (struct pollfd * fds, nfds_t nfds, int timeout, size_t fdslen),
	  (fds, nfds, timeout, fdslen))

/* ppoll(2) */
WAIT_HOOK(ppoll, int,
	  (struct pollfd * fds, nfds_t nfds, const struct timespec *timeout, const sigset_t *ss),
	  (fds, nfds, timeout, ss))

/* __ppoll_chk: the fortified ppoll. */
WAIT_HOOK(__ppoll_chk, int,
	  (struct pollfd * fds, nfds_t nfds, const struct timespec *timeout, const __sigset_t *ss,
	   size_t fdslen),
	  (fds, nfds, timeout, ss, fdslen))

/* select(2) */
WAIT_HOOK(select, int,
	  (int nfds, fd_set *__restrict rfds, fd_set *__restrict wfds, fd_set *__restrict xfds,
	   struct timeval *__restrict timeout),
	  (nfds, rfds, wfds, xfds, timeout))

/* pselect(2) */
WAIT_HOOK(pselect, int,
	  (int nfds, fd_set *__restrict rfds, fd_set *__restrict wfds, fd_set *__restrict xfds,
	   const struct timespec *__restrict timeout, const __sigset_t *__restrict ss),
	  (nfds, rfds, wfds, xfds, timeout, ss))

/* epoll_wait(2) */
WAIT_HOOK(epoll_wait, int, (int epfd, struct epoll_event *ev, int maxev, int timeout),
	  (epfd, ev, maxev, timeout))

/* epoll_pwait(2) */
WAIT_HOOK(epoll_pwait, int,
	  (int epfd, struct epoll_event *ev, int maxev, int timeout, const __sigset_t *ss),
	  (epfd, ev, maxev, timeout, ss))

/* epoll_pwait2(2) */
WAIT_HOOK(epoll_pwait2, int,
	  (int epfd, struct epoll_event *ev, int maxev, const struct timespec *timeout,
	   const __sigset_t *ss),
	  (epfd, ev, maxev, timeout, ss))
