/* SPDX-License-Identifier: MIT */
/* Settings from SHIMMER_* environment variables, read and validated once in the
 * constructor. A bad value disables instrumentation with one stderr line. */
#ifndef SHIM_CONFIG_H
#define SHIM_CONFIG_H

#include <limits.h>
#include <sys/socket.h>

enum shim_sampler {
	SHIM_SAMPLER_ON,
	SHIM_SAMPLER_OFF,
	SHIM_SAMPLER_RATIO,
	SHIM_SAMPLER_PARENT_ON,
	SHIM_SAMPLER_PARENT_OFF,
	SHIM_SAMPLER_PARENT_RATIO,
};

/* The OTEL_* settings that apply. A bad value is one line and the default. */
struct shim_otel {
	int disabled;		/* OTEL_SDK_DISABLED=true */
	int sampler;		/* OTEL_TRACES_SAMPLER: enum shim_sampler */
	double ratio;		/* OTEL_TRACES_SAMPLER_ARG, 0..1 */
	char url[1024];		/* full POST URL; "" = no push */
	const char *headers;	/* OTEL_EXPORTER_OTLP_[TRACES_]HEADERS or NULL */
	int timeout_ms;		/* OTEL_EXPORTER_OTLP_[TRACES_]TIMEOUT */
	int gzip;		/* OTEL_EXPORTER_OTLP_[TRACES_]COMPRESSION=gzip */
	int bsp_delay_ms;	/* OTEL_BSP_SCHEDULE_DELAY */
	int bsp_queue;		/* OTEL_BSP_MAX_QUEUE_SIZE */
	int bsp_batch;		/* OTEL_BSP_MAX_EXPORT_BATCH_SIZE */
	const char *service;	/* OTEL_SERVICE_NAME or NULL */
	const char *resource;	/* OTEL_RESOURCE_ATTRIBUTES or NULL */
};

struct shim_config {
	int disabled;	    /* SHIMMER_DISABLE=1, a bad setting, or AT_SECURE */
	unsigned families;  /* SHIMMER_HOOKS as a bitmask of 1 << SHIM_FAM_* */
	int log_level;	    /* SHIMMER_LOG */
	char out[PATH_MAX]; /* SHIMMER_OUT, made absolute */
	int hz;		    /* SHIMMER_HZ: samples a second, 0 = no CPU sampling */
	int clock_wall;	    /* SHIMMER_CLOCK=wall: sample wall time, not CPU time */
	int tsc;	    /* SHIMMER_TSC: 1 = time calls with the TSC where it is invariant; 0 = clock_gettime */
	int stack_depth;    /* SHIMMER_STACK_DEPTH: frames kept per sample */
	int flush_secs;	    /* SHIMMER_FLUSH_SECS: periodic flush, 0 = only at exit */
	int control;	    /* SHIMMER_CONTROL=1: control.sock (dump on demand) */
	unsigned formats;   /* SHIMMER_FORMATS as a bitmask of 1 << SHIM_FMT_* */
	int sort;	    /* SHIMMER_SORT: enum shim_view_sort (export/view.h) */
	int metrics_top;    /* SHIMMER_METRICS_TOP: resources with their own series */
	/* SHIMMER_METRICS_ADDR: the /metrics listener; metrics_addrlen 0 = none */
	struct sockaddr_storage metrics_addr;
	socklen_t metrics_addrlen;
	/* traces (README "Traces") */
	int span_min_us;    /* SHIMMER_SPAN_MIN_US: shortest file span kept */
	int slow_call_ms;   /* SHIMMER_SLOW_CALL_MS: slow-call spans, 0 = off */
	int capture_args;   /* SHIMMER_CAPTURE_ARGS=1: process.command_line */
	int follow_exec;    /* SHIMMER_FOLLOW_EXEC: put the preload back into children */
	int exit_flush_ms;  /* SHIMMER_EXIT_FLUSH_MS: bound of the exit push */
	struct shim_otel otel;
	int heap_sample;    /* SHIMMER_HEAP_SAMPLE: mean bytes between heap samples,
			     * 1 = every allocation, 0 = no heap profile */
};

#define SHIM_HZ_DEFAULT 99
#define SHIM_HZ_MAX 10000
#define SHIM_DEPTH_DEFAULT 128
#define SHIM_DEPTH_MAX 512
#define SHIM_METRICS_TOP_DEFAULT 20
#define SHIM_METRICS_TOP_MAX 10000
#define SHIM_HEAP_SAMPLE_DEFAULT 524288
#define SHIM_HEAP_SAMPLE_MAX (1 << 30)

/* The outputs SHIMMER_FORMATS can select, in the order they are written. */
enum shim_format {
	SHIM_FMT_TABLE,	     /* profile.txt */
	SHIM_FMT_PSTATS,     /* profile.pstats */
	SHIM_FMT_FOLDED,     /* cpu.folded */
	SHIM_FMT_FLAMEGRAPH, /* flamegraph.svg */
	SHIM_FMT_SPEEDSCOPE, /* profile.speedscope.json */
	SHIM_FMT_PPROF,	     /* cpu.pb.gz */
	SHIM_FMT_OTLP,	     /* traces.otlp.json */
	SHIM_FMT_CHROME,     /* trace.chrome.json */
	SHIM_FMT_NDJSON,     /* events.ndjson */
	SHIM_FMT_METRICS,    /* metrics.prom */
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

/* Parse a SHIMMER_METRICS_ADDR value: "host:port" where host is an IPv4
 * literal, "[IPv6]", "localhost" or empty (":9464" = 127.0.0.1); port 0 picks a
 * free one. Returns 0 with *ss and *len filled, or -1 with *why set. No name
 * lookup. Pure. */
int shim_config_parse_addr(const char *s, struct sockaddr_storage *ss, socklen_t *len,
			   const char **why);

/* Parse a SHIMMER_FORMATS list ("pstats,pprof" / "all") into a mask of
 * 1 << SHIM_FMT_*. Returns 0 or -1 with *bad set to the first unknown name
 * (a static buffer). Pure otherwise. */
int shim_config_parse_formats(const char *s, unsigned *mask, const char **bad);

/* Read the OTEL_* settings into shim_config.otel (called by
 * shim_config_load). A bad value prints one line and keeps the default. */
void shim_config_load_otel(void);

#endif
