/* SPDX-License-Identifier: MIT */
/* A long-running target with known counts for the metrics tests. Each batch:
 * nwrites writes of 100 bytes to <dir>/data.bin from do_writes(), nfails
 * failed opens of distinct missing paths from fail_opens(), nmsgs 10-byte
 * sends and receives over a socketpair. Then "ready N" on stdout by a raw
 * syscall (not a hooked call), and it waits: SIGUSR1 runs one more batch,
 * SIGTERM prints a summary and exits 0. With NFILES, each batch also creates
 * and closes NFILES distinct files (as many resources) from make_files().
 * Usage: t_metrics DIR NWRITES NFAILS NMSGS [NFILES] */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static volatile int nwrites, nfails, nmsgs, nfiles;
static int fd, sv[2];
static const char *dir;

void do_writes(void)
{
	char buf[100];
	memset(buf, 'x', sizeof(buf));
	for (int i = 0; i < nwrites; i++)
		if (write(fd, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
			exit(2);
}

int fail_opens(int batch)
{
	char path[4096];
	int bad = 0;
	for (int i = 0; i < nfails; i++) {
		snprintf(path, sizeof(path), "%s/missing/%d-%d", dir, batch, i);
		if (open(path, O_RDONLY) < 0 && errno == ENOENT)
			bad++;
	}
	return bad;
}

void make_files(int batch)
{
	char path[4096];
	for (int i = 0; i < nfiles; i++) {
		int f;
		snprintf(path, sizeof(path), "%s/file-%d-%d", dir, batch, i);
		f = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
		if (f < 0 || close(f) != 0)
			exit(4);
	}
}

void exchange(void)
{
	char msg[10] = "0123456789", in[10];
	for (int i = 0; i < nmsgs; i++)
		if (send(sv[0], msg, sizeof(msg), 0) != 10 || recv(sv[1], in, sizeof(in), 0) != 10)
			exit(3);
}

/* "ready N\n" without a hooked call: the counts stay exactly the batches'. */
static void ready(int batch)
{
	char line[32];
	int n = snprintf(line, sizeof(line), "ready %d\n", batch);
	syscall(SYS_write, 1, line, (size_t)n);
}

int main(int argc, char **argv)
{
	sigset_t set;
	int batch = 0, sig, bad = 0;
	char path[4096];

	if (argc != 5 && argc != 6)
		return 1;
	dir = argv[1];
	nwrites = atoi(argv[2]);
	nfails = atoi(argv[3]);
	nmsgs = atoi(argv[4]);
	nfiles = argc > 5 ? atoi(argv[5]) : 0;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	snprintf(path, sizeof(path), "%s/data.bin", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		return 1;
	for (;;) {
		batch++;
		do_writes();
		bad += fail_opens(batch);
		make_files(batch);
		exchange();
		ready(batch);
		if (sigwait(&set, &sig) != 0 || sig == SIGTERM)
			break;
	}
	printf("batches %d, failed opens %d\n", batch, bad);
	return 0;
}
