/* SPDX-License-Identifier: MIT */
/* profile.speedscope.json: speedscope's file format (src/lib/file-format-spec.ts):
 * shared.frames are the model's functions, one "sampled" profile per thread,
 * each sample a stack root first, weights in nanoseconds of the thread's
 * effective period (counts, unit "none", when no period is known). Written
 * straight into the sink as jansson printed it (JSON_COMPACT|JSON_ENSURE_ASCII);
 * names are cleaned to UTF-8 first. Reads only the model. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export.h"
#include "../shim/sink.h"
#include "spanview.h"

#include "view.h"

/* A name as a JSON string: cleaned to UTF-8, then escaped to ASCII. */
static void string(struct shim_sink *o, const char *s)
{
	char *c = shim_view_clean(s, 0);

	if (!c) {
		o->failed = 1;
		return;
	}
	shim_jw_str_ascii(o, c);
	free(c);
}

static void frames(struct shim_sink *o, const struct shim_model *m)
{
	shim_sink_puts(o, "[");
	for (size_t i = 0; i < m->nfuncs; i++) {
		const struct shim_model_func *f = &m->funcs[i];
		shim_sink_puts(o, i ? ",{\"name\":" : "{\"name\":");
		string(o, f->name);
		if (f->file || f->module) {
			shim_sink_puts(o, ",\"file\":");
			string(o, f->file ? f->file : f->module);
		}
		if (f->line > 0)
			shim_sink_printf(o, ",\"line\":%d", f->line);
		shim_sink_puts(o, "}");
	}
	shim_sink_puts(o, "]");
}

/* One thread's profile: its stacks, root first, with their weights (written
 * after the samples, from a second sink). */
static void profile(struct shim_sink *o, const struct shim_model *m, int tid, const char *tname,
		    uint64_t *nsamples)
{
	struct shim_sink weights;
	int use_ns = m->period_ns > 0 || m->hz > 0;
	double period = m->period_ns > 0 ? m->period_ns : (m->hz > 0 ? 1e9 / m->hz : 0);
	long long end = 0;
	size_t n = 0;
	char name[64];

	shim_sink_init(&weights);
	*nsamples = 0;
	if (tname && *tname)
		snprintf(name, sizeof(name), "%s (tid %d)", tname, tid);
	else
		snprintf(name, sizeof(name), "tid %d", tid);
	shim_sink_puts(o, "{\"type\":\"sampled\",\"name\":");
	string(o, name);
	shim_sink_printf(o, ",\"unit\":\"%s\",\"startValue\":0,\"endValue\":",
			 use_ns ? "nanoseconds" : "none");
	for (size_t i = 0; i < m->nstacks; i++) {
		const struct shim_model_stack *s = &m->stacks[i];
		long long w;
		if (s->tid != tid || !s->count || !s->depth)
			continue;
		w = use_ns ? llround(s->seconds > 0 ? s->seconds * 1e9 : (double)s->count * period)
			   : (long long)s->count;
		if (w <= 0)
			w = 1; /* speedscope ignores zero weights: keep the sample visible */
		end += w;
	}
	shim_sink_printf(o, "%lld,\"samples\":[", end);
	for (size_t i = 0; i < m->nstacks; i++) {
		const struct shim_model_stack *s = &m->stacks[i];
		long long w;
		if (s->tid != tid || !s->count || !s->depth)
			continue;
		shim_sink_puts(o, n ? ",[" : "[");
		for (uint32_t d = s->depth; d-- > 0;) {
			uint32_t f = m->locs[s->locs[d]].func;
			shim_sink_printf(o, d + 1 < s->depth ? ",%u" : "%u", f < m->nfuncs ? f : 0);
		}
		shim_sink_puts(o, "]");
		w = use_ns ? llround(s->seconds > 0 ? s->seconds * 1e9 : (double)s->count * period)
			   : (long long)s->count;
		if (w <= 0)
			w = 1;
		shim_sink_printf(&weights, n ? ",%lld" : "%lld", w);
		*nsamples += s->count;
		n++;
	}
	shim_sink_puts(o, "],\"weights\":[");
	shim_sink_write(o, weights.buf ? weights.buf : "", weights.len);
	shim_sink_puts(o, "]}");
	if (weights.failed)
		o->failed = 1;
	shim_sink_free(&weights);
}

static int seen(const int *tids, size_t n, int tid)
{
	for (size_t i = 0; i < n; i++)
		if (tids[i] == tid)
			return 1;
	return 0;
}

int shim_export_speedscope(const struct shim_model *m, struct shim_sink *o)
{
	int *tids = calloc(m->nthreads + m->nstacks + 1, sizeof(*tids));
	size_t ntids = 0, best = 0;
	uint64_t most = 0;

	if (!tids)
		return -1;
	/* threads in the model's order, then any thread only the stacks name */
	for (size_t i = 0; i < m->nthreads; i++)
		if (!seen(tids, ntids, m->threads_info[i].tid))
			tids[ntids++] = m->threads_info[i].tid;
	for (size_t i = 0; i < m->nstacks; i++)
		if (!seen(tids, ntids, m->stacks[i].tid))
			tids[ntids++] = m->stacks[i].tid;
	if (!ntids)
		tids[ntids++] = m->pid;
	shim_sink_puts(o, "{\"$schema\":\"https://www.speedscope.app/file-format-schema.json\","
			  "\"shared\":{\"frames\":");
	frames(o, m);
	shim_sink_puts(o, "},\"profiles\":[");
	for (size_t i = 0; i < ntids; i++) {
		const char *tname = NULL;
		uint64_t n;
		for (size_t k = 0; k < m->nthreads; k++)
			if (m->threads_info[k].tid == tids[i])
				tname = m->threads_info[k].name;
		if (i)
			shim_sink_puts(o, ",");
		profile(o, m, tids[i], tname, &n);
		if (n > most) {
			most = n;
			best = i;
		}
	}
	shim_sink_puts(o, "],\"name\":");
	string(o, m->exe[0] ? m->exe : "shimmer");
	shim_sink_printf(o, ",\"activeProfileIndex\":%zu,\"exporter\":\"shimmer@0.1\"}\n", best);
	free(tids);
	return o->failed ? -1 : 0;
}
