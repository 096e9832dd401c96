/* SPDX-License-Identifier: MIT */
/* A stripped shared object for test_symbols_plain: one exported function and
 * a static one right after it (built in source order), which only a symbol
 * table could name: the nearest exported name is the wrong one for it. Built
 * with -s (no .symtab, no DWARF) and no debug file anywhere. */
static int plain_hidden(int x);

__attribute__((noinline)) int plain_work(int x)
{
	return plain_hidden(x) + 2;
}

__attribute__((noinline)) static int plain_hidden(int x)
{
	return x * 3 + 1;
}

void *plain_hidden_addr(void)
{
	return (void *)plain_hidden;
}
