/* SPDX-License-Identifier: MIT */
/* Children started every way the exec hooks see, each with an environment
 * that has dropped LD_PRELOAD and the settings: execve with an empty envp (in
 * a fork child), posix_spawn with an empty envp, and execle with a stale
 * TRACEPARENT of its own. Each child is argv[1] (a program that prints its
 * TRACEPARENT). */
#include <spawn.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

int run_execve(char *prog)
{
	char *argv[] = {prog, "execve", NULL}, *envp[] = {NULL};
	int st;
	pid_t p = fork();

	if (p == 0) {
		execve(prog, argv, envp);
		_exit(127);
	}
	return p < 0 || waitpid(p, &st, 0) != p ? -1 : WEXITSTATUS(st);
}

int run_spawn(char *prog)
{
	char *argv[] = {prog, "posix_spawn", NULL}, *envp[] = {NULL};
	pid_t p;
	int st;

	if (posix_spawn(&p, prog, NULL, NULL, argv, envp) != 0)
		return -1;
	return waitpid(p, &st, 0) != p ? -1 : WEXITSTATUS(st);
}

int run_execle(char *prog)
{
	char *envp[] = {"TRACEPARENT=00-11111111111111111111111111111111-2222222222222222-01",
			NULL};
	int st;
	pid_t p = fork();

	if (p == 0) {
		execle(prog, prog, "execle", (char *)NULL, envp);
		_exit(127);
	}
	return p < 0 || waitpid(p, &st, 0) != p ? -1 : WEXITSTATUS(st);
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	fflush(stdout);
	if (run_execve(argv[1]) || run_spawn(argv[1]) || run_execle(argv[1]))
		return 1;
	return 0;
}
