/* SPDX-License-Identifier: MIT */
/* A process tree with known counts: 16 threads (25 writes and N mallocs each),
 * then fork children that exit, _exit, exec (itself, /nonexistent, true via
 * execlp/execle), two vfork children (exec true; a failed exec then _exit) and
 * a posix_spawn. Writes "role pid" lines to argv[1]; stdout is the same bare. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NTHREADS 16
#define THREAD_WRITES 25

extern char **environ;
static volatile int nmallocs = 100;
static int devnull, pidfd;

void note(const char *role, pid_t pid)
{
	char line[64];
	int n = snprintf(line, sizeof(line), "%s %d\n", role, (int)pid);
	if (write(pidfd, line, (size_t)n) != n)
		_exit(90);
}

void *thread_body(void *arg)
{
	char buf[10] = "thread....";
	(void)arg;
	for (int i = 0; i < THREAD_WRITES; i++)
		if (write(devnull, buf, sizeof(buf)) != (ssize_t)sizeof(buf))
			_exit(91);
	for (int i = 0; i < nmallocs; i++) {
		void *p = malloc(32);
		if (!p)
			_exit(92);
		free(p);
	}
	return NULL;
}

void child_writes(int n)
{
	for (int i = 0; i < n; i++)
		if (write(devnull, "child", 5) != 5)
			_exit(93);
}

void image_writes(int n)
{
	for (int i = 0; i < n; i++)
		if (write(devnull, "image", 5) != 5)
			_exit(94);
}

void parent_writes(int n)
{
	for (int i = 0; i < n; i++)
		if (write(devnull, "parent", 6) != 6)
			_exit(95);
}

void reap(const char *role, pid_t pid)
{
	int st;
	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		exit(96);
	printf("%s %d\n", role, WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	fflush(stdout); /* the children must not inherit (and print again) our buffer */
}

/* fork a child running fn; note and reap it */
void forked(const char *role, void (*fn)(void))
{
	pid_t pid = fork();
	if (pid == 0) {
		fn();
		_exit(97);
	}
	note(role, pid);
	reap(role, pid);
}

void child_exit(void)
{
	child_writes(7);
	exit(0);
}

void child_underscore_exit(void)
{
	child_writes(11);
	_exit(3);
}

void child_exec_self(void)
{
	char *argv[] = {"t_proc_img", "image", NULL};
	execv("/proc/self/exe", argv);
	_exit(127);
}

void child_exec_fails(void)
{
	char *argv[] = {"nothing", NULL};
	if (execv("/nonexistent/shimmer/prog", argv) == -1 && errno == ENOENT) {
		child_writes(5);
		exit(4);
	}
	_exit(127);
}

void child_execlp(void)
{
	execlp("true", "true", "a", "b", (char *)NULL);
	_exit(127);
}

void child_execle(void)
{
	execle("/bin/true", "true", "x", (char *)NULL, environ);
	_exit(127);
}

void vforked(const char *role, const char *path)
{
	char *argv[] = {"true", NULL};
	pid_t pid = vfork();
	if (pid == 0) {
		execve(path, argv, environ);
		_exit(126);
	}
	note(role, pid);
	reap(role, pid);
}

int main(int argc, char **argv)
{
	pthread_t th[NTHREADS];
	char *sargv[] = {"true", NULL};
	pid_t pid;

	devnull = open("/dev/null", O_WRONLY);
	if (argc > 1 && strcmp(argv[1], "image") == 0) {
		image_writes(13);
		return 0;
	}
	if (argc < 2 || devnull < 0)
		return 2;
	if (argc > 2)
		nmallocs = (int)strtol(argv[2], NULL, 10);
	pidfd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (pidfd < 0)
		return 2;
	note("parent", getpid());
	for (int i = 0; i < NTHREADS; i++)
		if (pthread_create(&th[i], NULL, thread_body, NULL) != 0)
			return 3;
	for (int i = 0; i < NTHREADS; i++)
		pthread_join(th[i], NULL);
	fflush(stdout);
	forked("exit", child_exit);
	forked("_exit", child_underscore_exit);
	forked("exec_self", child_exec_self);
	forked("exec_fails", child_exec_fails);
	forked("execlp", child_execlp);
	forked("execle", child_execle);
	fflush(stdout);
	vforked("vfork_true", "/bin/true");
	vforked("vfork_fails", "/nonexistent/shimmer/prog");
	if (posix_spawn(&pid, "/bin/true", NULL, NULL, sargv, environ) != 0)
		return 4;
	note("spawn", pid);
	reap("spawn", pid);
	parent_writes(3);
	return 0;
}
