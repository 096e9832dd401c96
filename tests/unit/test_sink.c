/* SPDX-License-Identifier: MIT */
/* shim/sink.c: the memory sink every writer renders into. Content is exact
 * and NUL-terminated, growth keeps earlier bytes, and a failed sink stays
 * failed (a writer checks once at the end). */
#include "unit.h"

#include <stdint.h>

#include "../../shim/sink.h"

static void test_init_free(void **state)
{
	struct shim_sink s;
	(void)state;

	memset(&s, 0x5a, sizeof(s));
	shim_sink_init(&s);
	assert_null(s.buf);
	assert_int_equal(s.len, 0);
	assert_int_equal(s.cap, 0);
	assert_int_equal(s.failed, 0);
	shim_sink_free(&s); /* freeing an empty sink is fine */
	assert_null(s.buf);
	shim_sink_free(&s); /* and freeing twice */
}

static void test_write_puts_printf(void **state)
{
	struct shim_sink s;
	(void)state;

	shim_sink_init(&s);
	shim_sink_write(&s, "ab", 2);
	shim_sink_write(&s, "\0z", 2); /* binary bytes pass as they are */
	shim_sink_puts(&s, "cd");
	shim_sink_printf(&s, "[%5.2f|%-4s|%llu]", 3.14159, "x", 18446744073709551615ull);
	shim_sink_printf(&s, "%s", ""); /* nothing */
	shim_sink_write(&s, "", 0);
	static const char want[] = "ab\0zcd[ 3.14|x   |18446744073709551615]";
	assert_int_equal(s.len, sizeof(want) - 1);
	assert_memory_equal(s.buf, want, s.len);
	assert_int_equal(s.buf[s.len], '\0');
	assert_int_equal(s.failed, 0);
	shim_sink_free(&s);
}

static void test_growth(void **state)
{
	struct shim_sink s;
	char chunk[1000];
	(void)state;

	shim_sink_init(&s);
	for (int i = 0; i < 100; i++) {
		memset(chunk, 'a' + i % 26, sizeof(chunk));
		shim_sink_write(&s, chunk, sizeof(chunk));
		assert_true(s.cap > s.len);
		assert_int_equal(s.buf[s.len], '\0');
	}
	assert_int_equal(s.len, 100000);
	for (int i = 0; i < 100; i++)
		for (int j = 0; j < 1000; j += 97)
			assert_int_equal(s.buf[i * 1000 + j], 'a' + i % 26);
	shim_sink_free(&s);
}

static void test_printf_large(void **state)
{
	struct shim_sink s;
	char big[20000];
	(void)state;

	/* one formatted piece much larger than the first buffer */
	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	shim_sink_init(&s);
	shim_sink_puts(&s, "<");
	shim_sink_printf(&s, "%s>%d", big, 42);
	assert_int_equal(s.len, 1 + 19999 + 3);
	assert_int_equal(s.buf[0], '<');
	assert_int_equal(s.buf[19999], 'q');
	assert_string_equal(s.buf + 20000, ">42");
	assert_int_equal(strlen(s.buf), s.len);
	shim_sink_free(&s);
}

static void test_failed_is_sticky(void **state)
{
	struct shim_sink s;
	(void)state;

	shim_sink_init(&s);
	shim_sink_puts(&s, "kept");
	s.failed = 1; /* as after an out-of-memory realloc */
	shim_sink_puts(&s, "lost");
	shim_sink_printf(&s, "%d", 7);
	shim_sink_write(&s, "x", 1);
	assert_int_equal(s.len, 4);
	assert_string_equal(s.buf, "kept");
	shim_sink_free(&s);
	assert_int_equal(s.failed, 0);
}

static void test_impossible_size(void **state)
{
	struct shim_sink s;
	(void)state;

	/* a size that cannot be reserved fails the sink; it never wraps around
	 * into a small buffer and a huge copy */
	shim_sink_init(&s);
	shim_sink_puts(&s, "x");
	shim_sink_write(&s, "y", SIZE_MAX);
	assert_int_equal(s.failed, 1);
	assert_int_equal(s.len, 1);
	shim_sink_free(&s);

	shim_sink_init(&s);
	shim_sink_write(&s, "y", SIZE_MAX - 1);
	assert_int_equal(s.failed, 1);
	shim_sink_free(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_free),
		cmocka_unit_test(test_write_puts_printf),
		cmocka_unit_test(test_growth),
		cmocka_unit_test(test_printf_large),
		cmocka_unit_test(test_failed_is_sticky),
		cmocka_unit_test(test_impossible_size),
	};
	return unit_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
