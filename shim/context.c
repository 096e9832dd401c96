/* SPDX-License-Identifier: MIT */
/* W3C Trace Context in and out: TRACEPARENT parsing and formatting, random ids
 * from getrandom (buffered per thread, refilled by one system call), the
 * sampler decision, and the settings a child gets back. Formatting here is by
 * hand: the exec hooks call it and must not use stdio. */
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "context.h"
#include "log.h"
#include "span.h"

struct shim_ctx shim_ctx;

/* Span and trace ids: unique, not secret (as OpenTelemetry's SDKs draw
 * them: a fast generator per thread). The state is seeded from getrandom on
 * the thread's first id and again in a fork child, so no two threads or
 * processes share a sequence; one system call a thread, not one per few ids
 * (a traced program that opens files at a high rate drew 8 ids a syscall). */
static __thread struct {
	uint64_t s;
	int seeded; /* reset in a fork child: it must not repeat the parent's ids */
} rnd __attribute__((tls_model("initial-exec")));

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

uint64_t shim_span_random64(void)
{
	uint64_t x;

	if (!rnd.seeded) {
		if (syscall(SYS_getrandom, &rnd.s, sizeof(rnd.s), GRND_NONBLOCK) !=
		    (long)sizeof(rnd.s))
			/* no entropy yet (early boot) */
			rnd.s = shim_clock_now() ^ ((uint64_t)syscall(SYS_getpid) << 32) ^
				(uint64_t)syscall(SYS_gettid);
		rnd.seeded = 1;
	}
	x = splitmix(&rnd.s);
	return x ? x : 1;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1; /* upper case is invalid in traceparent */
}

static int hex_bytes(const char *s, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int shim_span_parse_traceparent(const char *s, uint8_t trace_id[16], uint64_t *parent,
				uint8_t *flags)
{
	uint8_t ver, id[16], sp[8], fl;
	size_t len = strlen(s);
	int zero = 1;

	/* version "-" trace-id "-" parent-id "-" flags; 55 characters for 00,
	 * longer only for future versions, which add fields after a '-' */
	if (len < 55 || hex_bytes(s, &ver, 1) || ver == 0xff || s[2] != '-' ||
	    hex_bytes(s + 3, id, 16) || s[35] != '-' || hex_bytes(s + 36, sp, 8) || s[52] != '-' ||
	    hex_bytes(s + 53, &fl, 1))
		return -1;
	if ((ver == 0 && len != 55) || (len > 55 && s[55] != '-'))
		return -1;
	for (int i = 0; i < 16; i++)
		zero &= id[i] == 0;
	if (zero)
		return -1;
	*parent = 0;
	for (int i = 0; i < 8; i++)
		*parent = *parent << 8 | sp[i];
	if (!*parent)
		return -1;
	memcpy(trace_id, id, 16);
	*flags = fl;
	return 0;
}

static void put_hex(char *p, const uint8_t *b, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		p[2 * i] = digits[b[i] >> 4];
		p[2 * i + 1] = digits[b[i] & 15];
	}
}

size_t shim_span_traceparent(char *buf, size_t size)
{
	uint8_t sp[8];
	uint64_t id = shim_ctx.root_id;

	if (size < 56 || !id)
		return 0;
	for (int i = 7; i >= 0; i--, id >>= 8)
		sp[i] = (uint8_t)id;
	memcpy(buf, "00-", 3);
	put_hex(buf + 3, shim_ctx.trace_id, 16);
	buf[35] = '-';
	put_hex(buf + 36, sp, 8);
	buf[52] = '-';
	put_hex(buf + 53, &shim_ctx.flags, 1);
	buf[55] = '\0';
	return 55;
}

const char *shim_span_tracestate(void)
{
	return shim_ctx.tracestate;
}

/* TraceIdRatioBased over the trace id's rightmost 7 bytes: random when the
 * W3C random flag is set (and in every id we draw ourselves). */
static int ratio_says(double ratio)
{
	uint64_t r = 0;

	for (int i = 9; i < 16; i++)
		r = r << 8 | shim_ctx.trace_id[i];
	return (double)r < ratio * (double)(1ull << 56);
}

static int sample(int has_parent, int parent_sampled)
{
	const struct shim_otel *o = &shim_config.otel;

	if (o->disabled)
		return 0;
	switch (o->sampler) {
	case SHIM_SAMPLER_ON:
		return 1;
	case SHIM_SAMPLER_OFF:
		return 0;
	case SHIM_SAMPLER_RATIO:
		return ratio_says(o->ratio);
	case SHIM_SAMPLER_PARENT_OFF:
		return has_parent ? parent_sampled : 0;
	case SHIM_SAMPLER_PARENT_RATIO:
		return has_parent ? parent_sampled : ratio_says(o->ratio);
	default:
		return has_parent ? parent_sampled : 1;
	}
}

int shim_ctx_init(void)
{
	const char *tp = getenv("TRACEPARENT"), *ts = getenv("TRACESTATE");
	uint8_t flags = 0;
	int has_parent = 0, on;

	memset(&shim_ctx, 0, sizeof(shim_ctx));
	if (tp && *tp) {
		if (shim_span_parse_traceparent(tp, shim_ctx.trace_id, &shim_ctx.parent_id,
						&flags) == 0)
			has_parent = 1;
		else
			shim_err("TRACEPARENT=%.60s: not a valid W3C traceparent; ignored", tp);
	}
	if (has_parent) {
		shim_ctx.remote = 1;
		if (ts && strlen(ts) < sizeof(shim_ctx.tracestate))
			memcpy(shim_ctx.tracestate, ts, strlen(ts) + 1);
	} else {
		uint64_t a = shim_span_random64(), b = shim_span_random64();
		for (int i = 0; i < 8; i++) {
			shim_ctx.trace_id[i] = (uint8_t)(a >> (56 - 8 * i));
			shim_ctx.trace_id[8 + i] = (uint8_t)(b >> (56 - 8 * i));
		}
		flags = 0x02; /* random trace id: we drew all of it */
	}
	on = sample(has_parent, flags & 1);
	/* the random flag travels unchanged with its trace id (Level 2) */
	shim_ctx.flags = (uint8_t)((flags & 0x02) | (on ? 0x01 : 0));
	shim_ctx.root_id = shim_span_random64();
	return on;
}

void shim_ctx_fork_child(void)
{
	shim_ctx.parent_id = shim_ctx.root_id;
	shim_ctx.remote = 0;
	rnd.seeded = 0;
	shim_ctx.root_id = shim_span_random64();
}

/* ---- what a child gets back ---- */

#define KEEP_MAX 64
static const char *keep[KEEP_MAX + 1];

void shim_ctx_keep_env(char **env)
{
	int n = 0;

	for (; env && *env && n < KEEP_MAX; env++) {
		const char *e = *env;
		if (strncmp(e, "LD_PRELOAD=", 11) == 0 || strncmp(e, "SHIMMER_", 8) == 0 ||
		    strncmp(e, "OTEL_", 5) == 0 || strncmp(e, "TRACESTATE=", 11) == 0)
			keep[n++] = e;
	}
	keep[n] = NULL;
}

const char *const *shim_span_keep_env(void)
{
	return keep;
}
