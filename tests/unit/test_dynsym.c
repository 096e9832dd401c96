/* SPDX-License-Identifier: MIT */
/* shim/dynsym.c against glibc's own dladdr: across the executable segments of
 * libc, libcmocka and this program, at thousands of addresses, the object,
 * its base and the symbol chosen (name and address) must be dladdr's. */
#include "unit.h"

#include <dlfcn.h>
#include <link.h>
#include <string.h>

#include "../../shim/dynsym.h"

struct range {
	uintptr_t lo, hi;
	char name[64];
};

static struct range ranges[64];
static int nranges;

static int collect(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size;
	(void)arg;
	for (int i = 0; i < info->dlpi_phnum && nranges < 64; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		ranges[nranges].lo = info->dlpi_addr + ph->p_vaddr;
		ranges[nranges].hi = ranges[nranges].lo + ph->p_memsz;
		snprintf(ranges[nranges].name, sizeof(ranges[nranges].name), "%s",
			 info->dlpi_name && info->dlpi_name[0] ? info->dlpi_name : "(program)");
		nranges++;
	}
	return 0;
}

static void test_same_as_dladdr(void **state)
{
	int named = 0, checked = 0, libc = 0;

	(void)state;
	dl_iterate_phdr(collect, NULL);
	for (int r = 0; r < nranges; r++) {
		uintptr_t step = (ranges[r].hi - ranges[r].lo) / 1500 + 1;
		if (strstr(ranges[r].name, "libc.so"))
			libc = 1;
		/* an odd step: not always the first byte of a function */
		step |= 1;
		for (uintptr_t pc = ranges[r].lo; pc < ranges[r].hi; pc += step) {
			Dl_info info;
			struct link_map *lm = NULL;
			struct shim_dynsym ds;
			int have = dladdr1((void *)pc, &info, (void **)&lm, RTLD_DL_LINKMAP) != 0;

			assert_int_equal(shim_dynsym_find(pc, &ds), have ? 0 : -1);
			if (!have)
				continue;
			checked++;
			assert_ptr_equal(ds.lm, lm);
			assert_int_equal(ds.base, (uintptr_t)info.dli_fbase);
			if (!info.dli_sname) {
				assert_null(ds.name);
				continue;
			}
			assert_non_null(ds.name);
			assert_string_equal(ds.name, info.dli_sname);
			assert_int_equal(ds.addr, (uintptr_t)info.dli_saddr);
			named++;
		}
	}
	assert_true(libc);
	/* most of libc's code is exported functions: names were compared */
	assert_true(named > 500);
	assert_true(checked > named);
	/* an address no object holds */
	{
		struct shim_dynsym ds;
		assert_int_equal(shim_dynsym_find(8, &ds), -1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_as_dladdr),
	};
	return unit_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
