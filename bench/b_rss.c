/* SPDX-License-Identifier: MIT */
/* Not a workload: `b_rss PROG ARGS...` runs PROG, waits for it and prints
 * "peak_rss_kib N" (ru_maxrss from wait4: PROG and the children it waited
 * for) after PROG's own output. A tiny parent, so the child's peak before
 * exec is this program's, not the Python driver's. Exits with PROG's status. */
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct rusage ru;
	pid_t pid;
	int st;

	if (argc < 2) {
		fprintf(stderr, "usage: b_rss PROG ARGS...\n");
		return 2;
	}
	pid = fork();
	if (pid < 0)
		return 2;
	if (pid == 0) {
		execvp(argv[1], argv + 1);
		_exit(127);
	}
	if (wait4(pid, &st, 0, &ru) != pid)
		return 2;
	fflush(stdout);
	printf("peak_rss_kib %ld\n", ru.ru_maxrss);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
