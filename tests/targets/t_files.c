/* SPDX-License-Identifier: MIT */
/* fd-level file calls with exact, known counts, each made from its own named
 * function: positioned and vectored I/O, seeks, dup2/F_DUPFD_CLOEXEC/dup
 * writes, a pipe, sendfile, the stat family and failing calls whose errno the
 * program prints (so a changed errno shows in stdout). Usage: t_files DIR */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

/* The fortified entry points, called directly (targets build without fortify). */
extern ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen);
extern int __open_2(const char *path, int flags);

static volatile int npw = 10, npr = 20, nvec = 5, nseek = 7, nstat = 6, nmiss = 3;
static char dir[512];

static const char *at(const char *name)
{
	static char buf[4][600];
	static int i;
	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "%s/%s", dir, name);
	return buf[i];
}

static void die(const char *what)
{
	printf("FAIL %s errno=%d\n", what, errno);
	exit(2);
}

void do_pwrites(int fd) /* 10 x 100 bytes */
{
	char b[100];
	memset(b, 'p', sizeof(b));
	for (int i = 0; i < npw; i++)
		if (pwrite(fd, b, sizeof(b), (off_t)i * 100) != 100)
			die("pwrite");
}

void do_preads(int fd) /* 20 x 50 bytes */
{
	char b[50];
	for (int i = 0; i < npr; i++)
		if (pread(fd, b, sizeof(b), (off_t)i * 50) != 50)
			die("pread");
}

void do_vectors(int fd) /* 5 writev of 30+70 at 1000, then 5 readv of 40+60 */
{
	char a[70], b[70];
	struct iovec iov[2];
	memset(a, 'v', sizeof(a));
	if (lseek(fd, 1000, SEEK_SET) != 1000)
		die("lseek");
	for (int i = 0; i < nvec; i++) {
		iov[0].iov_base = a, iov[0].iov_len = 30;
		iov[1].iov_base = a, iov[1].iov_len = 70;
		if (writev(fd, iov, 2) != 100)
			die("writev");
	}
	if (lseek(fd, 1000, SEEK_SET) != 1000)
		die("lseek");
	for (int i = 0; i < nvec; i++) {
		iov[0].iov_base = a, iov[0].iov_len = 40;
		iov[1].iov_base = b, iov[1].iov_len = 60;
		if (readv(fd, iov, 2) != 100)
			die("readv");
	}
}

void do_seeks(int fd) /* 7 lseek */
{
	for (int i = 0; i < nseek; i++)
		if (lseek(fd, i, SEEK_SET) != i)
			die("lseek");
}

/* One fstat of fd: a use that names it (in the table) whatever did the dup. */
void fstat_fd(int fd)
{
	struct stat st;
	if (fstat(fd, &st) != 0)
		die("fstat");
}

/* A stale entry for fd n: n names stale.txt in the fd table, then is closed
 * behind libc's back, as a program calling syscall(SYS_close) would. */
static void make_stale(int n)
{
	int o = open(at("stale.txt"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (o < 0 || (o != n && dup2(o, n) != n))
		die("stale");
	if (o != n)
		close(o);
	fstat_fd(n);
	syscall(SYS_close, n);
}

void write_dup2(int fd) /* 3 x 64 bytes through fd 50, dup2'd over a file */
{
	char b[64];
	int o = open(at("over.txt"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
	memset(b, 'd', sizeof(b));
	if (o < 0 || dup2(o, 50) != 50)
		die("dup2 over");
	close(o);
	fstat_fd(50);
	if (dup2(fd, 50) != 50) /* silently closes over.txt at 50 */
		die("dup2");
	close(fd);
	for (int i = 0; i < 3; i++)
		if (write(50, b, sizeof(b)) != 64)
			die("write dup2");
	close(50);
}

void write_dupfd(int fd) /* 4 x 25 bytes through an F_DUPFD_CLOEXEC copy at 60 */
{
	char b[25];
	int nfd;
	make_stale(60);
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, 60);
	memset(b, 'c', sizeof(b));
	if (nfd != 60)
		die("fcntl");
	close(fd);
	for (int i = 0; i < 4; i++)
		if (write(nfd, b, sizeof(b)) != 25)
			die("write dupfd");
	close(nfd);
}

void write_dup(int fd) /* 2 x 10 bytes through a dup() copy */
{
	int nfd, stale = open("/dev/null", O_RDONLY);
	if (stale < 0)
		die("open /dev/null");
	close(stale);
	make_stale(stale); /* the lowest free fd: the one dup() returns */
	nfd = dup(fd);
	if (nfd != stale)
		die("dup");
	close(fd);
	for (int i = 0; i < 2; i++)
		if (write(nfd, "0123456789", 10) != 10)
			die("write dup");
	close(nfd);
}

void pipe_io(void) /* 5 x 10 bytes into a pipe, 50 read back */
{
	int p[2], k = open("/dev/null", O_RDONLY);
	char b[50];
	if (k < 0)
		die("open /dev/null");
	close(k);
	make_stale(k + 1); /* both ends land on fds with stale entries */
	make_stale(k);
	if (pipe(p) != 0 || p[0] != k || p[1] != k + 1)
		die("pipe");
	for (int i = 0; i < 5; i++)
		if (write(p[1], "abcdefghij", 10) != 10)
			die("write pipe");
	if (read(p[0], b, sizeof(b)) != 50)
		die("read pipe");
	close(p[0]);
	close(p[1]);
}

void do_sendfile(int in, int out) /* 1000 bytes from in to out */
{
	off_t off = 0;
	if (sendfile(out, in, &off, 1000) != 1000)
		die("sendfile");
}

void do_stats(const char *path) /* 6 stat, 3 failed stat, 2 lstat, 4 fstat, 1 fstatat */
{
	struct stat st;
	int fd;
	for (int i = 0; i < nstat; i++)
		if (stat(path, &st) != 0)
			die("stat");
	for (int i = 0; i < nmiss; i++)
		if (stat(at("missing"), &st) == 0 || errno != ENOENT)
			die("stat missing");
	for (int i = 0; i < 2; i++)
		if (lstat(path, &st) != 0)
			die("lstat");
	fd = open(path, O_RDONLY);
	for (int i = 0; i < 4; i++)
		if (fstat(fd, &st) != 0)
			die("fstat");
	if (fstatat(AT_FDCWD, path, &st, 0) != 0)
		die("fstatat");
	close(fd);
}

void do_errors(void) /* read EBADF, open EISDIR and ENOTDIR, access ENOENT */
{
	char b[4];
	long r;

	errno = 0;
	r = read(-1, b, 1);
	printf("read(-1): %ld %s\n", r, strerror(errno));
	errno = 0;
	r = open(dir, O_WRONLY);
	printf("open(dir, O_WRONLY): %ld %s\n", r, strerror(errno));
	errno = 0;
	r = open(at("a.bin/x"), O_RDONLY);
	printf("open(file/x): %ld %s\n", r, strerror(errno));
	errno = 0;
	r = access(at("missing"), R_OK);
	printf("access(missing): %ld %s\n", r, strerror(errno));
	/* a success leaves errno as it was */
	errno = 12345;
	if (access(dir, R_OK) != 0)
		die("access");
	printf("errno after success: %d\n", errno);
}

void do_fortified(const char *path) /* 1 __open_2, 3 __read_chk of 10 bytes */
{
	char b[10];
	int fd = __open_2(path, O_RDONLY);
	if (fd < 0)
		die("__open_2");
	for (int i = 0; i < 3; i++)
		if (__read_chk(fd, b, sizeof(b), sizeof(b)) != 10)
			die("__read_chk");
	close(fd);
}

void do_namespace(void) /* 2 creat (1 ENOENT), mkdir, rename, unlink, rmdir */
{
	int fd;
	if (creat(at("sub/f"), 0600) >= 0 || errno != ENOENT)
		die("creat before mkdir");
	if (mkdir(at("sub"), 0700) != 0)
		die("mkdir");
	fd = creat(at("sub/f"), 0600);
	if (fd < 0)
		die("creat");
	close(fd);
	if (rename(at("sub/f"), at("sub/g")) != 0)
		die("rename");
	if (unlink(at("sub/g")) != 0)
		die("unlink");
	if (rmdir(at("sub")) != 0)
		die("rmdir");
}

int main(int argc, char **argv)
{
	int fd;
	if (argc < 2)
		return 1;
	snprintf(dir, sizeof(dir), "%s", argv[1]);

	fd = open(at("a.bin"), O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		die("open a.bin");
	do_pwrites(fd);
	do_preads(fd);
	do_vectors(fd);
	do_seeks(fd);
	if (fsync(fd) != 0 || fdatasync(fd) != 0 || ftruncate(fd, 1500) != 0)
		die("sync");

	write_dup2(open(at("dup2.txt"), O_WRONLY | O_CREAT | O_TRUNC, 0600));
	write_dupfd(open(at("dupfd.txt"), O_WRONLY | O_CREAT | O_TRUNC, 0600));
	write_dup(open(at("dup.txt"), O_WRONLY | O_CREAT | O_TRUNC, 0600));
	pipe_io();

	int out = open(at("copy.bin"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
	do_sendfile(fd, out);
	close(out);
	close(fd);

	do_stats(at("a.bin"));
	do_fortified(at("a.bin"));
	do_namespace();
	do_errors();
	printf("done\n");
	return 0;
}
