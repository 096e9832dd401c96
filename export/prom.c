/* SPDX-License-Identifier: MIT */
/* metrics.prom and GET /metrics: the Prometheus text exposition format 0.0.4.
 * Per intercepted function its calls, errors by errno, bytes and a latency
 * histogram; the top resources; fd, thread, drop and heap gauges; and the
 * standard process_* metrics. Every series carries service_name and pid.
 * Reads only the model; label cardinality is bounded (SHIMMER_METRICS_TOP). */
#include <math.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../shim/config.h"
#include "../shim/fdtab.h"
#include "../shim/fn.h"
#include "../shim/errname.h"
#include "export.h"
#include "put.h"
#include "view.h"

/* The rest of a label value: `\`, `"` and newline escaped (the format's only
 * escapes); the value is valid UTF-8 without control characters already. */
static void esc(struct shim_sink *o, const char *s)
{
	while (*s) {
		size_t n = strcspn(s, "\\\"\n");
		shim_put(o, s, n);
		s += n;
		if (!*s)
			break;
		shim_sink_puts(o, *s == '\n' ? "\\n" : *s == '\\' ? "\\\\" : "\\\"");
		s++;
	}
}

/* ,key="value" */
static void label(struct shim_sink *o, const char *key, const char *value)
{
	SHIM_PUT_LIT(o, ",");
	shim_put(o, key, strlen(key));
	SHIM_PUT_LIT(o, "=\"");
	esc(o, value);
	SHIM_PUT_LIT(o, "\"");
}

/* Label sets made once and put on every line that carries them (a timed
 * function has 18 histogram lines): item i's text is text.buf[off[i],
 * off[i + 1]). */
struct labels {
	struct shim_sink text;
	size_t *off;
};

struct prom {
	struct shim_sink *o;
	char *base; /* service_name="...",pid="..." escaped, malloc'd */
	size_t base_len;
	struct labels fn;  /* ,family="...",function="..." of each call */
	struct labels res; /* ,kind="...",resource="..." of each top resource */
};

/* Lines are put together from pieces rather than printf'd: a short process
 * writes about a hundred lines at its exit, and vsnprintf was most of it. */
static void put(struct prom *p, const char *s)
{
	shim_put(p->o, s, strlen(s));
}

static void head(struct prom *p, const char *name, const char *type, const char *help)
{
	SHIM_PUT_LIT(p->o, "# HELP ");
	put(p, name);
	SHIM_PUT_LIT(p->o, " ");
	put(p, help);
	SHIM_PUT_LIT(p->o, "\n# TYPE ");
	put(p, name);
	SHIM_PUT_LIT(p->o, " ");
	put(p, type);
	SHIM_PUT_LIT(p->o, "\n");
}

/* name{base[,k="v"]...: the caller adds labels with lbl, then ends with val_*. */
static void series(struct prom *p, const char *name)
{
	put(p, name);
	SHIM_PUT_LIT(p->o, "{");
	shim_put(p->o, p->base, p->base_len);
}

static void lbl(struct prom *p, const char *key, const char *value)
{
	label(p->o, key, value);
}

static void put_labels(struct prom *p, const struct labels *l, size_t i)
{
	shim_put(p->o, l->text.buf + l->off[i], l->off[i + 1] - l->off[i]);
}

/* "} v\n", v in decimal (what %llu prints). */
static void val_u(struct prom *p, uint64_t v)
{
	char b[32], *e = b + sizeof(b), *d = e;

	*--d = '\n';
	do
		*--d = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	*--d = ' ';
	*--d = '}';
	shim_put(p->o, d, (size_t)(e - d));
}

/* "} v\n" with v as %.15g prints it: a whole number below 1e15 (exact in a
 * double) prints as its digits, like an integer; anything else by printf. */
static void val_d(struct prom *p, double v)
{
	if (v >= 0 && v < 1e15 && v == (double)(uint64_t)v && !(v == 0 && signbit(v)))
		val_u(p, (uint64_t)v);
	else
		shim_sink_printf(p->o, "} %.15g\n", v);
}

static void fn_labels(struct prom *p, const struct shim_model *m,
		      const struct shim_model_call *c)
{
	put_labels(p, &p->fn, (size_t)(c - m->calls));
}

/* The label sets of the calls and of the top n resources. -1: out of memory. */
static int make_labels(struct prom *p, const struct shim_model *m, size_t n)
{
	struct labels *f = &p->fn, *r = &p->res;

	f->off = malloc((m->ncalls + 1) * sizeof(*f->off));
	r->off = malloc((n + 1) * sizeof(*r->off));
	if (!f->off || !r->off)
		return -1;
	for (size_t i = 0; i < m->ncalls; i++) {
		f->off[i] = f->text.len;
		label(&f->text, "family", shim_family_name(m->calls[i].family));
		label(&f->text, "function", m->calls[i].name);
	}
	f->off[m->ncalls] = f->text.len;
	for (size_t i = 0; i < n; i++) {
		char *clean = shim_view_clean(m->res[i].name, 0);
		if (!clean)
			return -1;
		r->off[i] = r->text.len;
		label(&r->text, "kind", shim_kind_name(m->res[i].kind));
		label(&r->text, "resource", clean);
		free(clean);
	}
	r->off[n] = r->text.len;
	return f->text.failed || r->text.failed ? -1 : 0;
}

static void calls(struct prom *p, const struct shim_model *m)
{
	char buf[32];

	head(p, "shimmer_calls_total", "counter",
	     "Calls of each intercepted libc function, exact.");
	for (size_t i = 0; i < m->ncalls; i++) {
		series(p, "shimmer_calls_total");
		fn_labels(p, m, &m->calls[i]);
		val_u(p, m->calls[i].calls);
	}
	head(p, "shimmer_errors_total", "counter",
	     "Failed calls by function and error.type (errno name, EAI_* for DNS), exact.");
	for (size_t i = 0; i < m->nerrs; i++) {
		const struct shim_model_err *e = &m->errs[i];
		series(p, "shimmer_errors_total");
		lbl(p, "family", shim_family_name(shim_fninfo[e->fn].family));
		lbl(p, "function", shim_fninfo[e->fn].name);
		lbl(p, "error_type", shim_err_name(e->err, buf, sizeof(buf)));
		val_u(p, e->count);
	}
	head(p, "shimmer_io_bytes_total", "counter",
	     "Bytes moved by each intercepted I/O function: read and write for files and "
	     "streams, receive and transmit for sockets.");
	for (size_t i = 0; i < m->ncalls; i++) {
		const struct shim_model_call *c = &m->calls[i];
		int net = c->family == SHIM_FAM_NET;
		if (c->family == SHIM_FAM_ALLOC || (c->dir != SHIM_DIR_IN && c->dir != SHIM_DIR_OUT))
			continue;
		series(p, "shimmer_io_bytes_total");
		fn_labels(p, m, c);
		lbl(p, "direction", c->dir == SHIM_DIR_IN ? (net ? "receive" : "read")
						       : (net ? "transmit" : "write"));
		val_u(p, c->bytes);
	}
	head(p, "shimmer_alloc_requested_bytes_total", "counter",
	     "Bytes requested from each allocation function, exact.");
	for (size_t i = 0; i < m->ncalls; i++) {
		if (m->calls[i].family != SHIM_FAM_ALLOC)
			continue;
		series(p, "shimmer_alloc_requested_bytes_total");
		lbl(p, "function", m->calls[i].name);
		val_u(p, m->calls[i].bytes);
	}
}

static void histograms(struct prom *p, const struct shim_model *m)
{
	char le[SHIM_HIST_BUCKETS - 1][48];
	int have_le = 0;

	head(p, "shimmer_call_duration_seconds", "histogram",
	     "Time spent in each timed libc function (allocations are counted, not timed).");
	for (size_t i = 0; i < m->ncalls; i++) {
		const struct shim_model_call *c = &m->calls[i];
		uint64_t cum = 0;
		if (c->family == SHIM_FAM_ALLOC)
			continue;
		for (unsigned b = 0; !have_le && b < SHIM_HIST_BUCKETS - 1; b++)
			snprintf(le[b], sizeof(le[b]), ",le=\"%g\"", shim_hist_le[b]);
		have_le = 1;
		for (unsigned b = 0; b < SHIM_HIST_BUCKETS - 1; b++) {
			cum += c->hist[b];
			series(p, "shimmer_call_duration_seconds_bucket");
			fn_labels(p, m, c);
			put(p, le[b]);
			/* a call recorded without a bucket (none today) must not make
			 * a bucket exceed the count */
			val_u(p, cum < c->calls ? cum : c->calls);
		}
		series(p, "shimmer_call_duration_seconds_bucket");
		fn_labels(p, m, c);
		lbl(p, "le", "+Inf");
		val_u(p, c->calls);
		series(p, "shimmer_call_duration_seconds_sum");
		fn_labels(p, m, c);
		val_d(p, c->seconds);
		series(p, "shimmer_call_duration_seconds_count");
		fn_labels(p, m, c);
		val_u(p, c->calls);
	}
}

/* One counter over the top resources (m->res is by seconds, descending). */
static void resources(struct prom *p, const struct shim_model *m, const char *name,
		      const char *help, int what)
{
	size_t top = (size_t)shim_config.metrics_top;

	head(p, name, "counter", help);
	for (size_t i = 0; i < m->nres && i < top; i++) {
		const struct shim_model_res *r = &m->res[i];
		series(p, name);
		put_labels(p, &p->res, i);
		switch (what) {
		case 0: val_u(p, r->ops); break;
		case 1: val_u(p, r->errors); break;
		case 2: val_u(p, r->rbytes); break;
		case 3: val_u(p, r->wbytes); break;
		default: val_d(p, r->seconds); break;
		}
	}
}

static void gauges(struct prom *p, const struct shim_model *m)
{
	static const unsigned kinds[] = {SHIM_KIND_FILE, SHIM_KIND_SOCKET, SHIM_KIND_PIPE,
					 SHIM_KIND_OTHER};
	static const char *const drops[] = {
		"caller_sites", "errnos", "resources", "untracked_thread_calls",
		"cpu_samples", "spans", "spans_not_exported",
	};
	const uint64_t dropped[] = {
		m->dropped.sites, m->dropped.errs, m->dropped.res, m->dropped.threads,
		m->samples_dropped, m->trace.dropped, m->trace.export_dropped,
	};

	head(p, "shimmer_open_fds", "gauge",
	     "Open file descriptors of the program by kind, as the hooks have seen them.");
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		series(p, "shimmer_open_fds");
		lbl(p, "kind", shim_kind_name(kinds[i]));
		val_u(p, m->open_fds[kinds[i]]);
	}
	head(p, "shimmer_threads", "gauge", "Live threads of the program (Shimmer's not counted).");
	series(p, "shimmer_threads");
	val_u(p, m->threads_live);
	head(p, "shimmer_threads_seen_total", "counter",
	     "Threads that made at least one recorded call.");
	series(p, "shimmer_threads_seen_total");
	val_u(p, m->threads);
	head(p, "shimmer_dropped_total", "counter",
	     "Records Shimmer dropped because a fixed table or buffer was full.");
	for (size_t i = 0; i < sizeof(drops) / sizeof(drops[0]); i++) {
		series(p, "shimmer_dropped_total");
		lbl(p, "what", drops[i]);
		val_u(p, dropped[i]);
	}
	if (m->hz) {
		head(p, "shimmer_cpu_samples_total", "counter", "CPU stack samples taken and kept.");
		series(p, "shimmer_cpu_samples_total");
		val_u(p, m->samples);
	}
	if (m->heap_live.known) {
		head(p, "shimmer_heap_live_bytes", "gauge",
		     "Heap bytes in use, estimated from the sampled allocations.");
		series(p, "shimmer_heap_live_bytes");
		val_u(p, m->heap_live.live_bytes);
		head(p, "shimmer_heap_peak_bytes", "gauge",
		     "Highest heap bytes in use so far, estimated from the sampled allocations.");
		series(p, "shimmer_heap_peak_bytes");
		val_u(p, m->heap_live.peak_bytes);
	}
}

/* The standard process metrics, under the names every Prometheus client uses. */
static void process(struct prom *p, const struct shim_model *m)
{
	if (!m->proc.known)
		return;
	head(p, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.");
	series(p, "process_cpu_seconds_total");
	val_d(p, m->proc.cpu_seconds);
	head(p, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
	series(p, "process_resident_memory_bytes");
	val_u(p, m->proc.rss_bytes);
	head(p, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
	series(p, "process_virtual_memory_bytes");
	val_u(p, m->proc.vm_bytes);
	head(p, "process_open_fds", "gauge", "Number of open file descriptors.");
	series(p, "process_open_fds");
	val_u(p, m->proc.open_fds);
	if (m->proc.max_fds) {
		head(p, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
		series(p, "process_max_fds");
		val_u(p, m->proc.max_fds);
	}
	if (m->proc.start_unix > 0) {
		head(p, "process_start_time_seconds", "gauge",
		     "Start time of the process since unix epoch in seconds.");
		series(p, "process_start_time_seconds");
		val_d(p, m->proc.start_unix);
	}
}

int shim_export_prom(const struct shim_model *m, struct shim_sink *out)
{
	struct shim_sink b;
	struct prom p = {.o = out};
	size_t top = (size_t)shim_config.metrics_top < m->nres ? (size_t)shim_config.metrics_top
							       : m->nres;
	char *svc = shim_view_clean(m->service[0] ? m->service : "unknown_service", 0);
	int rc = -1;

	if (!svc)
		return -1;
	shim_sink_init(&b);
	shim_sink_init(&p.fn.text);
	shim_sink_init(&p.res.text);
	shim_sink_puts(&b, "service_name=\"");
	esc(&b, svc);
	shim_sink_printf(&b, "\",pid=\"%d\"", m->pid);
	free(svc);
	if (b.failed || make_labels(&p, m, top) != 0)
		goto out;
	p.base = b.buf;
	p.base_len = b.len;
	calls(&p, m);
	histograms(&p, m);
	resources(&p, m, "shimmer_resource_operations_total",
		  "Calls on each of the top SHIMMER_METRICS_TOP resources (paths, peers, DNS "
		  "names) by time.", 0);
	resources(&p, m, "shimmer_resource_errors_total", "Failed calls on each top resource.", 1);
	resources(&p, m, "shimmer_resource_read_bytes_total",
		  "Bytes read or received from each top resource.", 2);
	resources(&p, m, "shimmer_resource_written_bytes_total",
		  "Bytes written or sent to each top resource.", 3);
	resources(&p, m, "shimmer_resource_duration_seconds_total",
		  "Seconds spent in calls on each top resource.", 4);
	gauges(&p, m);
	process(&p, m);
	rc = out->failed ? -1 : 0;
out:
	shim_sink_free(&b);
	shim_sink_free(&p.fn.text);
	shim_sink_free(&p.res.text);
	free(p.fn.off);
	free(p.res.off);
	return rc;
}
