/* SPDX-License-Identifier: MIT */
/* One writer a format. Each reads only the model and appends to a sink;
 * returns 0, or -1 when it could not render (the sink's failed flag says out of
 * memory). Export time only. */
#ifndef SHIM_EXPORT_H
#define SHIM_EXPORT_H

#include "../shim/model.h"
#include "../shim/sink.h"

/* profile.txt: the cProfile-style table (pstats.print_stats layout), the
 * callers section (print_callers layout), then errors and resources. */
int shim_export_table(const struct shim_model *m, struct shim_sink *out);

/* profile.txt in a given row order (enum shim_view_sort in export/view.h);
 * shim_export_table uses SHIMMER_SORT. */
int shim_export_table_sorted(const struct shim_model *m, struct shim_sink *out, int sort);

/* profile.pstats: marshal of the pstats dict; Python's pstats.Stats loads it.
 * Sampled functions carry ncalls 0 (unknown). Never an empty dict. */
int shim_export_pstats(const struct shim_model *m, struct shim_sink *out);

/* cpu.folded: "root;...;leaf count" per distinct stack, integer counts. */
int shim_export_folded(const struct shim_model *m, struct shim_sink *out);

/* flamegraph.svg: self-contained SVG with zoom and search. */
int shim_export_flamegraph(const struct shim_model *m, struct shim_sink *out);

/* profile.speedscope.json: one sampled profile per thread. */
int shim_export_speedscope(const struct shim_model *m, struct shim_sink *out);

/* cpu.pb.gz: gzipped pprof profile.proto. */
int shim_export_pprof(const struct shim_model *m, struct shim_sink *out);

/* metrics.prom (and GET /metrics): Prometheus text exposition format 0.0.4.
 * Needs only the counts part of the model (shim_model_build_counts). */
int shim_export_prom(const struct shim_model *m, struct shim_sink *out);
/* traces.otlp.json: OTLP/JSON ExportTraceServiceRequests, one a line (512
 * spans each), the process root span first. No spans: an empty file. */
int shim_export_otlp(const struct shim_model *m, struct shim_sink *out);

/* One ExportTraceServiceRequest (no newline) of spans [first, first + n). */
int shim_export_otlp_request(const struct shim_model *m, size_t first, size_t n,
			     struct shim_sink *out);

/* trace.chrome.json: Chrome Trace Event Format; spans as X events (calls on
 * their thread) or async b/e pairs (connections, files), M events naming the
 * process and threads. */
int shim_export_chrome(const struct shim_model *m, struct shim_sink *out);

/* events.ndjson: one OpenTelemetry-log-shaped JSON object a line (process
 * start/exit, connections, DNS, errors, drops), in time order. */
int shim_export_ndjson(const struct shim_model *m, struct shim_sink *out);
/* heap.pb.gz: the heap part as a gzipped pprof profile (alloc_objects,
 * alloc_space, inuse_objects, inuse_space; default inuse_space). */
int shim_export_pprof_heap(const struct shim_model *m, struct shim_sink *out);

/* heap.folded: the heap part's stacks by estimated bytes allocated. */
int shim_export_folded_heap(const struct shim_model *m, struct shim_sink *out);

/* heap-flamegraph.svg: the heap part's stacks by estimated bytes allocated. */
int shim_export_flamegraph_heap(const struct shim_model *m, struct shim_sink *out);

/* The "In use at exit" section of profile.txt (the leak report): the stacks
 * holding the most estimated live bytes. Nothing when no heap sample. */
void shim_export_table_heap(const struct shim_model *m, struct shim_sink *out);

#endif
