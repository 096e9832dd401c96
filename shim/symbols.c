/* SPDX-License-Identifier: MIT */
/* Symbolization at export. libdw is opened with dlopen(RTLD_LOCAL) the first
 * time an export needs it (linked directly it would cost every process start
 * 5 ms); separate debug files are looked up by build ID under /usr/lib/debug
 * only (never a debuginfod download at exit). Without libdw: dladdr. Objects
 * the program dlclose'd are reported at the bias they had (shim/dlmods.c). */
#include <dlfcn.h>
#include <elf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <dwarf.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dlmods.h"
#include "dynsym.h"
#include "symbols.h"

static struct {
	int tried, ok;
	__typeof__(&dwfl_begin) begin;
	__typeof__(&dwfl_end) end;
	__typeof__(&dwfl_linux_proc_report) proc_report;
	__typeof__(&dwfl_report_begin) report_begin;
	__typeof__(&dwfl_report_end) report_end;
	__typeof__(&dwfl_report_elf) report_elf;
	__typeof__(&dwfl_linux_proc_find_elf) find_elf;
	__typeof__(&dwfl_addrmodule) addrmodule;
	__typeof__(&dwfl_module_info) module_info;
	__typeof__(&dwfl_module_getelf) getelf;
	__typeof__(&dwfl_module_build_id) build_id;
	__typeof__(&dwfl_module_addrinfo) addrinfo;
	__typeof__(&dwfl_module_getsrc) getsrc;
	__typeof__(&dwfl_lineinfo) lineinfo;
	__typeof__(&dwfl_module_addrdie) addrdie;
	__typeof__(&dwarf_getscopes) getscopes;
	__typeof__(&dwarf_tag) tag;
	__typeof__(&dwarf_decl_line) decl_line;
	__typeof__(&dwarf_decl_file) decl_file;
	__typeof__(&dwarf_diename) diename;
	__typeof__(&dwarf_lowpc) lowpc;
} dw;

static Dwfl *dwfl;
static Dwfl *gone; /* objects the program dlclose'd, at their old places */
static int session_open;
static int lazy; /* a session that wants libdw but has not needed it yet */
static int debug_files;	 /* read separate debug files (SHIM_SYM_DEBUG) */
static int system_dwarf; /* read system libraries' DWARF (SHIM_SYM_FULL) */

static const char *base(const char *path)
{
	const char *s = strrchr(path, '/');
	return s ? s + 1 : path;
}

/* The separate debug file a build ID names, /usr/lib/debug/.build-id/ab/
 * cdef....debug, into path; 0, or -1 for an ID too short to name one. */
static int debug_path(const unsigned char *id, size_t n, char *path, size_t size)
{
	size_t len;

	if (n <= 1)
		return -1;
	len = (size_t)snprintf(path, size, "/usr/lib/debug/.build-id/%02x/", id[0]);
	for (size_t i = 1; i < n && len + 16 < size; i++)
		len += (size_t)snprintf(path + len, size - len, "%02x", id[i]);
	snprintf(path + len, size - len, ".debug");
	return 0;
}

/* Separate debug info by build ID (debug_path). */
static int find_debuginfo(Dwfl_Module *mod, void **ud, const char *modname, Dwarf_Addr b,
			  const char *file, const char *link, GElf_Word crc, char **name)
{
	const unsigned char *id;
	GElf_Addr vaddr;
	char path[512];
	int n, fd;

	(void)ud, (void)modname, (void)b, (void)file, (void)link, (void)crc;
	/* below SHIM_SYM_DEBUG, the symbols the objects carry: libc's debug
	 * file alone (libc6-dbg) is thousands of symbols for libdw to read and
	 * sort, milliseconds at the exit of every short process it is in */
	if (!debug_files)
		return -1;
	n = dw.build_id(mod, &id, &vaddr);
	if (n <= 0 || debug_path(id, (size_t)n, path, sizeof(path)) != 0)
		return -1;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		*name = strdup(path);
	return fd;
}

static char *no_path;
static Dwfl_Callbacks callbacks = {
	.find_debuginfo = find_debuginfo,
	.debuginfo_path = &no_path,
};

#define LOAD(field, sym) (dw.field = (__typeof__(dw.field))dlsym(h, #sym)) != NULL

static int load_dw(void)
{
	void *h;

	if (dw.tried)
		return dw.ok;
	dw.tried = 1;
	shim_dlmod_ours_begin();
	h = dlopen("libdw.so.1", RTLD_NOW | RTLD_LOCAL);
	shim_dlmod_ours_end();
	if (!h)
		return 0;
	dw.ok = LOAD(begin, dwfl_begin) && LOAD(end, dwfl_end) &&
		LOAD(proc_report, dwfl_linux_proc_report) &&
		LOAD(report_begin, dwfl_report_begin) && LOAD(report_end, dwfl_report_end) &&
		LOAD(report_elf, dwfl_report_elf) &&
		LOAD(find_elf, dwfl_linux_proc_find_elf) && LOAD(addrmodule, dwfl_addrmodule) &&
		LOAD(module_info, dwfl_module_info) && LOAD(getelf, dwfl_module_getelf) &&
		LOAD(build_id, dwfl_module_build_id) && LOAD(addrinfo, dwfl_module_addrinfo) &&
		LOAD(getsrc, dwfl_module_getsrc) && LOAD(lineinfo, dwfl_lineinfo) &&
		LOAD(addrdie, dwfl_module_addrdie) && LOAD(getscopes, dwarf_getscopes) &&
		LOAD(tag, dwarf_tag) && LOAD(decl_line, dwarf_decl_line) &&
		LOAD(decl_file, dwarf_decl_file) && LOAD(diename, dwarf_diename) &&
		LOAD(lowpc, dwarf_lowpc);
	callbacks.find_elf = dw.ok ? dw.find_elf : NULL;
	return dw.ok;
}

/* Whether the file at g->path is still the object that was unloaded: a file
 * replaced since has another build ID, and its names would be wrong. Checked
 * in a scratch session, since a reported module cannot be taken back. */
static int same_file(const struct shim_dlmod *g)
{
	Dwfl *scratch;
	Dwfl_Module *mod;
	const unsigned char *id;
	GElf_Addr vaddr;
	int n = 0;

	if (!g->build_id_len)
		return 1; /* nothing to compare with: trust the path */
	scratch = dw.begin(&callbacks);
	if (!scratch)
		return 0;
	dw.report_begin(scratch);
	mod = dw.report_elf(scratch, base(g->path), g->path, -1, g->bias, 1);
	if (mod)
		n = dw.build_id(mod, &id, &vaddr);
	n = n > 0 && (size_t)n == g->build_id_len && memcmp(id, g->build_id, (size_t)n) == 0;
	dw.end(scratch);
	return n;
}

/* An unloaded object, at the bias it had, read again from its file. */
static void report_gone(const struct shim_dlmod *g, void *arg)
{
	(void)arg;
	if (same_file(g))
		dw.report_elf(gone, base(g->path), g->path, -1, g->bias, 1);
}

/* The program's own file, as libdw names it from /proc/self/maps (argv[0]
 * may be a link of another name): "" when unknown. Read once per image (the
 * symbolizer, the mappings and every trace model ask for it; the first
 * /proc/self lookup of a process is its dearest). */
static char exe_file[512];
static pthread_once_t exe_once = PTHREAD_ONCE_INIT;

static void read_exe(void)
{
	ssize_t len = readlink("/proc/self/exe", exe_file, sizeof(exe_file) - 1);
	exe_file[len > 0 ? len : 0] = '\0';
}

const char *shim_sym_exe_path(void)
{
	pthread_once(&exe_once, read_exe);
	return exe_file;
}

/* ---- objects libdw knows no more about than dladdr ---- */

/* A stripped object (no .symtab, no DWARF, no MiniDebugInfo), and from
 * SHIM_SYM_DEBUG on also without a debug file under /usr/lib/debug/.build-id:
 * libdw would name its code from .dynsym, as dladdr does. A short process whose samples fall only in such
 * objects (most of a distribution's programs) then never loads libdw and its
 * libraries, milliseconds at its exit. Decided once per object. */
#define PLAIN_CAP 64
static struct {
	const void *map; /* the object's link_map */
	int plain;
} plain_seen[PLAIN_CAP];
static int nplain;

/* 1: the file at path has a symbol table or debug sections of its own; 0:
 * none; -1: not readable as ELF. Reads only the section headers and their
 * names. */
static int own_debug(const char *path)
{
	ElfW(Ehdr) eh;
	ElfW(Shdr) *sh = NULL;
	char *names = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC), r = -1;
	size_t n;

	if (fd < 0)
		return -1;
	if (pread(fd, &eh, sizeof(eh), 0) != (ssize_t)sizeof(eh) ||
	    memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != (sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32) ||
	    eh.e_shentsize != sizeof(*sh) || !eh.e_shnum || eh.e_shnum > 4096 ||
	    eh.e_shstrndx >= eh.e_shnum)
		goto out;
	n = eh.e_shnum;
	if (!(sh = malloc(n * sizeof(*sh))) ||
	    pread(fd, sh, n * sizeof(*sh), (off_t)eh.e_shoff) != (ssize_t)(n * sizeof(*sh)) ||
	    sh[eh.e_shstrndx].sh_size > (1u << 20) ||
	    !(names = malloc(sh[eh.e_shstrndx].sh_size + 1)) ||
	    pread(fd, names, sh[eh.e_shstrndx].sh_size, (off_t)sh[eh.e_shstrndx].sh_offset) !=
		    (ssize_t)sh[eh.e_shstrndx].sh_size)
		goto out;
	names[sh[eh.e_shstrndx].sh_size] = '\0';
	r = 0;
	for (size_t i = 0; i < n && !r; i++) {
		const char *nm;
		if (sh[i].sh_name >= sh[eh.e_shstrndx].sh_size)
			continue;
		nm = names + sh[i].sh_name;
		r = !strcmp(nm, ".symtab") || !strncmp(nm, ".debug_", 7) ||
		    !strncmp(nm, ".zdebug_", 8) || !strcmp(nm, ".gnu_debugdata");
	}
out:
	free(names);
	free(sh);
	close(fd);
	return r;
}

struct note_find {
	uintptr_t bias;
	const char *name;
	char path[512]; /* the debug file its build ID names, "" when none */
};

/* The object's build ID, from its notes as mapped (shim/dlmods.c reads
 * them), as the name of its debug file. */
static int find_build_id(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct note_find *nf = arg;
	unsigned char id[SHIM_BUILD_ID_MAX];
	size_t n;

	(void)size;
	if (info->dlpi_addr != nf->bias || strcmp(info->dlpi_name, nf->name) != 0)
		return 0;
	n = shim_dlmod_build_id(info, id, sizeof(id));
	if (debug_path(id, n, nf->path, sizeof(nf->path)) != 0)
		nf->path[0] = '\0';
	return 1;
}

/* Whether the code at pc is in a plain object (see above). */
static int plain_at(uintptr_t pc)
{
	struct dl_find_object fo;
	struct link_map *lm;
	struct note_find nf;
	const char *path;
	int r;

	if (!pc || _dl_find_object((void *)pc, &fo) != 0 || !(lm = fo.dlfo_link_map))
		return 0; /* no object the loader knows: libdw may (an unloaded one) */
	for (int i = 0; i < nplain; i++)
		if (plain_seen[i].map == lm)
			return plain_seen[i].plain;
	/* dladdr names the program by its argv[0]: its file is /proc/self/exe */
	path = lm->l_name && lm->l_name[0] ? lm->l_name : shim_sym_exe_path();
	/* 1: a symbol table or DWARF of its own; 0: none; -1: unreadable (the
	 * vDSO): .dynsym is all there is then too */
	r = own_debug(path) > 0;
	if (!r && debug_files) {
		memset(&nf, 0, sizeof(nf));
		nf.bias = lm->l_addr;
		nf.name = lm->l_name ? lm->l_name : "";
		dl_iterate_phdr(find_build_id, &nf);
		r = nf.path[0] && access(nf.path, R_OK) == 0;
	}
	if (nplain < PLAIN_CAP) {
		plain_seen[nplain].map = lm;
		plain_seen[nplain++].plain = !r;
	}
	return !r;
}

static int start_dw(int with_gone);

int shim_sym_begin(int level)
{
	int ngone;

	shim_sym_end();
	session_open = 1;
	debug_files = level >= SHIM_SYM_DEBUG;
	system_dwarf = level >= SHIM_SYM_FULL;
	ngone = (int)shim_dlmod_count();
	/* code of an unloaded object has no dladdr answer: libdw at once then
	 * (before it is mapped itself). Otherwise libdw waits for the first
	 * address in an object it knows more about than dladdr does. */
	if (level == SHIM_SYM_DYNAMIC && !ngone)
		return 0;
	if (!ngone) {
		lazy = 1;
		return 0;
	}
	return start_dw(1);
}

/* Load libdw and report the objects (with_gone: the unloaded ones too, in a
 * session of their own). 0, or -1 when libdw is missing (dladdr then). */
static int start_dw(int with_gone)
{
	lazy = 0;
	if (!load_dw())
		return -1;
	/* a session of their own: an object Shimmer loaded at export (libdw)
	 * may sit where one of them was, and the samples predate it */
	if (with_gone && (gone = dw.begin(&callbacks)) != NULL) {
		dw.report_begin(gone);
		shim_dlmod_foreach(report_gone, NULL);
		if (dw.report_end(gone, NULL, NULL) != 0) {
			dw.end(gone);
			gone = NULL;
		}
	}
	dwfl = dw.begin(&callbacks);
	if (!dwfl)
		return -1;
	dw.report_begin(dwfl);
	if (dw.proc_report(dwfl, getpid()) != 0 || dw.report_end(dwfl, NULL, NULL) != 0) {
		dw.end(dwfl);
		dwfl = NULL;
		return -1;
	}
	return 0;
}

void shim_sym_end(void)
{
	if (dwfl)
		dw.end(dwfl);
	if (gone)
		dw.end(gone);
	dwfl = gone = NULL;
	session_open = 0;
	lazy = 0;
	nplain = 0;
}

char *shim_sym_demangle(const char *name)
{
	static char *(*cxa)(const char *, char *, size_t *, int *);
	static int tried;
	size_t at = strcspn(name, "@");
	char tmp[1024];

	/* dynamic symbols carry their version: "__libc_start_main@@GLIBC_2.34" */
	if (name[at] && at < sizeof(tmp)) {
		memcpy(tmp, name, at);
		tmp[at] = '\0';
		name = tmp;
	}

	if (name[0] == '_' && name[1] == 'Z') {
		if (!tried) {
			tried = 1;
			cxa = (__typeof__(cxa))dlsym(RTLD_DEFAULT, "__cxa_demangle");
			if (!cxa) {
				void *h = dlopen("libstdc++.so.6", RTLD_LAZY | RTLD_LOCAL);
				if (h)
					cxa = (__typeof__(cxa))dlsym(h, "__cxa_demangle");
			}
		}
		if (cxa) {
			int st = -1;
			char *d = cxa(name, NULL, NULL, &st);
			if (d && st == 0)
				return d;
			free(d);
		}
	}
	return strdup(name);
}

static int set_unknown(struct shim_frame *out, const char *mod)
{
	char buf[512];
	snprintf(buf, sizeof(buf), "%.400s+0x%lx", mod, (unsigned long)out->offset);
	out->func = strdup(buf);
	return out->func ? 0 : -1;
}

/* The ELF dynamic symbols, as dladdr gives them (shim/dynsym.h): the
 * fallback without libdw. */
static int by_dladdr(uintptr_t pc, struct shim_frame *out)
{
	const struct shim_dlmod *g;
	struct shim_dynsym ds;
	char buf[64];

	if (pc && shim_dynsym_find(pc, &ds) == 0) {
		/* dladdr names the program by its argv[0]: its file instead, as
		 * libdw does (a link of another name, a relative path) */
		const char *path = ds.lm->l_name && ds.lm->l_name[0] ? ds.lm->l_name
								     : shim_sym_exe_path();
		const char *mod = base(path);
		if (!mod[0])
			mod = program_invocation_short_name;
		out->module = strdup(mod);
		out->path = strdup(path[0] ? path : mod);
		out->offset = pc - ds.base;
		/* a symbol that does not cover pc (a static function after an
		 * exported one) would be a wrong nearest name */
		if (ds.name && ds.size && pc - ds.addr < ds.size) {
			out->func = shim_sym_demangle(ds.name);
			out->func_addr = ds.addr;
		} else if (out->module && set_unknown(out, mod) != 0) {
			return -1;
		}
	} else if (pc && (g = shim_dlmod_find(pc)) != NULL) {
		/* unloaded before the export: no symbol, but the right module */
		out->module = strdup(base(g->path));
		out->path = strdup(g->path);
		out->offset = pc - g->bias;
		if (out->module && set_unknown(out, out->module) != 0)
			return -1;
	} else {
		snprintf(buf, sizeof(buf), "0x%lx", (unsigned long)pc);
		out->module = strdup("?");
		out->func = strdup(buf);
		out->offset = pc;
	}
	return out->module && out->func ? 0 : -1;
}

/* The subprogram around pc (not an inlined copy: the symbol is the frame the
 * sample is charged to): its declared line and file. */
static void by_dwarf(Dwfl_Module *mod, uintptr_t pc, struct shim_frame *out, const char **file,
		     const char **dname, Dwarf_Addr *low)
{
	Dwarf_Addr bias = 0;
	Dwarf_Die *cu = dw.addrdie(mod, pc, &bias), *scopes = NULL;
	int n;

	if (!cu)
		return;
	n = dw.getscopes(cu, pc - bias, &scopes);
	for (int i = 0; i < n; i++) {
		Dwarf_Addr lo;
		if (dw.tag(&scopes[i]) != DW_TAG_subprogram)
			continue;
		if (dw.decl_line(&scopes[i], &out->line) != 0)
			out->line = 0;
		*file = dw.decl_file(&scopes[i]);
		*dname = dw.diename(&scopes[i]);
		if (dw.lowpc(&scopes[i], &lo) == 0)
			*low = lo + bias;
		break;
	}
	free(scopes);
}

static int system_path(const char *path)
{
	return strncmp(path, "/lib/", 5) == 0 || strncmp(path, "/lib64/", 7) == 0 ||
	       strncmp(path, "/usr/lib/", 9) == 0 || strncmp(path, "/usr/lib64/", 11) == 0;
}

int shim_sym_pc(uintptr_t pc, struct shim_frame *out)
{
	Dwfl_Module *mod;
	const char *name, *mainfile = NULL, *sname, *file = NULL, *dname = NULL;
	GElf_Addr bias = 0;
	GElf_Off off = 0;
	GElf_Sym sym;
	Dwarf_Addr low = 0;
	Dwfl_Line *l;
	int dwarf_ok;

	memset(out, 0, sizeof(*out));
	if (lazy && !plain_at(pc))
		start_dw(0);
	/* an unloaded object still listed was not replaced by the program's own */
	mod = gone ? dw.addrmodule(gone, pc) : NULL;
	if (!mod && dwfl)
		mod = dw.addrmodule(dwfl, pc);
	if (!mod) {
		if (by_dladdr(pc, out) != 0)
			goto oom;
		goto file;
	}
	name = dw.module_info(mod, NULL, NULL, NULL, NULL, NULL, &mainfile, NULL);
	if (!mainfile)
		mainfile = name ? name : "?";
	out->path = strdup(mainfile);
	out->module = strdup(base(mainfile)[0] ? base(mainfile) : program_invocation_short_name);
	if (!out->path || !out->module)
		goto oom;
	dw.getelf(mod, &bias);
	out->offset = pc - bias;

	/* the DWARF of a system library lives in its separate debug file
	 * (libc6-dbg, -dbgsym), compressed: tens of ms to open, so only for a
	 * real profile; their symbol tables still name the functions */
	dwarf_ok = system_dwarf || !system_path(mainfile);
	if (dwarf_ok)
		by_dwarf(mod, pc, out, &file, &dname, &low);
	memset(&sym, 0, sizeof(sym));
	sname = dw.addrinfo(mod, pc, &off, &sym, NULL, NULL, NULL);
	/* a symbol that does not cover pc (sizeless, or pc past its end) would
	 * be a wrong nearest name */
	if (sname && sym.st_size && off < sym.st_size) {
		out->func = shim_sym_demangle(sname);
		out->func_addr = pc - off;
	} else if (dname && low) {
		out->func = strdup(dname);
		out->func_addr = low;
	} else if (set_unknown(out, out->module) != 0) {
		goto oom;
	}
	if (!out->func)
		goto oom;
	l = dwarf_ok ? dw.getsrc(mod, pc) : NULL;
	if (l) {
		const char *src = dw.lineinfo(l, NULL, &out->pc_line, NULL, NULL, NULL);
		if (!file)
			file = src;
	}
	if (file && !(out->file = strdup(file)))
		goto oom;
file:
	if (!out->file && !(out->file = strdup(out->module)))
		goto oom;
	return 0;
oom:
	shim_sym_frame_free(out);
	return -1;
}

int shim_sym_lookup(const void *pc, struct shim_frame *out)
{
	int r;

	if (!session_open)
		shim_sym_begin(SHIM_SYM_OWN);
	/* a return address points after the call: describe the call itself */
	r = shim_sym_pc(pc ? (uintptr_t)pc - 1 : 0, out);
	if (r == 0 && pc)
		out->offset++;
	return r;
}

void shim_sym_frame_free(struct shim_frame *f)
{
	free(f->module);
	free(f->file);
	free(f->func);
	free(f->path);
	memset(f, 0, sizeof(*f));
}
