/* SPDX-License-Identifier: MIT */
/* shim/unwind.c fork quiescence: a fork waits for a walk in progress in
 * another thread, walks are refused while it is being made, and both sides
 * walk again after it; the heap sampler's in-hook walk is a walk too. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "../../shim/unwind.h"

static atomic_int inside, release_walk, walked;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void nap_ms(long ms)
{
	struct timespec ts = {0, ms * 1000000L};
	nanosleep(&ts, NULL);
}

/* A walk that lasts until the test lets it go. */
static void *walker(void *arg)
{
	(void)arg;
	if (!shim_unwind_enter())
		return NULL;
	atomic_store(&inside, 1);
	while (!atomic_load(&release_walk))
		nap_ms(1);
	atomic_store(&walked, 1);
	shim_unwind_leave();
	return NULL;
}

static void *releaser(void *arg)
{
	(void)arg;
	nap_ms(100);
	atomic_store(&release_walk, 1);
	return NULL;
}

static void fork_waits_for_a_walk_in_progress(void **state)
{
	pthread_t w, r;
	uint64_t t0, waited;

	(void)state;
	assert_int_equal(pthread_create(&w, NULL, walker, NULL), 0);
	while (!atomic_load(&inside))
		nap_ms(1);
	assert_int_equal(pthread_create(&r, NULL, releaser, NULL), 0);
	t0 = now_ns();
	shim_unwind_fork_prepare();
	waited = now_ns() - t0;
	/* prepare returned only once the walk was over */
	assert_int_equal(atomic_load(&walked), 1);
	assert_true(waited >= 50000000ull);
	/* no new walk while the fork is being made, in this thread or another */
	assert_int_equal(shim_unwind_enter(), 0);
	shim_unwind_fork_parent();
	assert_int_equal(shim_unwind_enter(), 1);
	shim_unwind_leave();
	pthread_join(w, NULL);
	pthread_join(r, NULL);
}

static void fork_child_walks_again(void **state)
{
	pid_t pid;
	int status = 0;

	(void)state;
	shim_unwind_fork_prepare();
	pid = fork();
	if (pid == 0) {
		shim_unwind_fork_child();
		if (!shim_unwind_enter())
			_exit(3);
		shim_unwind_leave();
		_exit(0);
	}
	shim_unwind_fork_parent();
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* Walks count in per-thread stripes: many threads (more than there are
 * stripes, so some share one), each with many walks, leave the sum at 0, and
 * a walk held in one thread is the sum's 1 for every other. */
enum { MANY = 80, WALKS = 2000 };

static void *many_walks(void *arg)
{
	(void)arg;
	for (int i = 0; i < WALKS; i++)
		if (shim_unwind_enter())
			shim_unwind_leave();
	return NULL;
}

static void stripes_balance(void **state)
{
	pthread_t t[MANY], w;

	(void)state;
	assert_int_equal(shim_unwind_in_progress(), 0);
	for (int i = 0; i < MANY; i++)
		assert_int_equal(pthread_create(&t[i], NULL, many_walks, NULL), 0);
	for (int i = 0; i < MANY; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(shim_unwind_in_progress(), 0);

	atomic_store(&inside, 0);
	atomic_store(&release_walk, 0);
	assert_int_equal(pthread_create(&w, NULL, walker, NULL), 0);
	while (!atomic_load(&inside))
		nap_ms(1);
	assert_int_equal(shim_unwind_in_progress(), 1);
	assert_true(shim_unwind_enter()); /* this thread's own, on its own stripe */
	assert_int_equal(shim_unwind_in_progress(), 2);
	shim_unwind_leave();
	atomic_store(&release_walk, 1);
	pthread_join(w, NULL);
	assert_int_equal(shim_unwind_in_progress(), 0);
}

/* A fork made from a handler that interrupted this thread's own walk cannot
 * wait for that walk: prepare counts it as the thread's own. */
static void own_walk_does_not_block_the_fork(void **state)
{
	uint64_t t0;

	(void)state;
	assert_int_equal(shim_unwind_enter(), 1);
	t0 = now_ns();
	shim_unwind_fork_prepare();
	assert_true(now_ns() - t0 < 500000000ull);
	shim_unwind_fork_parent();
	shim_unwind_leave();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fork_waits_for_a_walk_in_progress),
		cmocka_unit_test(fork_child_walks_again),
		cmocka_unit_test(own_walk_does_not_block_the_fork),
		cmocka_unit_test(stripes_balance),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
