/* SPDX-License-Identifier: MIT */
/* shim/unwind_late.c: a sample copied in a real signal handler, before
 * libunwind is loaded, is unwound later by DWARF from the copy, after the
 * frames it copied are gone; each sample once; a fork child forgets the
 * parent's; an sp off the thread's stack is not copied. */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "../../shim/unwind.h"

static uintptr_t stack_lo, stack_hi;
static int tag; /* the owner every sample carries */
static volatile int stashed_rc = 99;
static void *volatile ret_b, *volatile ret_a; /* the return addresses the walk must give */

static void on_usr1(int sig, siginfo_t *si, void *uc)
{
	(void)sig, (void)si;
	stashed_rc = shim_unwind_stash(uc, stack_lo, stack_hi, &tag);
}

/* Two frames the signal lands under; optimisation may not merge them. */
__attribute__((noinline)) static void deep_b(void)
{
	ret_b = __builtin_return_address(0); /* into deep_a */
	raise(SIGUSR1);
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static void deep_a(void)
{
	ret_a = __builtin_return_address(0); /* into the test */
	deep_b();
	__asm__ volatile("" ::: "memory");
}

static uintptr_t got[64];
static int ngot, nsamples, wrong_owner;

static void add(void *owner, const uintptr_t *pcs, int n)
{
	if (owner != &tag)
		wrong_owner++;
	nsamples++;
	ngot = n < 64 ? n : 64;
	memcpy(got, pcs, (size_t)ngot * sizeof(*pcs));
}

static int setup(void **state)
{
	pthread_attr_t a;
	void *addr;
	size_t size;
	struct sigaction sa;

	(void)state;
	/* the calling thread's stack, as the profiler knows it */
	assert_int_equal(pthread_getattr_np(pthread_self(), &a), 0);
	assert_int_equal(pthread_attr_getstack(&a, &addr, &size), 0);
	pthread_attr_destroy(&a);
	stack_lo = (uintptr_t)addr;
	stack_hi = stack_lo + size;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_usr1;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGUSR1, &sa, NULL);
	assert_int_equal(shim_unwind_stash_init(), 0);
	return 0;
}

static int find(uintptr_t pc)
{
	for (int i = 0; i < ngot; i++)
		if (got[i] == pc)
			return i;
	return -1;
}

static void copied_sample_unwinds_later(void **state)
{
	int ib, ia, st;
	pid_t pid;

	(void)state;
	assert_true(shim_unwind_pending()); /* nothing has loaded libunwind yet */
	deep_a();
	assert_int_equal(stashed_rc, 0);
	assert_true(shim_unwind_stashed());
	/* a fork child's copies are the parent's: it forgets them */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		shim_unwind_stash_fork_child();
		_exit(shim_unwind_stashed() || shim_unwind_replay(add, 64) != 0 || nsamples ? 1 : 0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_true(shim_unwind_stashed()); /* the parent keeps its own */
	/* the frames are gone and the stack reused: the copy still unwinds */
	assert_int_equal(shim_unwind_replay(add, 64), 1);
	assert_int_equal(nsamples, 1);
	assert_int_equal(wrong_owner, 0);
	assert_false(shim_unwind_stashed());
	ib = find((uintptr_t)ret_b);
	ia = find((uintptr_t)ret_a);
	assert_true(ib > 0);       /* pcs[0] is where the signal landed */
	assert_int_equal(ia, ib + 1); /* deep_b's caller, then deep_a's */
	assert_true(ngot > ia + 1);   /* and on to the test runner */
	/* replayed once */
	assert_int_equal(shim_unwind_replay(add, 64), 0);
	assert_int_equal(nsamples, 1);
	/* libunwind is loaded now: no more copies */
	assert_true(shim_unwind_ready());
	stashed_rc = 99;
	deep_a();
	assert_int_equal(stashed_rc, -1);
}

static void outside_the_stack_is_not_copied(void **state)
{
	ucontext_t uc;

	(void)state;
	memset(&uc, 0, sizeof(uc));
	/* an sp outside [lo, hi): a coroutine's stack, say */
	uc.uc_mcontext.gregs[REG_RSP] = (greg_t)(stack_lo - 4096);
	assert_int_equal(shim_unwind_stash(&uc, stack_lo, stack_hi, &tag), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(outside_the_stack_is_not_copied),
		cmocka_unit_test(copied_sample_unwinds_later),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
