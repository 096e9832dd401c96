/* SPDX-License-Identifier: MIT */
/* shim/stacks.c: interning counts repeats once per distinct stack, keeps
 * order and depth, and drops (counted) when the PC pool is full. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "../../shim/stacks.h"

struct seen {
	int n;
	uint64_t total;
	uint32_t depth[8];
	uint64_t count[8];
	uintptr_t leaf[8];
};

static void collect(const uintptr_t *pcs, uint32_t depth, uint64_t count, void *arg)
{
	struct seen *s = arg;
	if (s->n < 8) {
		s->depth[s->n] = depth;
		s->count[s->n] = count;
		s->leaf[s->n] = pcs[0];
	}
	s->n++;
	s->total += count;
}

static struct shim_stk_table *table(void)
{
	void *p = mmap(NULL, sizeof(struct shim_stk_table), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(p != MAP_FAILED);
	return p;
}

static void test_intern(void **state)
{
	struct shim_stk_table *t = table();
	uintptr_t a[3] = {0x1000, 0x2000, 0x3000}, b[2] = {0x1000, 0x2000};
	struct seen s;

	(void)state;
	for (int i = 0; i < 5; i++)
		assert_int_equal(shim_stk_add(t, a, 3), 0);
	assert_int_equal(shim_stk_add(t, b, 2), 0); /* a prefix is another stack */
	assert_int_equal(t->samples, 6);
	assert_int_equal(t->nstacks, 2);
	memset(&s, 0, sizeof(s));
	shim_stk_foreach(t, collect, &s);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.total, 6);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(s.leaf[i], 0x1000);
		assert_int_equal(s.count[i], s.depth[i] == 3 ? 5 : 1);
	}
	munmap(t, sizeof(*t));
}

static void test_full_pool_drops(void **state)
{
	struct shim_stk_table *t = table();
	static uintptr_t pcs[512];
	uint64_t kept = 0, n;

	(void)state;
	/* distinct deep stacks until the PC pool is exhausted */
	for (n = 0; n < SHIM_STK_PCS / 512 + 10; n++) {
		pcs[0] = 0x10000 + n;
		kept += shim_stk_add(t, pcs, 512) == 0;
	}
	assert_int_equal(kept, SHIM_STK_PCS / 512);
	assert_int_equal(t->dropped, 10);
	/* a stack already interned still counts */
	pcs[0] = 0x10000;
	assert_int_equal(shim_stk_add(t, pcs, 512), 0);
	assert_int_equal(t->samples, kept + 1);
	munmap(t, sizeof(*t));
}

static void test_hash_never_zero(void **state)
{
	uintptr_t z = 0;
	(void)state;
	assert_true(shim_stk_hash(&z, 1) != 0);
	assert_true(shim_stk_hash(&z, 0) != 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_intern),
		cmocka_unit_test(test_full_pool_drops),
		cmocka_unit_test(test_hash_never_zero),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	_exit(rc ? 1 : 0);
}
