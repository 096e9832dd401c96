/* SPDX-License-Identifier: MIT */
/* A signal handler calls _exit(5) while the main thread is blocked in read():
 * the exit must stay immediate and transparent. A fork child waits until
 * /proc shows the parent inside read, sends SIGUSR1, then _exits itself. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

void on_usr1(int sig)
{
	(void)sig;
	if (write(1, "signal\n", 7) != 7)
		_exit(6);
	_exit(5);
}

/* the parent's current system call number, or -1 ("running" when it is not
 * in one) */
int parent_syscall(pid_t ppid)
{
	char path[64], buf[128];
	FILE *f;
	int nr = -1;

	snprintf(path, sizeof(path), "/proc/%d/syscall", (int)ppid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	if (fgets(buf, sizeof(buf), f) && buf[0] >= '0' && buf[0] <= '9')
		nr = (int)strtol(buf, NULL, 10);
	fclose(f);
	return nr;
}

void child_main(pid_t ppid)
{
	for (int i = 0; i < 100000; i++) {
		if (parent_syscall(ppid) == SYS_read) {
			kill(ppid, SIGUSR1);
			_exit(0);
		}
		usleep(1000);
	}
	_exit(1);
}

int main(void)
{
	int p[2];
	char c;
	pid_t pid;

	signal(SIGUSR1, on_usr1);
	if (pipe(p) != 0)
		return 2;
	pid = fork();
	if (pid == 0)
		child_main(getppid());
	if (pid < 0)
		return 3;
	printf("child %d\n", pid > 0);
	fflush(stdout);
	/* nobody writes: blocks until the signal */
	if (read(p[0], &c, 1) >= 0)
		return 4;
	return 7;
}
