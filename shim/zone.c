/* SPDX-License-Identifier: MIT */
/* One reservation, handed out by a bump pointer (see zone.h). Raw system
 * calls: the first call may come from an allocation hook or the SIGPROF
 * handler's caller, before anything else is set up. */
#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "zone.h"

#define PAGE ((size_t)4096)

static char *base;  /* the reservation, or MAP_FAILED (atomic) */
static size_t used; /* bytes handed out (atomic) */

static void *map(size_t size)
{
	long p = syscall(SYS_mmap, NULL, size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return p < 0 && p > -4096 ? MAP_FAILED : (void *)p;
}

void *shim_zone_map(size_t size)
{
	int saved = errno;
	char *b = __atomic_load_n(&base, __ATOMIC_ACQUIRE), *expect = NULL;
	size_t off;
	void *p;

	if (!size || size > SIZE_MAX - PAGE)
		return NULL;
	size = (size + PAGE - 1) & ~(PAGE - 1);
	if (!b) {
		b = map(SHIM_ZONE_BYTES);
		/* two first calls at once: one reservation wins, the other goes */
		if (!__atomic_compare_exchange_n(&base, &expect, b, 0, __ATOMIC_ACQ_REL,
						 __ATOMIC_ACQUIRE)) {
			if (b != MAP_FAILED)
				syscall(SYS_munmap, b, SHIM_ZONE_BYTES);
			b = expect;
		}
	}
	if (b != MAP_FAILED && size <= SHIM_ZONE_BYTES) {
		off = __atomic_fetch_add(&used, size, __ATOMIC_RELAXED);
		if (off <= SHIM_ZONE_BYTES - size) {
			errno = saved;
			return b + off;
		}
	}
	p = map(size); /* the zone is full (or was never made) */
	errno = saved;
	return p == MAP_FAILED ? NULL : p;
}
