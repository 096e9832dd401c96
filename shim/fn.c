/* SPDX-License-Identifier: MIT */
/* The function table, generated from hooks/<family>.def. Constant data only. */
#include "fn.h"

const struct shim_fninfo shim_fninfo[SHIM_FN_COUNT] = {
#define SHIM_FN(name, fam, dir) [SHIM_FN_##name] = {#name, SHIM_FAM_##fam, SHIM_DIR_##dir},
#include "../hooks/alloc.def"
#include "../hooks/file.def"
#include "../hooks/stdio.def"
#include "../hooks/net.def"
#include "../hooks/dns.def"
#include "../hooks/proc.def"
#include "../hooks/dl.def"
#undef SHIM_FN
};

static const char *const family_names[SHIM_FAM_COUNT] = {
	[SHIM_FAM_ALLOC] = "alloc", [SHIM_FAM_FILE] = "file", [SHIM_FAM_STDIO] = "stdio",
	[SHIM_FAM_NET] = "net",     [SHIM_FAM_DNS] = "dns",   [SHIM_FAM_PROC] = "proc",
};

const char *shim_family_name(unsigned family)
{
	return family < SHIM_FAM_COUNT ? family_names[family] : "?";
}
