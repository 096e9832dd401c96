/* SPDX-License-Identifier: MIT */
/* Code addresses to names at export time: elfutils (libdw, dlopen'd on first
 * use, RTLD_LOCAL) for function names and file:line, the ELF symbol tables
 * when there is no DWARF, module+0xoffset when no symbol covers the address.
 * Never a wrong nearest name. */
#ifndef SHIM_SYMBOLS_H
#define SHIM_SYMBOLS_H

#include <stdint.h>

struct shim_frame {
	char *module;	  /* basename of the object ("libc.so.6", "cp"), malloc'd */
	char *file;	  /* source file when known, else the module; malloc'd */
	int line;	  /* first line of the function, 0 when unknown */
	char *func;	  /* demangled function name, or "module+0x1a2b"; malloc'd */
	uintptr_t offset; /* pc - module load bias (the ELF address: addr2line -e) */
	/* below: filled by shim_sym_pc / shim_sym_lookup too */
	int pc_line;	    /* source line of the address itself, 0 when unknown */
	uintptr_t func_addr; /* absolute start of the function, 0 when no symbol */
	char *path;	    /* full path of the object, malloc'd, NULL when unknown */
};

/* Open a symbolization session over the current mappings (/proc/self/maps).
 * level (below): how hard to look. libdw is loaded by the first address in an
 * object it knows more about than dladdr at that level. Opening libdw
 * itself costs milliseconds (libelf, liblzma, libbz2...), so a process with no
 * sample gets level 0. Returns 0. Export time only: allocates, reads files,
 * takes the loader's lock. Pair with shim_sym_end. */
enum shim_sym_level {
	SHIM_SYM_DYNAMIC, /* the ELF dynamic symbols via dladdr only */
	SHIM_SYM_OWN,	  /* libdw: the symbol tables and DWARF (file:line) the
			   * objects carry, but not the system libraries' DWARF */
	SHIM_SYM_DEBUG,	  /* also the symbols of separate debug files under
			   * /usr/lib/debug (libc6-dbg, -dbgsym): libc's alone
			   * take libdw about 2 ms to read and sort */
	SHIM_SYM_FULL,	  /* also the system libraries' DWARF in those files:
			   * compressed, tens of milliseconds to open */
};
int shim_sym_begin(int level);

/* Close the session opened by shim_sym_begin. */
void shim_sym_end(void);

/* Describe the code at exact address pc (a sampled PC, or a return address
 * minus one). Returns 0 or -1 (out of memory). Export time only. */
int shim_sym_pc(uintptr_t pc, struct shim_frame *out);

/* Describe the code at return address pc (the call instruction before it).
 * Returns 0 or -1 (out of memory). Export time only: allocates, takes the
 * loader's lock; opens a session itself when none is open. */
int shim_sym_lookup(const void *pc, struct shim_frame *out);

void shim_sym_frame_free(struct shim_frame *f);

/* The program's own file (readlink of /proc/self/exe, once): "" when
 * unknown. */
const char *shim_sym_exe_path(void);

/* C++ (Itanium ABI) names demangled with the process's own __cxa_demangle,
 * or libstdc++ opened RTLD_LOCAL; a copy of name when it is not mangled or
 * cannot be demangled. Returns malloc'd or NULL (out of memory). */
char *shim_sym_demangle(const char *name);

#endif
