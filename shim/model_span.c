/* SPDX-License-Identifier: MIT */
/* The trace part of the model: the process root span and the recorded spans
 * with their resource ids turned into names and ticks into Unix time, plus
 * what the resource attributes need (executable, host, command line). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "fdtab.h"
#include "fn.h"
#include "model.h"
#include "otlp.h"
#include "span.h"
#include "symbols.h"
#include "thread.h"

static const char *name_of(struct shim_model_trace *t, uint32_t id)
{
	const struct shim_resource *r;

	if (id == SHIM_SPAN_NORES || id >= t->nnames)
		return NULL;
	if (t->names[id])
		return t->names[id];
	r = shim_res_get(id);
	if (!r)
		return NULL;
	t->names[id] = malloc((size_t)r->len + 4);
	if (!t->names[id])
		return NULL;
	memcpy(t->names[id], r->name, r->len);
	if (r->len == SHIM_RES_NAME)
		memcpy(t->names[id] + r->len, "...", 4);
	else
		t->names[id][r->len] = '\0';
	return t->names[id];
}

static void convert(struct shim_model_trace *t, struct shim_model_span *d,
		    const struct shim_span *s)
{
	memset(d, 0, sizeof(*d));
	d->span_id = s->span_id;
	d->parent_id = s->parent_id;
	d->start_ns = shim_span_unix_ns(s->t0);
	d->end_ns = s->t1 ? shim_span_unix_ns(s->t1) : d->start_ns;
	if (d->end_ns < d->start_ns)
		d->end_ns = d->start_ns;
	d->type = s->type;
	d->fn = s->fn;
	d->tid = s->tid;
	d->err = s->err;
	d->count = s->count;
	d->has_exit_code = !!(s->flags & SHIM_SPANF_EXITCODE);
	d->unfinished = !!(s->flags & SHIM_SPANF_UNFINISHED);
	d->by_exec = !!(s->flags & SHIM_SPANF_EXEC);
	d->rbytes = s->rbytes;
	d->wbytes = s->wbytes;
	d->rops = s->rops;
	d->wops = s->wops;
	d->ops = s->ops;
	d->target = name_of(t, s->res);
	d->target2 = name_of(t, s->res2);
}

/* 1 + the highest resource id of n spans (at least hi): the names a model needs. */
static size_t names_needed(const struct shim_span *s, size_t n, size_t hi)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i].res != SHIM_SPAN_NORES && s[i].res < SHIM_RES_CAP && s[i].res >= hi)
			hi = (size_t)s[i].res + 1;
		if (s[i].res2 != SHIM_SPAN_NORES && s[i].res2 < SHIM_RES_CAP && s[i].res2 >= hi)
			hi = (size_t)s[i].res2 + 1;
	}
	return hi;
}

static char *read_cmdline(void)
{
	char buf[4096], *out;
	int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return NULL;
	while (n > 0 && buf[n - 1] == '\0')
		n--;
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] == '\0')
			buf[i] = ' ';
	out = malloc((size_t)n + 1);
	if (out) {
		memcpy(out, buf, (size_t)n);
		out[n] = '\0';
	}
	return out;
}

int shim_model_build_spans(struct shim_model *m, const struct shim_span *spans, size_t n,
			   int with_root)
{
	struct shim_model_trace *t = &m->trace;
	struct shim_span root;
	size_t k = 0;

	memset(t, 0, sizeof(*t));
	shim_span_trace(t->trace_id, &t->flags, &t->remote);
	memcpy(t->tracestate, shim_span_tracestate(), strlen(shim_span_tracestate()) + 1);
	snprintf(t->exe_path, sizeof(t->exe_path), "%s", shim_sym_exe_path());
	if (gethostname(t->host, sizeof(t->host) - 1) != 0)
		t->host[0] = '\0';
	if (shim_config.capture_args)
		t->command_line = read_cmdline();
	t->service = shim_config.otel.service;
	t->resource = shim_config.otel.resource;
	t->dropped = shim_span_dropped();
	t->export_dropped = shim_otlp_dropped(t->export_error, sizeof(t->export_error));
	if (!shim_span_on)
		return 0; /* not sampled, or the SDK is disabled: no spans at all */
	if (with_root)
		shim_span_root(&root);
	/* names by id up to the highest one a span refers to (most processes
	 * name a few resources; the table holds SHIM_RES_CAP) */
	t->nnames = with_root ? names_needed(&root, 1, 0) : 0;
	t->nnames = names_needed(spans, n, t->nnames);
	t->names = calloc(t->nnames ? t->nnames : 1, sizeof(*t->names));
	t->spans = calloc(n + 1, sizeof(*t->spans));
	if (!t->names || !t->spans) {
		shim_model_free_spans(m);
		return -1;
	}
	if (with_root) {
		convert(t, &t->spans[k++], &root);
		if (!root.t1)
			t->spans[0].end_ns = shim_span_unix_ns(shim_clock_now());
	}
	for (size_t i = 0; i < n; i++)
		convert(t, &t->spans[k++], &spans[i]);
	t->nspans = k;
	return 0;
}

void shim_model_free_spans(struct shim_model *m)
{
	struct shim_model_trace *t = &m->trace;

	for (size_t i = 0; t->names && i < t->nnames; i++)
		free(t->names[i]);
	free(t->names);
	free(t->spans);
	free(t->command_line);
	t->names = NULL;
	t->spans = NULL;
	t->command_line = NULL;
	t->nspans = t->nnames = 0;
}

int shim_model_build_trace(struct shim_model *m)
{
	const struct shim_span *spans;
	size_t n;
	int rc;

	shim_span_drain();
	n = shim_span_store_lock(&spans);
	rc = shim_model_build_spans(m, spans, n, 1);
	shim_span_store_unlock();
	return rc;
}
