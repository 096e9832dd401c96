/* SPDX-License-Identifier: MIT */
/* Finding the real functions. dlsym calls calloc; while a thread resolves, the
 * alloc hooks serve it from a static arena that is never freed. */
#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "log.h"
#include "resolve.h"
#include "thread.h"
#include "zone.h"

#define BOOT_SIZE (256 * 1024)

static _Alignas(64) unsigned char boot[BOOT_SIZE] SHIM_BIG;
static atomic_size_t boot_used;

void *shim_boot_alloc(size_t size)
{
	size_t want = (size + 15) & ~(size_t)15, at;

	if (size > BOOT_SIZE)
		return NULL;
	at = atomic_fetch_add(&boot_used, want);
	if (at + want > BOOT_SIZE)
		return NULL;
	/* static storage starts zeroed and is never reused */
	return boot + at;
}

int shim_boot_owns(const void *p)
{
	return (const unsigned char *)p >= boot && (const unsigned char *)p < boot + BOOT_SIZE;
}

size_t shim_boot_span(const void *p)
{
	return (size_t)(boot + BOOT_SIZE - (const unsigned char *)p);
}

static void *lookup(const char *name, const char *version)
{
	void *fn;
	int saved = errno; /* a hook's first call must leave errno as the real one does */

	shim_resolving_enter();
	fn = version ? dlvsym(RTLD_NEXT, name, version) : dlsym(RTLD_NEXT, name);
	shim_resolving_leave();
	if (!fn)
		shim_err("cannot find the real %s; calls to it fail with ENOSYS", name);
	errno = saved;
	return fn;
}

void *shim_resolve(const char *name)
{
	return lookup(name, NULL);
}

void *shim_resolve_ver(const char *name, const char *version)
{
	return lookup(name, version);
}
