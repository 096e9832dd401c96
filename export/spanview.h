/* SPDX-License-Identifier: MIT */
/* What the trace writers (OTLP, Chrome, NDJSON) say about a model span: its
 * name, kind, status and semantic-convention attributes, decided once here so
 * the three files agree. Pure functions of the model. */
#ifndef SHIM_SPANVIEW_H
#define SHIM_SPANVIEW_H

#include <stddef.h>
#include <stdint.h>

#include "../shim/model.h"

enum { SHIM_ATTR_STR, SHIM_ATTR_INT, SHIM_ATTR_BOOL };

struct shim_attr {
	const char *key;
	int type; /* SHIM_ATTR_* */
	const char *s;
	int64_t i;
};

#define SHIM_ATTR_MAX 24

/* Scratch for the strings attributes point into (addresses, names). */
struct shim_attr_buf {
	char b[6][300];
};

/* Span name: the executable for a process, "dns lookup", "connect",
 * "connection", "file", or the slow call's function name. */
const char *shim_sv_name(const struct shim_model *m, const struct shim_model_span *s);

/* OTLP SpanKind: 1 INTERNAL, 2 SERVER, 3 CLIENT. */
int shim_sv_kind(const struct shim_model_span *s);

/* Status code (0 UNSET, 2 ERROR) and, for errors, the message. */
int shim_sv_status(const struct shim_model_span *s, char *msg, size_t size);

/* The attributes of s into out (at most SHIM_ATTR_MAX); strings live in m or
 * in buf. Returns the count. */
size_t shim_sv_attrs(const struct shim_model *m, const struct shim_model_span *s,
		     struct shim_attr *out, struct shim_attr_buf *buf);

/* Resource attributes of the process (service.name, telemetry.sdk.*,
 * host.name, process.*, OTEL_RESOURCE_ATTRIBUTES). Returns the count. */
size_t shim_sv_resource(const struct shim_model *m, struct shim_attr *out, size_t cap,
			char *scratch, size_t scratch_size);


/* Split a socket resource name ("tcp 127.0.0.1:80", "udp [::1]:53",
 * "unix /run/x.sock", "tcp listen 0.0.0.0:8000") into transport, network
 * type ("ipv4", "ipv6" or NULL), address and port (-1 when none). Returns 0 or
 * -1 when it is not an address. */
int shim_sv_split_addr(const char *name, char *transport, size_t tsize, const char **type,
		       char *addr, size_t asize, int *port);

/* Lower-case hex of n bytes into out (2n+1). */
void shim_sv_hex(const uint8_t *b, size_t n, char *out);

/* A span id as 16 hex digits. */
void shim_sv_id(uint64_t id, char out[17]);

#define SHIMMER_VERSION "0.1.0"

#endif
