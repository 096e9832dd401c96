/* SPDX-License-Identifier: MIT */
/* Settings from SHIMMER_* environment variables, read and validated once in the
 * constructor. A bad value disables instrumentation with one stderr line. */
#ifndef SHIM_CONFIG_H
#define SHIM_CONFIG_H

#include <limits.h>

struct shim_config {
	int disabled;	    /* SHIMMER_DISABLE=1, a bad setting, or AT_SECURE */
	unsigned families;  /* SHIMMER_HOOKS as a bitmask of 1 << SHIM_FAM_* */
	int log_level;	    /* SHIMMER_LOG */
	char out[PATH_MAX]; /* SHIMMER_OUT, made absolute */
};

extern struct shim_config shim_config;

/* Read the environment into shim_config. Returns 0, or -1 after printing one
 * "shimmer: SHIMMER_X=...: why" line (shim_config.disabled is then 1).
 * Async-signal-safe: no. Allocates: no. */
int shim_config_load(void);

/* Parse a SHIMMER_HOOKS list ("file,net" / "all" / "none") into a mask.
 * Returns 0 or -1 with *bad set to the first unknown name. Pure. */
int shim_config_parse_families(const char *s, unsigned *mask, const char **bad);

#endif
