/* SPDX-License-Identifier: MIT */
/* shim_model_read_mappings (shim/model_cpu.c): the executable segments of the
 * loaded objects, read from the loader's list, must be exactly what
 * /proc/self/maps lists (start, limit, offset, the kernel's path with every
 * link resolved), including an object opened through a linked folder and a
 * linked file name, and carry the build IDs readelf would show. */
#include "unit.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../shim/model.h"

struct row {
	unsigned long lo, hi, off;
	char path[PATH_MAX];
};

/* The executable mappings with a file, as the kernel lists them. */
static int proc_maps(struct row *rows, int cap)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[PATH_MAX + 128];
	int n = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		char perms[8];
		int pos = 0;
		struct row r;
		if (sscanf(line, "%lx-%lx %7s %lx %*s %*s%n", &r.lo, &r.hi, perms, &r.off, &pos) < 4 ||
		    perms[2] != 'x')
			continue;
		char *p = line + pos + strspn(line + pos, " ");
		p[strcspn(p, "\n")] = '\0';
		if (p[0] != '/')
			continue;
		snprintf(r.path, sizeof(r.path), "%s", p);
		assert_true(n < cap);
		rows[n++] = r;
	}
	fclose(f);
	return n;
}

static void test_same_as_proc_maps(void **state)
{
	char exe[PATH_MAX], dir[] = "/tmp/shimmer-maps-XXXXXX", linkdir[PATH_MAX + 8],
			    alias[PATH_MAX + 32], target[PATH_MAX + 16];
	struct row rows[256];
	struct shim_model_mapping *v = NULL;
	size_t n = 0, cap = 0;
	ssize_t len;
	void *h;
	int nrows, found_plain = 0, found_libc = 0;

	(void)state;
	/* libplain.so opened as <tmp>/via/alias.so, where via links to <tmp>
	 * and alias.so to the real file: both links must be resolved */
	len = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	assert_true(len > 0);
	exe[len] = '\0';
	*strrchr(exe, '/') = '\0';
	assert_non_null(mkdtemp(dir));
	snprintf(target, sizeof(target), "%s/libplain.so", exe);
	snprintf(linkdir, sizeof(linkdir), "%s/via", dir);
	snprintf(alias, sizeof(alias), "%s/alias.so", dir);
	assert_int_equal(symlink(target, alias), 0);
	assert_int_equal(symlink(dir, linkdir), 0);
	snprintf(alias, sizeof(alias), "%s/via/alias.so", dir);
	h = dlopen(alias, RTLD_NOW);
	assert_non_null(h);

	assert_int_equal(shim_model_read_mappings(&v, &n, &cap), 0);
	nrows = proc_maps(rows, 256);
	assert_int_equal((int)n, nrows);
	for (int i = 0; i < nrows; i++) {
		size_t k;
		for (k = 0; k < n; k++)
			if (v[k].start == rows[i].lo)
				break;
		assert_true(k < n);
		assert_int_equal(v[k].limit, rows[i].hi);
		assert_int_equal(v[k].offset, rows[i].off);
		assert_string_equal(v[k].path, rows[i].path);
		if (strstr(v[k].path, "/libplain.so"))
			found_plain = 1;
		if (strstr(v[k].path, "/libc.so")) {
			found_libc = 1;
			/* Debian's libc has a GNU build ID: 40 hex digits */
			assert_non_null(v[k].build_id);
			assert_int_equal(strlen(v[k].build_id), 40);
		}
	}
	assert_true(found_plain && found_libc);

	for (size_t k = 0; k < n; k++) {
		free(v[k].path);
		free(v[k].build_id);
	}
	free(v);
	dlclose(h);
	unlink(linkdir);
	snprintf(alias, sizeof(alias), "%s/alias.so", dir);
	unlink(alias);
	rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_as_proc_maps),
	};
	return unit_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
