/* SPDX-License-Identifier: MIT */
/* profile.speedscope.json: speedscope's file format (src/lib/file-format-spec.ts):
 * shared.frames are the model's functions, one "sampled" profile per thread,
 * each sample a stack root first, weights in nanoseconds of the thread's
 * effective period (counts, unit "none", when no period is known). Built with
 * jansson; names are cleaned to UTF-8 first. Reads only the model. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../shim/libs.h"
#include "export.h"
#include "view.h"

struct js {
	int failed;
};

/* json_object_set_new that remembers a failure (NULL value, out of memory). */
static void set(struct js *j, json_t *obj, const char *key, json_t *val)
{
	if (!val || !obj || json_object_set_new(obj, key, val) != 0)
		j->failed = 1;
}

static void push(struct js *j, json_t *arr, json_t *val)
{
	if (!val || !arr || json_array_append_new(arr, val) != 0)
		j->failed = 1;
}

static json_t *string(struct js *j, const char *s)
{
	char *c = shim_view_clean(s, 0);
	json_t *v = c ? json_string(c) : NULL;

	free(c);
	if (!v)
		j->failed = 1;
	return v;
}

static json_t *frames(struct js *j, const struct shim_model *m)
{
	json_t *arr = json_array();

	for (size_t i = 0; arr && i < m->nfuncs; i++) {
		const struct shim_model_func *f = &m->funcs[i];
		json_t *fr = json_object();
		set(j, fr, "name", string(j, f->name));
		if (f->file || f->module)
			set(j, fr, "file", string(j, f->file ? f->file : f->module));
		if (f->line > 0)
			set(j, fr, "line", json_integer(f->line));
		push(j, arr, fr);
	}
	return arr;
}

/* One thread's profile: its stacks, root first, with their weights. */
static json_t *profile(struct js *j, const struct shim_model *m, int tid, const char *tname,
		       uint64_t *nsamples)
{
	json_t *p = json_object(), *samples = json_array(), *weights = json_array();
	int use_ns = m->period_ns > 0 || m->hz > 0;
	double period = m->period_ns > 0 ? m->period_ns : (m->hz > 0 ? 1e9 / m->hz : 0);
	long long end = 0;
	char name[64];

	*nsamples = 0;
	for (size_t i = 0; samples && weights && i < m->nstacks; i++) {
		const struct shim_model_stack *s = &m->stacks[i];
		json_t *st;
		long long w;
		if (s->tid != tid || !s->count || !s->depth)
			continue;
		st = json_array();
		for (uint32_t d = s->depth; d-- > 0;) {
			uint32_t f = m->locs[s->locs[d]].func;
			push(j, st, json_integer(f < m->nfuncs ? f : 0));
		}
		w = use_ns ? (long long)shim_round_u64(s->seconds > 0 ? s->seconds * 1e9 : (double)s->count * period)
			   : (long long)s->count;
		if (w <= 0)
			w = 1; /* speedscope ignores zero weights: keep the sample visible */
		push(j, samples, st);
		push(j, weights, json_integer(w));
		end += w;
		*nsamples += s->count;
	}
	if (tname && *tname)
		snprintf(name, sizeof(name), "%s (tid %d)", tname, tid);
	else
		snprintf(name, sizeof(name), "tid %d", tid);
	set(j, p, "type", json_string("sampled"));
	set(j, p, "name", string(j, name));
	set(j, p, "unit", json_string(use_ns ? "nanoseconds" : "none"));
	set(j, p, "startValue", json_integer(0));
	set(j, p, "endValue", json_integer(end));
	set(j, p, "samples", samples);
	set(j, p, "weights", weights);
	return p;
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
	struct js j = {0};
	json_t *root, *shared, *profiles;
	int *tids = calloc(m->nthreads + m->nstacks + 1, sizeof(*tids));
	size_t ntids = 0, best = 0;
	uint64_t most = 0;
	char *text = NULL;
	int rc = -1;

	shim_libs_jansson(); /* seeded, before the first table */
	root = json_object();
	shared = json_object();
	profiles = json_array();
	if (!root || !shared || !profiles || !tids) {
		json_decref(shared);
		json_decref(profiles);
		goto out;
	}
	/* threads in the model's order, then any thread only the stacks name */
	for (size_t i = 0; i < m->nthreads; i++)
		if (!seen(tids, ntids, m->threads_info[i].tid))
			tids[ntids++] = m->threads_info[i].tid;
	for (size_t i = 0; i < m->nstacks; i++)
		if (!seen(tids, ntids, m->stacks[i].tid))
			tids[ntids++] = m->stacks[i].tid;
	if (!ntids)
		tids[ntids++] = m->pid;
	for (size_t i = 0; i < ntids; i++) {
		const char *tname = NULL;
		uint64_t n;
		for (size_t k = 0; k < m->nthreads; k++)
			if (m->threads_info[k].tid == tids[i])
				tname = m->threads_info[k].name;
		push(&j, profiles, profile(&j, m, tids[i], tname, &n));
		if (n > most) {
			most = n;
			best = i;
		}
	}
	set(&j, root, "$schema", json_string("https://www.speedscope.app/file-format-schema.json"));
	set(&j, shared, "frames", frames(&j, m));
	set(&j, root, "shared", shared);
	set(&j, root, "profiles", profiles);
	set(&j, root, "name", string(&j, m->exe[0] ? m->exe : "shimmer"));
	set(&j, root, "activeProfileIndex", json_integer((json_int_t)best));
	set(&j, root, "exporter", json_string("shimmer@0.1"));
	if (j.failed)
		goto out;
	text = json_dumps(root, JSON_COMPACT | JSON_ENSURE_ASCII);
	if (!text)
		goto out;
	shim_sink_puts(o, text);
	shim_sink_puts(o, "\n");
	rc = o->failed ? -1 : 0;
out:
	free(text);
	free(tids);
	json_decref(root);
	return rc;
}
