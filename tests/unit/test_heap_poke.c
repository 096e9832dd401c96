/* SPDX-License-Identifier: MIT */
/* shim/heap.h: the SIGPROF handler's poke (shim_heap_poke) sets the thread's
 * heap countdown to 0 so its next allocation takes the slow path. An
 * allocation's subtraction from the countdown must be whole with respect to
 * the handler: a load and a store around it would write back the distance the
 * poke took, leaving the poke pending with the countdown far above 0 (and the
 * thread's next real sample skipped when the slow path finally put the
 * distance back). A timer pokes at every point of 2 million allocations'
 * countdowns; after each one, a pending poke must still hold the countdown at
 * or below 0. */
#include "unit.h"


#include "../../shim/heap.h"

static volatile sig_atomic_t handled;

static void on_alarm(int sig)
{
	(void)sig;
	shim_heap_poke();
	handled++;
}

static void poke_never_lost(void **state)
{
	struct unit_timer timer;
	long lost = 0, served = 0;

	(void)state;
	/* far from any sample: only a poke sends an allocation to the slow
	 * path, which (heap profiling never set up here) serves the poke */
	shim_tls.heap_left = INT64_C(1) << 60;
	unit_timer_start(&timer, on_alarm);
	for (long i = 0; i < 2000000 || handled < 20; i++) {
		int pending;
		shim_heap_alloc(NULL, 24);
		/* the flag first: a poke between the two reads then reads as
		 * none, never as a pending poke beside a stale countdown */
		pending = shim_heap_poke_pending();
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		if (pending && shim_tls.heap_left > 0) {
			lost++;
			shim_tls.heap_left = 0; /* serve it, to count the next one */
		}
		served += !pending;
	}
	unit_timer_stop(&timer);
	assert_true(handled >= 20);
	assert_true(served > 0);
	assert_int_equal(lost, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(poke_never_lost),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
