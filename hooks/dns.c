/* SPDX-License-Identifier: MIT */
/* DNS family: the resolver entry points, each lookup timed and attributed to a
 * "dns" resource named by the looked-up host (or address, for reverse
 * lookups). Leaves errno and h_errno as the real call left them; never
 * formats with stdio, allocates or locks. */
#include <arpa/inet.h>
#include <netdb.h>
#include <string.h>
#include <sys/socket.h>

#include "../shim/span.h"
#include "hook.h"

SHIM_REAL_DECL(getaddrinfo);
SHIM_REAL_DECL(freeaddrinfo);
SHIM_REAL_DECL(gethostbyname);
SHIM_REAL_DECL(gethostbyname2);
SHIM_REAL_DECL(gethostbyname_r);
SHIM_REAL_DECL(gethostbyname2_r);
SHIM_REAL_DECL(gethostbyaddr);
SHIM_REAL_DECL(gethostbyaddr_r);
SHIM_REAL_DECL(getnameinfo);

#define DNS SHIM_FAM(DNS)

/* The dns resource for host name s (NULL: a passive/local lookup). */
static uint32_t host_res(const char *s)
{
	if (!s)
		return shim_res_intern(SHIM_KIND_DNS, "(null)", 6);
	return shim_res_intern(SHIM_KIND_DNS, s, strnlen(s, SHIM_RES_NAME + 1));
}

/* The dns resource for a reverse lookup of address a (family af, len bytes):
 * the address in its numeric form ("127.0.0.1", "::1"). */
static uint32_t addr_res(const void *a, size_t len, int af)
{
	char buf[INET6_ADDRSTRLEN];

	if (a && ((af == AF_INET && len >= 4) || (af == AF_INET6 && len >= 16)) &&
	    inet_ntop(af, a, buf, sizeof(buf)))
		return shim_res_intern(SHIM_KIND_DNS, buf, strlen(buf));
	return shim_res_intern(SHIM_KIND_DNS, "(other address)", 15);
}

/* Errors. These calls do not fail through errno, so the error recorded is:
 *   - getaddrinfo/getnameinfo: their EAI_* return value as is (negative, so it
 *     cannot be mistaken for an errno; profile.txt prints it as "EAI_NONAME"),
 *     except EAI_SYSTEM, recorded as the errno it stands for when there is one;
 *   - gethostby*: h_errno mapped to the EAI code glibc itself maps it to
 *     (HOST_NOT_FOUND -> EAI_NONAME, TRY_AGAIN -> EAI_AGAIN, NO_RECOVERY ->
 *     EAI_FAIL, NO_DATA -> EAI_NODATA; NETDB_INTERNAL -> errno);
 *   - gethostby*_r returning nonzero (ERANGE...): that errno value. */

/* The error to record for an EAI_* return. */
static int eai_err(int rc, int e)
{
	if (rc == EAI_SYSTEM && e > 0)
		return e;
	return rc;
}

/* The error to record for an h_errno value. */
static int herr_err(int h, int e)
{
	switch (h) {
	case HOST_NOT_FOUND:
		return EAI_NONAME;
	case TRY_AGAIN:
		return EAI_AGAIN;
	case NO_RECOVERY:
		return EAI_FAIL;
	case NO_DATA:
		return EAI_NODATA;
	default:
		return e > 0 ? e : EAI_SYSTEM;
	}
}

/* The error of a gethostby*_r call: its return value, else h_errno when it
 * found nothing. */
static int r_err(int rc, struct hostent **result, int *herr, int e)
{
	if (rc)
		return rc;
	if (result && *result)
		return 0;
	return herr_err(herr ? *herr : NETDB_INTERNAL, e);
}

/* Answers of a lookup, for its span: the addresses of a result list. */
static int ai_count(const struct addrinfo *ai)
{
	int n = 0;
	for (; ai && n < 1000; ai = ai->ai_next)
		n++;
	return n;
}

static int he_count(const struct hostent *h)
{
	int n = 0;
	for (char **a = h ? h->h_addr_list : NULL; a && *a && n < 1000; a++)
		n++;
	return n;
}

/* getaddrinfo(3): against the node looked up; the error is its EAI code. */
SHIM_EXPORT int getaddrinfo(const char *__restrict node, const char *__restrict service,
			    const struct addrinfo *__restrict hints,
			    struct addrinfo **__restrict res)
{
	uint32_t id;
	int r, e;

	HOOK_PRE(getaddrinfo, DNS, EAI_SYSTEM, (node, service, hints, res));
	id = host_res(node);
	hook_t0 = shim_clock_now();
	r = real_getaddrinfo(node, service, hints, res);
	e = errno;
	shim_span_dns(SHIM_FN_getaddrinfo, hook_t0, id, r ? eai_err(r, e) : 0,
		      r == 0 && res ? ai_count(*res) : 0, r == 0 && res ? *res : NULL);
	HOOK_REC_RES(getaddrinfo, -1, r ? eai_err(r, e) : 0, id);
	HOOK_RETURN(r, e);
}

/* freeaddrinfo(3): counted, no resource. */
SHIM_EXPORT void freeaddrinfo(struct addrinfo *ai)
{
	int e;

	if (!SHIM_RESOLVE(freeaddrinfo))
		return;
	if (!shim_enter(DNS)) {
		real_freeaddrinfo(ai);
		return;
	}
	uint64_t hook_t0 = shim_clock_now();
	real_freeaddrinfo(ai);
	e = errno;
	HOOK_REC(freeaddrinfo, -1, 0, -1);
	shim_leave();
	errno = e;
}

/* gethostbyname(3): against the name; the error is h_errno's EAI twin. */
SHIM_EXPORT struct hostent *gethostbyname(const char *name)
{
	struct hostent *r;
	uint32_t id;
	int e;

	HOOK_PRE(gethostbyname, DNS, NULL, (name));
	id = host_res(name);
	hook_t0 = shim_clock_now();
	r = real_gethostbyname(name);
	e = errno;
	shim_span_dns(SHIM_FN_gethostbyname, hook_t0, id, r ? 0 : herr_err(h_errno, e), he_count(r),
		      NULL);
	HOOK_REC_RES(gethostbyname, -1, r ? 0 : herr_err(h_errno, e), id);
	HOOK_RETURN(r, e);
}

/* gethostbyname2(3): as gethostbyname. */
SHIM_EXPORT struct hostent *gethostbyname2(const char *name, int af)
{
	struct hostent *r;
	uint32_t id;
	int e;

	HOOK_PRE(gethostbyname2, DNS, NULL, (name, af));
	id = host_res(name);
	hook_t0 = shim_clock_now();
	r = real_gethostbyname2(name, af);
	e = errno;
	shim_span_dns(SHIM_FN_gethostbyname2, hook_t0, id, r ? 0 : herr_err(h_errno, e), he_count(r),
		      NULL);
	HOOK_REC_RES(gethostbyname2, -1, r ? 0 : herr_err(h_errno, e), id);
	HOOK_RETURN(r, e);
}

/* gethostbyname_r(3): the error is its return value, else *h_errnop's. */
SHIM_EXPORT int gethostbyname_r(const char *__restrict name, struct hostent *__restrict ret,
				char *__restrict buf, size_t buflen,
				struct hostent **__restrict result, int *__restrict herr)
{
	uint32_t id;
	int r, e;

	HOOK_PRE(gethostbyname_r, DNS, ENOSYS, (name, ret, buf, buflen, result, herr));
	id = host_res(name);
	hook_t0 = shim_clock_now();
	r = real_gethostbyname_r(name, ret, buf, buflen, result, herr);
	e = errno;
	shim_span_dns(SHIM_FN_gethostbyname_r, hook_t0, id, r_err(r, result, herr, e),
		      result && !r ? he_count(*result) : 0, NULL);
	HOOK_REC_RES(gethostbyname_r, -1, r_err(r, result, herr, e), id);
	HOOK_RETURN(r, e);
}

/* gethostbyname2_r(3): as gethostbyname_r. */
SHIM_EXPORT int gethostbyname2_r(const char *__restrict name, int af,
				 struct hostent *__restrict ret, char *__restrict buf,
				 size_t buflen, struct hostent **__restrict result,
				 int *__restrict herr)
{
	uint32_t id;
	int r, e;

	HOOK_PRE(gethostbyname2_r, DNS, ENOSYS, (name, af, ret, buf, buflen, result, herr));
	id = host_res(name);
	hook_t0 = shim_clock_now();
	r = real_gethostbyname2_r(name, af, ret, buf, buflen, result, herr);
	e = errno;
	shim_span_dns(SHIM_FN_gethostbyname2_r, hook_t0, id, r_err(r, result, herr, e),
		      result && !r ? he_count(*result) : 0, NULL);
	HOOK_REC_RES(gethostbyname2_r, -1, r_err(r, result, herr, e), id);
	HOOK_RETURN(r, e);
}

/* gethostbyaddr(3): against the address looked up. */
SHIM_EXPORT struct hostent *gethostbyaddr(const void *addr, socklen_t len, int type)
{
	struct hostent *r;
	uint32_t id;
	int e;

	HOOK_PRE(gethostbyaddr, DNS, NULL, (addr, len, type));
	id = addr_res(addr, len, type);
	hook_t0 = shim_clock_now();
	r = real_gethostbyaddr(addr, len, type);
	e = errno;
	shim_span_dns(SHIM_FN_gethostbyaddr, hook_t0, id, r ? 0 : herr_err(h_errno, e), he_count(r),
		      NULL);
	HOOK_REC_RES(gethostbyaddr, -1, r ? 0 : herr_err(h_errno, e), id);
	HOOK_RETURN(r, e);
}

/* gethostbyaddr_r(3): as gethostbyname_r, against the address. */
SHIM_EXPORT int gethostbyaddr_r(const void *__restrict addr, socklen_t len, int type,
				struct hostent *__restrict ret, char *__restrict buf,
				size_t buflen, struct hostent **__restrict result,
				int *__restrict herr)
{
	uint32_t id;
	int r, e;

	HOOK_PRE(gethostbyaddr_r, DNS, ENOSYS, (addr, len, type, ret, buf, buflen, result, herr));
	id = addr_res(addr, len, type);
	hook_t0 = shim_clock_now();
	r = real_gethostbyaddr_r(addr, len, type, ret, buf, buflen, result, herr);
	e = errno;
	shim_span_dns(SHIM_FN_gethostbyaddr_r, hook_t0, id, r_err(r, result, herr, e),
		      result && !r ? he_count(*result) : 0, NULL);
	HOOK_REC_RES(gethostbyaddr_r, -1, r_err(r, result, herr, e), id);
	HOOK_RETURN(r, e);
}

/* getnameinfo(3): against the address looked up; the error is its EAI code. */
SHIM_EXPORT int getnameinfo(const struct sockaddr *__restrict sa, socklen_t salen,
			    char *__restrict host, socklen_t hostlen, char *__restrict serv,
			    socklen_t servlen, int flags)
{
	uint32_t id;
	int r, e;

	HOOK_PRE(getnameinfo, DNS, EAI_SYSTEM, (sa, salen, host, hostlen, serv, servlen, flags));
	if (sa && sa->sa_family == AF_INET && salen >= sizeof(struct sockaddr_in))
		id = addr_res(&((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4,
			      AF_INET);
	else if (sa && sa->sa_family == AF_INET6 && salen >= sizeof(struct sockaddr_in6))
		id = addr_res(&((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, 16,
			      AF_INET6);
	else
		id = addr_res(NULL, 0, AF_UNSPEC);
	hook_t0 = shim_clock_now();
	r = real_getnameinfo(sa, salen, host, hostlen, serv, servlen, flags);
	e = errno;
	shim_span_dns(SHIM_FN_getnameinfo, hook_t0, id, r ? eai_err(r, e) : 0, r == 0, NULL);
	HOOK_REC_RES(getnameinfo, -1, r ? eai_err(r, e) : 0, id);
	HOOK_RETURN(r, e);
}
