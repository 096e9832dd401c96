/* SPDX-License-Identifier: MIT */
/* A plugin that t_dl loads, runs and unloads: all its CPU time is in dl_spin,
 * called through dl_work, so a profile must name both after the dlclose. */
static volatile unsigned long sink;

__attribute__((noinline)) void dl_spin(long n)
{
	for (long i = 0; i < n; i++)
		sink += (unsigned long)i;
}

__attribute__((noinline)) void dl_work(long n)
{
	dl_spin(n);
}

/* 4 MB of data: the hole the library leaves is where the next objects load
 * (libdw at export), so an unloaded object hidden by them is tested too. */
__attribute__((used)) const char dl_pad[4 << 20] = {1};
