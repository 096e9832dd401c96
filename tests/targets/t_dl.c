/* SPDX-License-Identifier: MIT */
/* A plugin's life: dlopen libdlwork.so (argv[1], or next to this program), burn
 * about a second of CPU in its dl_work, dlclose it, check its pages are gone,
 * then a little work of our own (main_spin) and exit. Prints "unloaded 1" when
 * the library is no longer mapped at exit. */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile unsigned long sink;
static volatile long unit = 400000000;

__attribute__((noinline)) void main_spin(long n)
{
	for (long i = 0; i < n; i++)
		sink += (unsigned long)i;
}

static int mapped(const char *name)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[4352];
	int hit = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		hit |= strstr(line, name) != NULL;
	fclose(f);
	return hit;
}

int main(int argc, char **argv)
{
	char path[PATH_MAX];
	void (*work)(long);
	void *h;

	if (argc > 1) {
		snprintf(path, sizeof(path), "%s", argv[1]);
	} else {
		ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 32);
		if (n < 0)
			return 2;
		path[n] = '\0';
		strcpy(strrchr(path, '/') + 1, "libdlwork.so");
	}
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		return 1;
	}
	work = (void (*)(long))dlsym(h, "dl_work");
	if (!work)
		return 1;
	work(unit);
	if (dlclose(h) != 0)
		return 1;
	main_spin(unit / 10);
	printf("unloaded %d\n", mapped("libdlwork.so") == 0);
	return 0;
}
