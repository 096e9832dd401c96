/* SPDX-License-Identifier: MIT */
/* shim/symbols.c without libdw when it would add nothing: addresses in a
 * stripped object with no debug file are named from its dynamic symbols
 * (dladdr) and libdw stays unmapped; an exported name is never lent to the
 * static function after it; the first address in an object with a symbol
 * table (this test program) loads libdw and gets its full name. */
#include "unit.h"

#include <dlfcn.h>
#include <limits.h>

#include "../../shim/symbols.h"

static int mapped(const char *needle)
{
	char line[4096];
	FILE *f = fopen("/proc/self/maps", "r");
	int found = 0;

	assert_non_null(f);
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, needle) != NULL;
	fclose(f);
	return found;
}

/* A function of this program only its .symtab names (static, not exported
 * even with -rdynamic). */
__attribute__((noinline)) static int local_only(int x)
{
	return x + 7;
}

static void plain_then_full(void **state)
{
	char exe[PATH_MAX], lib[PATH_MAX + 32];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	void *h, *work, *(*hidden_addr)(void);
	struct shim_frame f;
	int (*volatile call)(int) = local_only;

	(void)state;
	assert_true(n > 0);
	exe[n] = '\0';
	*strrchr(exe, '/') = '\0';
	snprintf(lib, sizeof(lib), "%s/libplain.so", exe);
	h = dlopen(lib, RTLD_NOW);
	assert_non_null(h);
	work = dlsym(h, "plain_work");
	hidden_addr = (void *(*)(void))dlsym(h, "plain_hidden_addr");
	assert_non_null(work);
	assert_non_null(hidden_addr);
	assert_false(mapped("libdw"));

	shim_sym_begin(SHIM_SYM_OWN);
	assert_int_equal(shim_sym_pc((uintptr_t)work + 1, &f), 0);
	assert_string_equal(f.func, "plain_work");
	assert_string_equal(f.module, "libplain.so");
	shim_sym_frame_free(&f);
	assert_int_equal(shim_sym_pc((uintptr_t)hidden_addr() + 1, &f), 0);
	assert_string_equal(f.module, "libplain.so");
	assert_true(strncmp(f.func, "libplain.so+0x", 14) == 0);
	shim_sym_frame_free(&f);
	assert_false(mapped("libdw"));

	/* this program has a symbol table: libdw now, and the static name */
	assert_int_equal(call(1), 8);
	assert_int_equal(shim_sym_pc((uintptr_t)local_only + 1, &f), 0);
	assert_string_equal(f.func, "local_only");
	shim_sym_frame_free(&f);
	assert_true(mapped("libdw"));
	/* the stripped object's names stay the same under libdw */
	assert_int_equal(shim_sym_pc((uintptr_t)work + 1, &f), 0);
	assert_string_equal(f.func, "plain_work");
	shim_sym_frame_free(&f);
	shim_sym_end();
	dlclose(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(plain_then_full),
	};
	return unit_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
