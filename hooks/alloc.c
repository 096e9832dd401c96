/* SPDX-License-Identifier: MIT */
/* Allocation family: counted per function (calls, bytes requested, failures),
 * never timed one by one: a malloc+free pair must stay within a few ns. While
 * a thread resolves (dlsym's own calloc) memory comes from the boot arena. */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "hook.h"

SHIM_REAL_DECL(malloc);
SHIM_REAL_DECL(calloc);
SHIM_REAL_DECL(realloc);
SHIM_REAL_DECL(free);

SHIM_EXPORT void *malloc(size_t n)
{
	void *p;

	if (__builtin_expect(shim_tls.resolving, 0))
		return shim_boot_alloc(n);
	if (!SHIM_RESOLVE(malloc)) {
		errno = ENOMEM;
		return NULL;
	}
	p = real_malloc(n);
	shim_rec_alloc(SHIM_FN_malloc, n, p == NULL);
	return p;
}

SHIM_EXPORT void *calloc(size_t n, size_t size)
{
	void *p;
	size_t total;

	if (__builtin_expect(shim_tls.resolving, 0) || !real_calloc) {
		/* dlsym(RTLD_NEXT, "calloc") itself callocs: serve it from the arena */
		if (shim_tls.resolving || !SHIM_RESOLVE(calloc))
			return __builtin_mul_overflow(n, size, &total) ? NULL
								       : shim_boot_alloc(total);
	}
	p = real_calloc(n, size);
	shim_rec_alloc(SHIM_FN_calloc, __builtin_mul_overflow(n, size, &total) ? 0 : total,
		       p == NULL);
	return p;
}

SHIM_EXPORT void *realloc(void *old, size_t n)
{
	void *p;

	if (__builtin_expect(shim_boot_owns(old), 0)) {
		/* arena memory cannot grow: move it to the real heap */
		p = SHIM_RESOLVE(malloc) ? real_malloc(n) : NULL;
		if (p && old)
			memcpy(p, old, n < shim_boot_span(old) ? n : shim_boot_span(old));
		return p;
	}
	if (__builtin_expect(shim_tls.resolving, 0))
		return shim_boot_alloc(n);
	if (!SHIM_RESOLVE(realloc)) {
		errno = ENOMEM;
		return NULL;
	}
	p = real_realloc(old, n);
	shim_rec_alloc(SHIM_FN_realloc, n, p == NULL && n != 0);
	return p;
}

SHIM_EXPORT void free(void *p)
{
	if (__builtin_expect(shim_boot_owns(p), 0))
		return;
	if (!SHIM_RESOLVE(free))
		return;
	real_free(p);
	shim_rec_alloc(SHIM_FN_free, 0, 0);
}
