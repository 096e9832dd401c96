/* SPDX-License-Identifier: MIT */
/* Resolver calls with known results and no network: "localhost" (from
 * /etc/hosts) by getaddrinfo, gethostbyname and gethostbyname_r, a numeric
 * getnameinfo, and failing lookups of a name under .invalid. Prints every
 * return code, h_errno and errno so bare and shimmed runs can be compared. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#define BAD "shimmer-e2e-nonexistent.invalid"
#define SENTINEL EBADMSG /* errno before each call: what the call leaves is printed */

int lookup_localhost(void)
{
	struct addrinfo hints, *res = NULL;
	char host[64] = "";
	int rc, e, n = 0;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_INET;
	hints.ai_socktype = SOCK_STREAM;
	errno = SENTINEL;
	rc = getaddrinfo("localhost", "80", &hints, &res);
	e = errno;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next, n++)
		if (!n)
			inet_ntop(AF_INET, &((struct sockaddr_in *)ai->ai_addr)->sin_addr, host,
				  sizeof(host));
	printf("getaddrinfo localhost: rc=%d errno=%d first=%s\n", rc, e, host);
	if (res)
		freeaddrinfo(res);
	return rc;
}

int lookup_invalid(void)
{
	struct addrinfo *res = NULL;
	int rc, e;

	errno = SENTINEL;
	rc = getaddrinfo(BAD, NULL, NULL, &res);
	e = errno;
	printf("getaddrinfo %s: rc=%d (%s) errno=%d\n", BAD, rc, gai_strerror(rc), e);
	if (!rc)
		freeaddrinfo(res);
	return rc;
}

void by_name(void)
{
	char buf[2048];
	struct hostent he, *r = NULL, *h;
	int herr = 0, rc, e;

	errno = SENTINEL;
	h = gethostbyname("localhost");
	e = errno;
	printf("gethostbyname localhost: %s errno=%d\n", h ? h->h_name : "(null)", e);
	errno = SENTINEL;
	h = gethostbyname(BAD);
	e = errno;
	printf("gethostbyname %s: %s h_errno=%d errno=%d\n", BAD, h ? h->h_name : "(null)",
	       h_errno, e);
	errno = SENTINEL;
	rc = gethostbyname_r("localhost", &he, buf, sizeof(buf), &r, &herr);
	e = errno;
	printf("gethostbyname_r localhost: rc=%d %s herr=%d errno=%d\n", rc, r ? r->h_name : "(null)",
	       herr, e);
}

void name_of(void)
{
	struct sockaddr_in a;
	char host[64], serv[16];
	int rc, e;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons(8080);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	errno = SENTINEL;
	rc = getnameinfo((struct sockaddr *)&a, sizeof(a), host, sizeof(host), serv, sizeof(serv),
			 NI_NUMERICHOST | NI_NUMERICSERV);
	e = errno;
	printf("getnameinfo: rc=%d %s %s errno=%d\n", rc, host, serv, e);
}

int main(void)
{
	lookup_localhost();
	lookup_invalid();
	by_name();
	name_of();
	return 0;
}
