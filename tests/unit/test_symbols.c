/* SPDX-License-Identifier: MIT */
/* shim/symbols.c: demangling and version stripping, and libdw symbolization
 * of this test's own code (name, source file, first line, line of the pc). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "../../shim/symbols.h"

static void expect_demangled(const char *in, const char *want)
{
	char *got = shim_sym_demangle(in);
	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
}

static void test_demangle(void **state)
{
	(void)state;
	expect_demangled("main", "main");
	expect_demangled("__libc_start_main@@GLIBC_2.34", "__libc_start_main");
	expect_demangled("memcpy@GLIBC_2.2.5", "memcpy");
	expect_demangled("_ZN3foo3barEi", "foo::bar(int)");
	expect_demangled("_ZNSt6vectorIiSaIiEE9push_backERKi",
			 "std::vector<int, std::allocator<int> >::push_back(int const&)");
	expect_demangled("_Znot_valid", "_Znot_valid"); /* kept as is, never a guess */
}

static const int known_line = __LINE__ + 1;
__attribute__((noinline)) uintptr_t known_function(void)
{
	return (uintptr_t)__builtin_return_address(0);
}

static void test_own_code(void **state)
{
	struct shim_frame f;
	uintptr_t ra;
	const char *b;

	(void)state;
	assert_int_equal(shim_sym_begin(SHIM_SYM_OWN), 0);
	assert_int_equal(shim_sym_pc((uintptr_t)known_function + 1, &f), 0);
	assert_string_equal(f.func, "known_function");
	b = strrchr(f.file, '/');
	assert_string_equal(b ? b + 1 : f.file, "test_symbols.c");
	assert_int_equal(f.line, known_line);
	assert_true(f.pc_line >= known_line && f.pc_line <= known_line + 3);
	assert_true(f.func_addr == (uintptr_t)known_function);
	shim_sym_frame_free(&f);

	/* a return address describes its caller: this function */
	ra = known_function();
	assert_int_equal(shim_sym_lookup((const void *)ra, &f), 0);
	assert_string_equal(f.func, "test_own_code");
	shim_sym_frame_free(&f);
	shim_sym_end();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_demangle),
		cmocka_unit_test(test_own_code),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	/* skip the shim's exit flush: no run folder in the source tree */
	_exit(rc ? 1 : 0);
}
