/* SPDX-License-Identifier: MIT */
/* SHIMMER_* settings: each one optional, validated, documented in README and
 * `shimmer --help`. Never aborts; a bad value turns instrumentation off. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "fn.h"
#include "log.h"

struct shim_config shim_config;

int shim_config_parse_families(const char *s, unsigned *mask, const char **bad)
{
	static char word[32];
	unsigned m = 0;

	*bad = NULL;
	if (!*s) {
		*bad = "(empty)";
		return -1;
	}
	for (;;) {
		size_t n = strcspn(s, ",");
		unsigned f;
		if (n == 0 || n >= sizeof(word)) {
			*bad = n ? s : "(empty)";
			return -1;
		}
		memcpy(word, s, n);
		word[n] = '\0';
		if (strcmp(word, "all") == 0) {
			m |= (1u << SHIM_FAM_COUNT) - 1;
		} else if (strcmp(word, "none") == 0) {
			/* nothing */
		} else {
			for (f = 0; f < SHIM_FAM_COUNT; f++)
				if (strcmp(word, shim_family_name(f)) == 0)
					break;
			if (f == SHIM_FAM_COUNT) {
				*bad = word;
				return -1;
			}
			m |= 1u << f;
		}
		s += n;
		if (!*s)
			break;
		s++; /* the comma: an item must follow it ("file," is an empty item) */
	}
	*mask = m;
	return 0;
}

static int bad(const char *name, const char *value, const char *why)
{
	/* quote at most 80 bytes of the value: the reason must fit on the line */
	int vlen = (int)strnlen(value, 81);

	/* the level is not known yet when SHIMMER_LOG itself is bad: speak */
	if (shim_log_level < SHIM_LOG_ERROR)
		shim_log_level = SHIM_LOG_ERROR;
	shim_err("%s=%.*s%s: %s; instrumentation is off, the program runs untouched", name,
		 vlen > 80 ? 80 : vlen, value, vlen > 80 ? "..." : "", why);
	shim_config.disabled = 1;
	return -1;
}

int shim_config_load(void)
{
	const char *v;

	memset(&shim_config, 0, sizeof(shim_config));
	shim_config.families = (1u << SHIM_FAM_COUNT) - 1;
	shim_config.log_level = SHIM_LOG_ERROR;

	v = getenv("SHIMMER_LOG");
	if (v && *v) {
		static const char *const levels[] = {"quiet", "error", "info", "debug"};
		int i;
		for (i = 0; i < 4; i++)
			if (strcmp(v, levels[i]) == 0)
				break;
		if (i == 4)
			return bad("SHIMMER_LOG", v, "expected quiet, error, info or debug");
		shim_config.log_level = i;
	}
	shim_log_level = shim_config.log_level;

	v = getenv("SHIMMER_DISABLE");
	if (v && *v) {
		if (strcmp(v, "1") == 0) {
			shim_config.disabled = 1;
			return 0;
		}
		if (strcmp(v, "0") != 0)
			return bad("SHIMMER_DISABLE", v, "expected 0 or 1");
	}

	/* empty means unset, as for every other setting but SHIMMER_OUT */
	v = getenv("SHIMMER_HOOKS");
	if (v && *v) {
		const char *which;
		if (shim_config_parse_families(v, &shim_config.families, &which) != 0) {
			char why[128]; /* 16 + 40 + 43 bytes at most */
			size_t n = strlen(which);
			memcpy(why, "unknown family '", 16);
			if (n > 40)
				n = 40;
			memcpy(why + 16, which, n);
			memcpy(why + 16 + n, "' (alloc,file,stdio,net,dns,proc,all,none)", 43);
			return bad("SHIMMER_HOOKS", v, why);
		}
	}

	v = getenv("SHIMMER_OUT");
	if (!v)
		v = "shimmer-out";
	if (!*v)
		return bad("SHIMMER_OUT", v, "empty path");
	if (v[0] == '/') {
		if (strlen(v) >= sizeof(shim_config.out) - 64)
			return bad("SHIMMER_OUT", v, "path too long");
		strncpy(shim_config.out, v, sizeof(shim_config.out) - 1);
	} else {
		/* relative to where the program started: a later chdir must not move it */
		size_t n;
		if (!getcwd(shim_config.out, sizeof(shim_config.out) - 64))
			return bad("SHIMMER_OUT", v, "cannot resolve against the current directory");
		n = strlen(shim_config.out);
		if (n + 1 + strlen(v) >= sizeof(shim_config.out) - 64)
			return bad("SHIMMER_OUT", v, "path too long");
		shim_config.out[n] = '/';
		memcpy(shim_config.out + n + 1, v, strlen(v) + 1);
	}
	return 0;
}
