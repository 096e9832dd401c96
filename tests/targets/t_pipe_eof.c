/* SPDX-License-Identifier: MIT */
/* A reader that waits for EOF on a pipe whose write end the parent closes:
 * Shimmer's worker thread must never keep a copy of the program's fds. The
 * pipe is the program's first hooked call, so the worker starts right then. */
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
	int p[2], status;
	char buf[64];
	ssize_t n, total = 0;
	pid_t pid;

	if (pipe(p) != 0)
		return 1;
	usleep(200000); /* let the worker start while both ends are open */
	pid = fork();
	if (pid == 0) {
		close(p[1]);
		while ((n = read(p[0], buf, sizeof(buf))) > 0)
			total += n;
		printf("child read %zd bytes then EOF\n", total);
		return 0;
	}
	close(p[0]);
	if (write(p[1], "hello", 5) != 5)
		return 1;
	close(p[1]);
	waitpid(pid, &status, 0);
	printf("parent done\n");
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
