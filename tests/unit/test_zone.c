/* SPDX-License-Identifier: MIT */
/* shim/zone.c: pieces of one reservation, page-aligned, zeroed, apart from
 * each other, errno kept; past the reservation, mappings of their own; many
 * threads at once never get the same bytes. */
#include "unit.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>

#include "../../shim/zone.h"

static int zeroed(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return 0;
	return 1;
}

static void pieces(void **state)
{
	unsigned char *a, *b;

	(void)state;
	errno = 1234;
	a = shim_zone_map(100);
	b = shim_zone_map(5000);
	assert_int_equal(errno, 1234);
	assert_non_null(a);
	assert_non_null(b);
	assert_int_equal((uintptr_t)a % 4096, 0);
	assert_int_equal((uintptr_t)b % 4096, 0);
	/* a's page is its own: b starts at least a page further on */
	assert_true(b >= a + 4096 || a >= b + 8192);
	assert_true(zeroed(a, 4096) && zeroed(b, 8192));
	memset(a, 0xa5, 4096);
	memset(b, 0x5a, 8192);
	assert_true(zeroed(shim_zone_map(4096), 4096));
	assert_null(shim_zone_map(0));
}

static void past_the_reservation(void **state)
{
	size_t big = SHIM_ZONE_BYTES / 4;
	unsigned char *p[6];

	(void)state;
	/* more than the reservation holds: the rest are mappings of their own,
	 * each one whole, none overlapping another */
	for (int i = 0; i < 6; i++) {
		p[i] = shim_zone_map(big);
		assert_non_null(p[i]);
		assert_true(zeroed(p[i], 4096) && zeroed(p[i] + big - 4096, 4096));
		p[i][0] = (unsigned char)(i + 1);
		p[i][big - 1] = (unsigned char)(i + 1);
	}
	for (int i = 0; i < 6; i++)
		for (int j = 0; j < 6; j++)
			if (i != j)
				assert_true(p[i] + big <= p[j] || p[j] + big <= p[i]);
	for (int i = 0; i < 6; i++)
		assert_true(p[i][0] == i + 1 && p[i][big - 1] == i + 1);
}

#define NT 8
#define PER 64

static void *grab(void *arg)
{
	unsigned char **mine = arg;

	for (int i = 0; i < PER; i++)
		mine[i] = shim_zone_map(4096);
	return NULL;
}

static int cmp_ptr(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t) * (void *const *)a, y = (uintptr_t) * (void *const *)b;
	return x < y ? -1 : x > y;
}

static void threads_never_share(void **state)
{
	static unsigned char *got[NT * PER];
	pthread_t t[NT];

	(void)state;
	for (int i = 0; i < NT; i++)
		assert_int_equal(pthread_create(&t[i], NULL, grab, &got[i * PER]), 0);
	for (int i = 0; i < NT; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	qsort(got, NT * PER, sizeof(got[0]), cmp_ptr);
	for (int i = 0; i < NT * PER; i++) {
		assert_non_null(got[i]);
		if (i)
			assert_true(got[i] >= got[i - 1] + 4096);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pieces),
		cmocka_unit_test(past_the_reservation),
		cmocka_unit_test(threads_never_share),
	};
	return unit_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
