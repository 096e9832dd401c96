/* SPDX-License-Identifier: MIT */
/* stderr lines through a raw write(2) syscall, so the write hook never sees them
 * and no stdio buffer of the target is touched. Bounded per process. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <errno.h>

#include "log.h"

#define LOG_BUDGET 64

int shim_log_level = SHIM_LOG_ERROR;
static atomic_int lines;

void shim_log_reset(void)
{
	atomic_store(&lines, 0);
}

void shim_log(int level, const char *fmt, ...)
{
	char buf[512];
	int saved = errno;
	va_list ap;
	int n, used;

	if (level > shim_log_level || level <= SHIM_LOG_QUIET)
		return;
	used = atomic_fetch_add(&lines, 1);
	if (used > LOG_BUDGET)
		goto out;
	if (used == LOG_BUDGET) {
		static const char msg[] = "shimmer: further messages suppressed\n";
		syscall(SYS_write, 2, msg, sizeof(msg) - 1);
		goto out;
	}
	memcpy(buf, "shimmer: ", 9);
	va_start(ap, fmt);
	n = vsnprintf(buf + 9, sizeof(buf) - 10, fmt, ap);
	va_end(ap);
	if (n < 0)
		goto out;
	n += 9;
	/* vsnprintf stopped at sizeof(buf) - 2 with its NUL: the newline goes
	 * over that NUL, never after it */
	if (n > (int)sizeof(buf) - 2)
		n = sizeof(buf) - 2;
	/* one message, one line: a value quoted in it may hold control bytes */
	for (int i = 9; i < n; i++)
		if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
			buf[i] = '?';
	buf[n++] = '\n';
	syscall(SYS_write, 2, buf, (size_t)n);
out:
	errno = saved;
}
