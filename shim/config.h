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
	int hz;		    /* SHIMMER_HZ: samples a second, 0 = no CPU sampling */
	int clock_wall;	    /* SHIMMER_CLOCK=wall: sample wall time, not CPU time */
	int stack_depth;    /* SHIMMER_STACK_DEPTH: frames kept per sample */
	int flush_secs;	    /* SHIMMER_FLUSH_SECS: periodic flush, 0 = only at exit */
	int control;	    /* SHIMMER_CONTROL=1: control.sock (dump on demand) */
	unsigned formats;   /* SHIMMER_FORMATS as a bitmask of 1 << SHIM_FMT_* */
	int sort;	    /* SHIMMER_SORT: enum shim_view_sort (export/view.h) */
};

#define SHIM_HZ_DEFAULT 99
#define SHIM_HZ_MAX 10000
#define SHIM_DEPTH_DEFAULT 128
#define SHIM_DEPTH_MAX 512

/* The outputs SHIMMER_FORMATS can select, in the order they are written. */
enum shim_format {
	SHIM_FMT_TABLE,	     /* profile.txt */
	SHIM_FMT_PSTATS,     /* profile.pstats */
	SHIM_FMT_FOLDED,     /* cpu.folded */
	SHIM_FMT_FLAMEGRAPH, /* flamegraph.svg */
	SHIM_FMT_SPEEDSCOPE, /* profile.speedscope.json */
	SHIM_FMT_PPROF,	     /* cpu.pb.gz */
	SHIM_FMT_COUNT
};

/* The name SHIMMER_FORMATS uses for a format ("table", "pstats", ...). */
const char *shim_format_name(unsigned fmt);

extern struct shim_config shim_config;

/* Read the environment into shim_config. Returns 0, or -1 after printing one
 * "shimmer: SHIMMER_X=...: why" line (shim_config.disabled is then 1).
 * Async-signal-safe: no. Allocates: no. */
int shim_config_load(void);

/* Parse a SHIMMER_HOOKS list ("file,net" / "all" / "none") into a mask.
 * Returns 0 or -1 with *bad set to the first unknown name. Pure. */
int shim_config_parse_families(const char *s, unsigned *mask, const char **bad);

/* Parse a whole decimal integer in [lo, hi] into *out. Returns 0 or -1 (empty,
 * trailing junk, out of range). Pure. */
int shim_config_parse_int(const char *s, long lo, long hi, int *out);

/* Parse a SHIMMER_FORMATS list ("pstats,pprof" / "all") into a mask of
 * 1 << SHIM_FMT_*. Returns 0 or -1 with *bad set to the first unknown name
 * (a static buffer). Pure otherwise. */
int shim_config_parse_formats(const char *s, unsigned *mask, const char **bad);

#endif
