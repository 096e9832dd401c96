/* SPDX-License-Identifier: MIT */
/* The periodic flush and the dump trigger. The trigger is a unix stream socket,
 * <run folder>/control.sock, 0600 inside the 0700 folder, accepting only the
 * process's own user (or root): a client writes "dump\n", the worker writes
 * every output and answers "ok <run folder>\n" (or "error <why>\n"). No
 * signal is taken from the target, and everything runs on the worker. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "control.h"
#include "log.h"
#include "output.h"
#include "worker.h"
#include "zone.h"

/* Both fds live in the worker's own fd table (shim/worker.h): only the worker
 * may use or close them; they close when the thread ends. */
static int listen_fd = -1; /* the listening socket, -1 when none */
static int dir_fd = -1;	   /* the run folder (O_PATH): bind by it */
static int owner;	   /* pid that bound the socket: only it removes the file */
static char sock_file[PATH_MAX] SHIM_BIG; /* <run folder>/control.sock, to remove it */

static void periodic(void *arg)
{
	(void)arg;
	shim_output_flush();
}

/* Reply on the accepted connection; a client gone away is not our problem. */
static void reply(int c, const char *msg)
{
	size_t n = strlen(msg);

	while (n) {
		ssize_t w = send(c, msg, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		msg += w;
		n -= (size_t)w;
	}
}

/* Read one command line (bounded in size and, by SO_RCVTIMEO, in time). */
static void read_command(int c, char *cmd, size_t size)
{
	size_t n = 0;

	while (n + 1 < size) {
		ssize_t r = recv(c, cmd + n, size - 1 - n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
		if (memchr(cmd, '\n', n))
			break;
	}
	cmd[n] = '\0';
	cmd[strcspn(cmd, "\r\n")] = '\0';
}

static void on_connect(int fd, void *arg)
{
	struct timeval tv = {.tv_sec = 2};
	struct ucred cr;
	socklen_t len = sizeof(cr);
	char cmd[64], msg[PATH_MAX + 64];
	int c;

	(void)arg;
	c = accept4(fd, NULL, NULL, SOCK_CLOEXEC);
	if (c < 0)
		return; /* EAGAIN: another wake-up took it; the listener is non-blocking */
	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	/* the folder is 0700 already; the credential check is the second lock */
	if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cr, &len) != 0 ||
	    (cr.uid != geteuid() && cr.uid != 0)) {
		reply(c, "error permission denied\n");
		goto out;
	}
	read_command(c, cmd, sizeof(cmd));
	if (strcmp(cmd, "dump") != 0 && cmd[0]) {
		snprintf(msg, sizeof(msg), "error unknown command '%.32s' (expected dump)\n", cmd);
		reply(c, msg);
		goto out;
	}
	if (shim_output_flush() == 0)
		snprintf(msg, sizeof(msg), "ok %s\n", shim_output_dir());
	else
		snprintf(msg, sizeof(msg), "error cannot write the outputs (see the program's "
					   "stderr)\n");
	reply(c, msg);
out:
	close(c);
}

/* sun_path holds 108 bytes: a longer run folder is reached through the folder's
 * own fd, /proc/self/fd/N/control.sock (the kernel resolves it to the folder). */
static int sock_addr(struct sockaddr_un *sa, const char *dir)
{
	int n;

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	n = snprintf(sa->sun_path, sizeof(sa->sun_path), "%s/%s", dir, SHIM_CONTROL_SOCK);
	if (n > 0 && (size_t)n < sizeof(sa->sun_path))
		return 0;
	n = snprintf(sa->sun_path, sizeof(sa->sun_path), "/proc/self/fd/%d/%s", dir_fd,
		     SHIM_CONTROL_SOCK);
	return n > 0 && (size_t)n < sizeof(sa->sun_path) ? 0 : -1;
}

/* On the worker, at each start: the run folder now (so a dump has a place to
 * go), then the socket in it. */
static void start(void *arg)
{
	struct sockaddr_un sa;
	const char *dir;
	int fd = -1;

	(void)arg;
	if (listen_fd >= 0 || shim_output_make_dir() != 0)
		return;
	dir = shim_output_dir();
	dir_fd = shim_worker_high_fd(open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC));
	if (dir_fd < 0)
		goto fail;
	fd = shim_worker_high_fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
	if (fd < 0 || sock_addr(&sa, dir) != 0)
		goto fail;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		goto fail;
	owner = getpid();
	snprintf(sock_file, sizeof(sock_file), "%s/%s", dir, SHIM_CONTROL_SOCK);
	/* the mode of a socket file follows the umask: set it, the folder is 0700 */
	if (fchmodat(dir_fd, SHIM_CONTROL_SOCK, 0600, 0) != 0 || listen(fd, 8) != 0 || shim_worker_watch(fd, on_connect, NULL) != 0)
		goto fail_unlink;
	listen_fd = fd;
	shim_debug("dump trigger: %s/%s", dir, SHIM_CONTROL_SOCK);
	return;
fail_unlink:
	unlinkat(dir_fd, SHIM_CONTROL_SOCK, 0);
fail:
	shim_err("cannot make the dump socket in %s: %s; dumps are off", dir, strerror(errno));
	if (fd >= 0)
		close(fd);
	if (dir_fd >= 0)
		close(dir_fd);
	dir_fd = -1;
}

void shim_control_init(void)
{
	unsigned ms = (unsigned)shim_config.flush_secs * 1000u;

	if (ms && shim_worker_every(ms, periodic, NULL) != 0)
		shim_err("no room for the periodic flush job: outputs are written at exit only");
	if ((shim_config.control || ms) && shim_worker_on_start(start, NULL) != 0)
		shim_err("no room for the dump socket's set-up: dumps are off");
}

void shim_control_close(void)
{
	if (listen_fd < 0)
		return;
	/* the worker has stopped: its fds went with it; the file is ours */
	shim_worker_unwatch(listen_fd);
	listen_fd = dir_fd = -1;
	if (owner == getpid())
		unlink(sock_file);
}

void shim_control_fork_child(void)
{
	/* the parent's socket is not in this process's table (it was in the
	 * parent worker's own); a number in the watch list would name one of
	 * the child's fds */
	if (listen_fd >= 0)
		shim_worker_unwatch(listen_fd);
	listen_fd = dir_fd = -1;
}
