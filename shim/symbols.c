/* SPDX-License-Identifier: MIT */
/* dladdr-based symbolization: exact for symbols in the dynamic table (glibc
 * checks the symbol's size), module+offset otherwise. The profiler issue
 * brings DWARF (libdw) behind the same interface. */
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "symbols.h"

static const char *base(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

int shim_sym_lookup(const void *pc, struct shim_frame *out)
{
	/* a return address points after the call: look up the call itself */
	const char *at = (const char *)pc - 1;
	Dl_info info;
	char buf[512];

	memset(out, 0, sizeof(*out));
	if (pc && dladdr(at, &info) && info.dli_fname) {
		const char *mod = info.dli_fname[0] ? base(info.dli_fname) : "(main)";
		if (!info.dli_fname[0] || strcmp(mod, "") == 0)
			mod = program_invocation_short_name;
		out->module = strdup(mod);
		out->offset = (uintptr_t)pc - (uintptr_t)info.dli_fbase;
		if (info.dli_sname && info.dli_saddr) {
			out->func = strdup(info.dli_sname);
		} else {
			snprintf(buf, sizeof(buf), "%s+0x%lx", mod, (unsigned long)out->offset);
			out->func = strdup(buf);
		}
	} else {
		snprintf(buf, sizeof(buf), "0x%lx", (unsigned long)(uintptr_t)pc);
		out->module = strdup("?");
		out->func = strdup(buf);
		out->offset = (uintptr_t)pc;
	}
	out->file = out->module ? strdup(out->module) : NULL;
	if (!out->module || !out->func || !out->file) {
		shim_sym_frame_free(out);
		return -1;
	}
	return 0;
}

void shim_sym_frame_free(struct shim_frame *f)
{
	free(f->module);
	free(f->file);
	free(f->func);
	memset(f, 0, sizeof(*f));
}
