/* SPDX-License-Identifier: MIT */
/* shim/thread.h: the allocation hooks' one test, shim_tls.alloc_slot, is the
 * thread's slot only while no Shimmer code runs on the thread: internal and
 * resolving sections clear it, nested or interleaved, and the last one out
 * puts it back; a slot set inside a section waits for its end; a signal
 * handler's section in the middle of one leaves it cleared. */
#include "unit.h"

#include <signal.h>
#include <string.h>

#include "../../shim/thread.h"

static struct shim_thread fake; /* only its address is used */

static void reset(void)
{
	shim_tls.internal = 0;
	shim_tls.resolving = 0;
	shim_tls.alloc_slot = NULL;
	shim_tls.alloc_home = NULL;
}

static void sections_nest(void **state)
{
	(void)state;
	reset();
	shim_tls_set_alloc(&fake);
	assert_ptr_equal(shim_tls.alloc_slot, &fake);
	shim_internal_enter();
	assert_null(shim_tls.alloc_slot);
	assert_true(shim_tls_alloc_guarded());
	shim_internal_enter();
	shim_internal_leave();
	assert_null(shim_tls.alloc_slot); /* the outer section still runs */
	shim_resolving_enter();
	shim_internal_leave(); /* internal ends while resolving goes on */
	assert_null(shim_tls.alloc_slot);
	shim_resolving_leave();
	assert_ptr_equal(shim_tls.alloc_slot, &fake);
	assert_false(shim_tls_alloc_guarded());
	reset();
}

static void set_inside_a_section(void **state)
{
	(void)state;
	reset();
	shim_internal_enter();
	shim_tls_set_alloc(&fake); /* a thread that attaches in Shimmer's code */
	assert_null(shim_tls.alloc_slot);
	assert_ptr_equal(shim_tls.alloc_home, &fake);
	shim_internal_leave();
	assert_ptr_equal(shim_tls.alloc_slot, &fake);
	reset();
}

static void forever(void **state)
{
	(void)state;
	reset();
	shim_tls_set_alloc(&fake);
	shim_internal_forever();
	assert_null(shim_tls.alloc_slot);
	assert_null(shim_tls.alloc_home);
	assert_int_equal(shim_tls.internal, 1);
	reset();
}

/* A handler that opens and closes a section of its own, as the profiler's
 * does, interrupting the thread at every point of its sections. */
static volatile sig_atomic_t handled;

static void on_alarm(int sig)
{
	(void)sig;
	shim_internal_enter();
	shim_internal_leave();
	handled++;
}

static void handler_in_between(void **state)
{
	struct unit_timer timer;
	long inside_bad = 0, outside_bad = 0;

	(void)state;
	reset();
	shim_tls_set_alloc(&fake);
	unit_timer_start(&timer, on_alarm);
	for (long i = 0; i < 2000000 || handled < 20; i++) {
		shim_internal_enter();
		inside_bad += shim_tls.alloc_slot != NULL;
		shim_internal_leave();
		outside_bad += shim_tls.alloc_slot != &fake;
	}
	unit_timer_stop(&timer);
	assert_true(handled >= 20);
	assert_int_equal(inside_bad, 0);
	assert_int_equal(outside_bad, 0);
	assert_int_equal(shim_tls.internal, 0);
	reset();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sections_nest),
		cmocka_unit_test(set_inside_a_section),
		cmocka_unit_test(forever),
		cmocka_unit_test(handler_in_between),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
