/* SPDX-License-Identifier: MIT */
/* SHIMMER_* settings: each one optional, validated, documented in README and
 * `shimmer --help`. Never aborts; a bad value turns instrumentation off. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
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

int shim_config_parse_int(const char *s, long lo, long hi, int *out)
{
	char *end;
	long v;

	if (!s || !*s || *s == ' ' || *s == '+')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || *end || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

static const char *const format_names[SHIM_FMT_COUNT] = {
	"table", "pstats", "folded", "flamegraph", "speedscope", "pprof", "otlp", "chrome", "ndjson",
	"metrics",
};

const char *shim_format_name(unsigned fmt)
{
	return fmt < SHIM_FMT_COUNT ? format_names[fmt] : "?";
}

int shim_config_parse_formats(const char *s, unsigned *mask, const char **bad)
{
	static char word[32];
	unsigned m = 0;

	*bad = NULL;
	if (!*s) {
		*bad = "(empty)";
		return -1;
	}
	while (*s) {
		size_t n = strcspn(s, ","), f;
		if (n == 0 || n >= sizeof(word)) {
			*bad = n ? s : "(empty)";
			return -1;
		}
		memcpy(word, s, n);
		word[n] = '\0';
		if (strcmp(word, "all") == 0) {
			m |= (1u << SHIM_FMT_COUNT) - 1;
		} else {
			for (f = 0; f < SHIM_FMT_COUNT; f++)
				if (strcmp(word, format_names[f]) == 0)
					break;
			if (f == SHIM_FMT_COUNT) {
				*bad = word;
				return -1;
			}
			m |= 1u << f;
		}
		s += n;
		if (*s == ',')
			s++;
	}
	*mask = m;
	return 0;
}

int shim_config_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len,
			   const char **why)
{
	const char *colon, *host = s, *port;
	char h[64];
	size_t hn;
	int p;

	*why = NULL;
	memset(ss, 0, sizeof(*ss));
	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (!end || end[1] != ':') {
			*why = "expected [IPv6]:port";
			return -1;
		}
		host = s + 1;
		hn = (size_t)(end - host);
		port = end + 2;
	} else {
		colon = strrchr(s, ':');
		if (!colon || memchr(s, ':', (size_t)(colon - s))) {
			*why = "expected host:port (an IPv6 address goes in brackets)";
			return -1;
		}
		hn = (size_t)(colon - s);
		port = colon + 1;
	}
	if (shim_config_parse_int(port, 0, 65535, &p) != 0) {
		*why = "expected a port from 0 (any free one) to 65535";
		return -1;
	}
	if (hn >= sizeof(h)) {
		*why = "host too long";
		return -1;
	}
	memcpy(h, host, hn);
	h[hn] = '\0';
	if (s[0] == '[') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)p);
		if (inet_pton(AF_INET6, h, &a->sin6_addr) != 1) {
			*why = "not an IPv6 address";
			return -1;
		}
		*len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)p);
		/* loopback unless the address says otherwise; no name lookups */
		if (!h[0] || strcmp(h, "localhost") == 0)
			a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		else if (inet_pton(AF_INET, h, &a->sin_addr) != 1) {
			*why = "expected an IPv4 address, [IPv6], localhost or nothing before ':'";
			return -1;
		}
		*len = sizeof(*a);
	}
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
	shim_config.hz = SHIM_HZ_DEFAULT;
	shim_config.stack_depth = SHIM_DEPTH_DEFAULT;

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

	v = getenv("SHIMMER_HZ");
	if (v && shim_config_parse_int(v, 0, SHIM_HZ_MAX, &shim_config.hz) != 0)
		return bad("SHIMMER_HZ", v, "expected samples a second, 0 (off) to 10000");
	v = getenv("SHIMMER_CLOCK");
	if (v && *v) {
		if (strcmp(v, "wall") == 0)
			shim_config.clock_wall = 1;
		else if (strcmp(v, "cpu") != 0)
			return bad("SHIMMER_CLOCK", v, "expected cpu or wall");
	}
	shim_config.tsc = 1;
	v = getenv("SHIMMER_TSC");
	if (v && *v && shim_config_parse_int(v, 0, 1, &shim_config.tsc) != 0)
		return bad("SHIMMER_TSC", v, "expected 0 or 1");
	v = getenv("SHIMMER_STACK_DEPTH");
	if (v && shim_config_parse_int(v, 1, SHIM_DEPTH_MAX, &shim_config.stack_depth) != 0)
		return bad("SHIMMER_STACK_DEPTH", v, "expected frames a sample, 1 to 512");
	shim_config.heap_sample = SHIM_HEAP_SAMPLE_DEFAULT;
	v = getenv("SHIMMER_HEAP_SAMPLE");
	if (v && *v &&
	    shim_config_parse_int(v, 0, SHIM_HEAP_SAMPLE_MAX, &shim_config.heap_sample) != 0)
		return bad("SHIMMER_HEAP_SAMPLE", v,
			   "expected mean bytes between heap samples, 0 (off), 1 (every "
			   "allocation) to 1073741824");
	v = getenv("SHIMMER_FLUSH_SECS");
	if (v && shim_config_parse_int(v, 0, 86400, &shim_config.flush_secs) != 0)
		return bad("SHIMMER_FLUSH_SECS", v, "expected seconds, 0 (only at exit) to 86400");
	shim_config.metrics_top = SHIM_METRICS_TOP_DEFAULT;
	v = getenv("SHIMMER_METRICS_TOP");
	if (v && *v && shim_config_parse_int(v, 0, SHIM_METRICS_TOP_MAX,
					     &shim_config.metrics_top) != 0)
		return bad("SHIMMER_METRICS_TOP", v, "expected resources with own series, 0 to 10000");
	v = getenv("SHIMMER_METRICS_ADDR");
	if (v && *v) {
		const char *why;
		if (shim_config_parse_addr(v, &shim_config.metrics_addr,
					   &shim_config.metrics_addrlen, &why) != 0)
			return bad("SHIMMER_METRICS_ADDR", v, why);
	}
	v = getenv("SHIMMER_CONTROL");
	if (v && *v && shim_config_parse_int(v, 0, 1, &shim_config.control) != 0)
		return bad("SHIMMER_CONTROL", v, "expected 0 or 1");
	shim_config.formats = (1u << SHIM_FMT_COUNT) - 1;
	v = getenv("SHIMMER_FORMATS");
	if (v) {
		const char *which;
		if (shim_config_parse_formats(v, &shim_config.formats, &which) != 0) {
			char why[160];
			snprintf(why, sizeof(why), "unknown format '%.40s' (table,pstats,folded,"
				 "flamegraph,speedscope,pprof,otlp,chrome,ndjson,metrics,all)", which);
			return bad("SHIMMER_FORMATS", v, why);
		}
	}

	v = getenv("SHIMMER_SORT");
	if (v && *v) {
		/* the order of enum shim_view_sort */
		static const char *const keys[] = {"cumulative", "tottime", "ncalls", "name"};
		int i;
		for (i = 0; i < 4; i++)
			if (strcmp(v, keys[i]) == 0)
				break;
		if (i == 4)
			return bad("SHIMMER_SORT", v, "expected cumulative, tottime, ncalls or name");
		shim_config.sort = i;
	}

	shim_config.span_min_us = 1000;
	shim_config.slow_call_ms = 100;
	shim_config.follow_exec = 1;
	shim_config.exit_flush_ms = 2000;
	v = getenv("SHIMMER_SPAN_MIN_US");
	if (v && *v && shim_config_parse_int(v, 0, 2000000000, &shim_config.span_min_us) != 0)
		return bad("SHIMMER_SPAN_MIN_US", v, "expected microseconds, 0 to 2000000000");
	v = getenv("SHIMMER_SLOW_CALL_MS");
	if (v && *v && shim_config_parse_int(v, 0, 3600000, &shim_config.slow_call_ms) != 0)
		return bad("SHIMMER_SLOW_CALL_MS", v, "expected milliseconds, 0 (off) to 3600000");
	v = getenv("SHIMMER_CAPTURE_ARGS");
	if (v && *v && shim_config_parse_int(v, 0, 1, &shim_config.capture_args) != 0)
		return bad("SHIMMER_CAPTURE_ARGS", v, "expected 0 or 1");
	v = getenv("SHIMMER_FOLLOW_EXEC");
	if (v && *v && shim_config_parse_int(v, 0, 1, &shim_config.follow_exec) != 0)
		return bad("SHIMMER_FOLLOW_EXEC", v, "expected 0 or 1");
	v = getenv("SHIMMER_EXIT_FLUSH_MS");
	if (v && *v && shim_config_parse_int(v, 0, 600000, &shim_config.exit_flush_ms) != 0)
		return bad("SHIMMER_EXIT_FLUSH_MS", v, "expected milliseconds, 0 to 600000");
	shim_config_load_otel();

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
