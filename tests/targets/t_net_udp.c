/* SPDX-License-Identifier: MIT */
/* UDP on loopback with exact byte counts: one sendmmsg of 4 datagrams (100,
 * 200, 300, 400 bytes) on a connected socket, one recvmmsg of all 4; then a
 * 50-byte sendto from an unconnected socket, a MSG_PEEK recv and a recvfrom.
 * argv[1] receives "RPORT SPORT" (receiver's and unconnected sender's ports). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define N 4

static int udp_bound(struct sockaddr_in *a)
{
	socklen_t len = sizeof(*a);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)a, sizeof(*a)) < 0 ||
	    getsockname(fd, (struct sockaddr *)a, &len) < 0)
		return -1;
	return fd;
}

int send_batch(int fd)
{
	static char data[N][400];
	struct mmsghdr m[N];
	struct iovec iov[N];
	memset(m, 0, sizeof(m));
	for (int i = 0; i < N; i++) {
		memset(data[i], 'a' + i, sizeof(data[i]));
		iov[i].iov_base = data[i];
		iov[i].iov_len = (size_t)(i + 1) * 100;
		m[i].msg_hdr.msg_iov = &iov[i];
		m[i].msg_hdr.msg_iovlen = 1;
	}
	return sendmmsg(fd, m, N, 0);
}

int recv_batch(int fd)
{
	static char data[N][1000];
	struct mmsghdr m[N];
	struct iovec iov[N];
	int total = 0, r;
	memset(m, 0, sizeof(m));
	for (int i = 0; i < N; i++) {
		iov[i].iov_base = data[i];
		iov[i].iov_len = sizeof(data[i]);
		m[i].msg_hdr.msg_iov = &iov[i];
		m[i].msg_hdr.msg_iovlen = 1;
	}
	r = recvmmsg(fd, m, N, 0, NULL);
	for (int i = 0; i < r; i++)
		total += (int)m[i].msg_len;
	return r == N ? total : -1;
}

int main(int argc, char **argv)
{
	struct sockaddr_in ra, sa, from;
	socklen_t flen = sizeof(from), slen = sizeof(sa);
	char buf[100];
	int rfd = udp_bound(&ra), cfd, ufd, got, peeked;
	FILE *f;

	cfd = socket(AF_INET, SOCK_DGRAM, 0);
	ufd = socket(AF_INET, SOCK_DGRAM, 0);
	if (rfd < 0 || cfd < 0 || ufd < 0 ||
	    connect(cfd, (struct sockaddr *)&ra, sizeof(ra)) < 0)
		return 1;
	if (send_batch(cfd) != N || (got = recv_batch(rfd)) != 1000)
		return 2;
	memset(buf, 'u', sizeof(buf));
	if (sendto(ufd, buf, 50, 0, (struct sockaddr *)&ra, sizeof(ra)) != 50)
		return 3;
	peeked = (int)recv(rfd, buf, sizeof(buf), MSG_PEEK);
	if (peeked != 50 ||
	    recvfrom(rfd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &flen) != 50)
		return 4;
	if (getsockname(ufd, (struct sockaddr *)&sa, &slen) < 0)
		return 5;
	if (argc > 1 && (f = fopen(argv[1], "w"))) {
		fprintf(f, "%d %d\n", ntohs(ra.sin_port), ntohs(sa.sin_port));
		fclose(f);
	}
	printf("batch %d single %d peeked %d\n", got, 50, peeked);
	close(rfd);
	close(cfd);
	close(ufd);
	return 0;
}
