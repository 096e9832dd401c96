/* SPDX-License-Identifier: MIT */
/* shim/libs.c: jansson's arena: a document built and dumped inside one is the
 * document built outside; it may be dropped whole; a nested arena changes
 * nothing; past the arena's cap values come from malloc and need their
 * json_decref again; values made before an arena are freed inside one; two
 * threads each with an arena do not mix. */
#include "unit.h"

#include <jansson.h>
#include <math.h>
#include <pthread.h>

#include "../../export/jsonout.h"
#include "../../shim/libs.h"

/* {"n":i,"s":"...","a":[0,1,...]} with k elements, dumped compact. */
static json_t *doc(int i, int k)
{
	json_t *o = json_object(), *a = json_array();
	int bad = 0;

	shim_json_set(o, "n", json_integer(i), &bad);
	shim_json_set(o, "s", shim_json_str("caf\xc3\xa9 \"q\""), &bad);
	for (int j = 0; j < k; j++)
		shim_json_push(a, json_integer(j), &bad);
	shim_json_set(o, "a", a, &bad);
	assert_int_equal(bad, 0);
	return o;
}

static char *dump(const json_t *j)
{
	struct shim_sink s;

	shim_sink_init(&s);
	assert_int_equal(shim_json_dump(j, JSON_COMPACT, &s), 0);
	return s.buf;
}

static void same_inside_and_out(void **state)
{
	struct shim_json_arena a;
	json_t *out, *in;
	char *x, *y;
	(void)state;

	out = doc(7, 100);
	x = dump(out);
	shim_libs_json_arena_begin(&a);
	assert_int_equal(shim_libs_json_arena_whole(&a), 1);
	json_decref(out); /* made before the arena: freed for real */
	in = doc(7, 100);
	y = dump(in);
	assert_int_equal(shim_libs_json_arena_whole(&a), 1);
	shim_json_drop(&a, in);
	shim_libs_json_arena_end(&a);
	assert_string_equal(x, y);
	free(x);
	free(y);
}

static void nested_is_a_no_op(void **state)
{
	struct shim_json_arena a, b;
	json_t *j;
	char *x;
	(void)state;

	shim_libs_json_arena_begin(&a);
	shim_libs_json_arena_begin(&b);
	assert_int_equal(shim_libs_json_arena_whole(&b), 0);
	j = doc(1, 3);
	shim_json_drop(&b, j); /* json_decref: frees into a, a no-op */
	shim_libs_json_arena_end(&b);
	j = doc(2, 3); /* a still open */
	x = dump(j);
	assert_string_equal(x, "{\"n\":2,\"s\":\"caf\xc3\xa9 \\\"q\\\"\",\"a\":[0,1,2]}");
	free(x);
	assert_int_equal(shim_libs_json_arena_whole(&a), 1);
	shim_json_drop(&a, j);
	shim_libs_json_arena_end(&a);
}

/* Past SHIM_ARENA_BLOCKS (about 16 MiB) values come from malloc: the
 * document is not whole and its json_decref frees them (LeakSanitizer under
 * make asan). */
static void past_the_cap(void **state)
{
	struct shim_json_arena a;
	json_t *arr;
	int bad = 0;
	(void)state;

	shim_libs_json_arena_begin(&a);
	arr = json_array();
	for (int i = 0; i < 700000 && !bad; i++)
		shim_json_push(arr, json_integer(i), &bad);
	assert_int_equal(bad, 0);
	assert_int_equal(shim_libs_json_arena_whole(&a), 0);
	assert_int_equal(json_integer_value(json_array_get(arr, 699999)), 699999);
	shim_json_drop(&a, arr);
	shim_libs_json_arena_end(&a);
}

static void *worker(void *arg)
{
	struct shim_json_arena a;
	char **out = arg;

	for (int r = 0; r < 50; r++) {
		json_t *j;
		shim_libs_json_arena_begin(&a);
		j = doc(r, 2000);
		free(*out);
		*out = dump(j);
		shim_json_drop(&a, j);
		shim_libs_json_arena_end(&a);
	}
	return NULL;
}

static void two_threads(void **state)
{
	pthread_t t[2];
	char *res[2] = {NULL, NULL}, *want;
	json_t *j;
	(void)state;

	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, worker, &res[i]), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	j = doc(49, 2000);
	want = dump(j);
	json_decref(j);
	for (int i = 0; i < 2; i++) {
		assert_string_equal(res[i], want);
		free(res[i]);
	}
	free(want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(same_inside_and_out),
		cmocka_unit_test(nested_is_a_no_op),
		cmocka_unit_test(past_the_cap),
		cmocka_unit_test(two_threads),
	};
	return unit_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
