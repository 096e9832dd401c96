/* SPDX-License-Identifier: MIT */
/* shim_worker_high_fd (shim/worker.c): Shimmer's own fds go far above the
 * target's, O_CLOEXEC: at 1000 or more, or 64 below RLIMIT_NOFILE when the
 * limit is lower; a limit lowered after the first move is honoured at the
 * next one; an fd that cannot move is given back as it was. */
#include "unit.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "../../shim/worker.h"

static struct rlimit saved;

static int setup(void **state)
{
	(void)state;
	return getrlimit(RLIMIT_NOFILE, &saved);
}

static int teardown(void **state)
{
	(void)state;
	return setrlimit(RLIMIT_NOFILE, &saved);
}

/* The floor the module should use under limit cur. */
static int expected_floor(rlim_t cur)
{
	if (cur == RLIM_INFINITY || cur >= 1064)
		return 1000;
	return cur > 128 ? (int)cur - 64 : 3;
}

static int limit(rlim_t cur)
{
	struct rlimit rl = saved;

	rl.rlim_cur = cur;
	return setrlimit(RLIMIT_NOFILE, &rl);
}

static void moved_high_cloexec(void **state)
{
	int fd, high, floor = expected_floor(saved.rlim_cur);

	(void)state;
	fd = open("/dev/null", O_RDONLY);
	assert_true(fd >= 0);
	high = shim_worker_high_fd(fd);
	assert_true(high >= floor);
	assert_int_not_equal(high, fd);
	/* the low number is free again, the high one close-on-exec */
	assert_int_equal(fcntl(fd, F_GETFD), -1);
	assert_int_equal(fcntl(high, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
	close(high);
	/* a second move lands as high: the floor is kept */
	fd = open("/dev/null", O_RDONLY);
	high = shim_worker_high_fd(fd);
	assert_true(high >= floor);
	close(high);
	assert_int_equal(shim_worker_high_fd(-1), -1);
}

static void lowered_limit_read_again(void **state)
{
	int fd, high;

	(void)state;
	if (saved.rlim_max != RLIM_INFINITY && saved.rlim_max < 512)
		skip();
	/* the floor of the limit as it was is cached by now */
	fd = open("/dev/null", O_RDONLY);
	close(shim_worker_high_fd(fd));
	assert_int_equal(limit(512), 0);
	fd = open("/dev/null", O_RDONLY);
	errno = 1234;
	high = shim_worker_high_fd(fd);
	assert_true(high >= 512 - 64 && high < 512);
	assert_int_equal(errno, 1234); /* the refused first try leaves no trace */
	close(high);
	/* under a limit too low for any floor above the fd, it stays where it is */
	assert_int_equal(limit(8), 0);
	fd = open("/dev/null", O_RDONLY);
	assert_true(fd >= 0 && fd < 8);
	high = shim_worker_high_fd(fd);
	assert_true(high >= 3 && high < 8);
	close(high);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(moved_high_cloexec),
		cmocka_unit_test(lowered_limit_read_again),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
