/* SPDX-License-Identifier: MIT */
/* The OTEL_* settings Shimmer honours (OpenTelemetry SDK environment
 * specification): endpoint, headers, timeout, compression, batching, sampler,
 * service and resource. A bad value is one "shimmer: " line and the spec's
 * default, as the SDKs do; it never turns instrumentation off. */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"

/* The signal-specific variable when set, else the general one. */
static const char *either(const char *traces, const char *general)
{
	const char *v = getenv(traces);
	return v && *v ? v : getenv(general);
}

static void get_int(const char *name, const char *v, long lo, long hi, int *out)
{
	if (!v || !*v)
		return;
	if (shim_config_parse_int(v, lo, hi, out) != 0)
		shim_err("%s=%.80s: expected an integer from %ld to %ld; using %d", name, v, lo, hi,
			 *out);
}

static int ieq(const char *a, const char *b)
{
	return strcasecmp(a, b) == 0;
}

static void load_sampler(struct shim_otel *o)
{
	static const char *const names[] = {"always_on",
					    "always_off",
					    "traceidratio",
					    "parentbased_always_on",
					    "parentbased_always_off",
					    "parentbased_traceidratio"};
	const char *v = getenv("OTEL_TRACES_SAMPLER"), *a;
	size_t i;

	o->sampler = SHIM_SAMPLER_PARENT_ON;
	o->ratio = 1.0;
	if (v && *v) {
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (ieq(v, names[i]))
				break;
		if (i == sizeof(names) / sizeof(names[0]))
			shim_err("OTEL_TRACES_SAMPLER=%.80s: not a sampler Shimmer knows; using "
				 "parentbased_always_on",
				 v);
		else
			o->sampler = (int)i;
	}
	a = getenv("OTEL_TRACES_SAMPLER_ARG");
	if ((o->sampler == SHIM_SAMPLER_RATIO || o->sampler == SHIM_SAMPLER_PARENT_RATIO) && a &&
	    *a) {
		char *end;
		double r = strtod(a, &end);
		if (*end || !(r >= 0.0 && r <= 1.0))
			shim_err("OTEL_TRACES_SAMPLER_ARG=%.80s: expected a ratio from 0 to 1; using 1",
				 a);
		else
			o->ratio = r;
	}
}

static void load_url(struct shim_otel *o)
{
	const char *v = getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
	size_t n;

	o->url[0] = '\0';
	if (v && *v) {
		if (strlen(v) >= sizeof(o->url)) {
			shim_err("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: too long; no OTLP push");
			return;
		}
		memcpy(o->url, v, strlen(v) + 1); /* used as is (spec) */
	} else {
		v = getenv("OTEL_EXPORTER_OTLP_ENDPOINT");
		if (!v || !*v)
			return;
		n = strlen(v);
		while (n && v[n - 1] == '/')
			n--;
		if (n + sizeof("/v1/traces") > sizeof(o->url)) {
			shim_err("OTEL_EXPORTER_OTLP_ENDPOINT: too long; no OTLP push");
			return;
		}
		memcpy(o->url, v, n);
		memcpy(o->url + n, "/v1/traces", sizeof("/v1/traces"));
	}
	if (strncmp(o->url, "http://", 7) != 0 && strncmp(o->url, "https://", 8) != 0) {
		shim_err("OTLP endpoint %.80s: expected an http:// or https:// URL; no OTLP push",
			 o->url);
		o->url[0] = '\0';
	}
}

void shim_config_load_otel(void)
{
	struct shim_otel *o = &shim_config.otel;
	const char *v;

	memset(o, 0, sizeof(*o));
	v = getenv("OTEL_SDK_DISABLED");
	o->disabled = v && ieq(v, "true");
	load_sampler(o);
	load_url(o);
	o->headers = either("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS");
	o->timeout_ms = 10000;
	v = either("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT");
	get_int("OTEL_EXPORTER_OTLP_TIMEOUT", v, 1, 3600000, &o->timeout_ms);
	v = either("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION");
	if (v && *v) {
		if (ieq(v, "gzip"))
			o->gzip = 1;
		else if (!ieq(v, "none"))
			shim_err("OTEL_EXPORTER_OTLP_COMPRESSION=%.80s: expected gzip or none; using "
				 "none",
				 v);
	}
	v = either("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL");
	if (o->url[0] && v && *v && !ieq(v, "http/json"))
		shim_info("OTEL_EXPORTER_OTLP_PROTOCOL=%.80s: Shimmer speaks http/json only", v);
	o->bsp_delay_ms = 5000;
	o->bsp_queue = 2048;
	o->bsp_batch = 512;
	get_int("OTEL_BSP_SCHEDULE_DELAY", getenv("OTEL_BSP_SCHEDULE_DELAY"), 1, 3600000,
		&o->bsp_delay_ms);
	get_int("OTEL_BSP_MAX_QUEUE_SIZE", getenv("OTEL_BSP_MAX_QUEUE_SIZE"), 1, 1000000,
		&o->bsp_queue);
	get_int("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", getenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE"), 1,
		1000000, &o->bsp_batch);
	if (o->bsp_batch > o->bsp_queue)
		o->bsp_batch = o->bsp_queue; /* spec: must be <= the queue size */
	v = getenv("OTEL_SERVICE_NAME");
	o->service = v && *v ? v : NULL;
	v = getenv("OTEL_RESOURCE_ATTRIBUTES");
	o->resource = v && *v ? v : NULL;
}
