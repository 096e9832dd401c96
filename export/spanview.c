/* SPDX-License-Identifier: MIT */
/* Names, kinds, statuses and attributes of spans, after the OpenTelemetry
 * semantic conventions (network, server/client, DNS, file, process, error).
 * Counts Shimmer adds (bytes, operations) carry the "shimmer." prefix. */
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../shim/fn.h"
#include "../shim/span.h"
#include "../shim/errname.h"
#include "spanview.h"


void shim_sv_hex(const uint8_t *b, size_t n, char *out)
{
	static const char d[] = "0123456789abcdef";
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = d[b[i] >> 4];
		out[2 * i + 1] = d[b[i] & 15];
	}
	out[2 * n] = '\0';
}

void shim_sv_id(uint64_t id, char out[17])
{
	uint8_t b[8];
	for (int i = 7; i >= 0; i--, id >>= 8)
		b[i] = (uint8_t)id;
	shim_sv_hex(b, 8, out);
}

int shim_sv_split_addr(const char *name, char *transport, size_t tsize, const char **type,
		       char *addr, size_t asize, int *port)
{
	const char *sp, *rest, *colon;
	size_t n;

	*type = NULL;
	*port = -1;
	if (!name || !(sp = strchr(name, ' ')))
		return -1;
	n = (size_t)(sp - name);
	if (n + 1 > tsize)
		return -1;
	memcpy(transport, name, n);
	transport[n] = '\0';
	rest = sp + 1;
	if (strncmp(rest, "listen ", 7) == 0)
		rest += 7;
	else if (strncmp(rest, "bound ", 6) == 0)
		rest += 6;
	else if (strncmp(rest, "accepted ", 9) == 0)
		rest += 9;
	if (rest[0] == '(')
		return -1; /* "(unconnected)" */
	if (strcmp(transport, "unix") == 0) {
		snprintf(addr, asize, "%s", rest);
		return 0;
	}
	if (strcmp(transport, "tcp") != 0 && strcmp(transport, "udp") != 0)
		return -1;
	if (rest[0] == '[') {
		const char *close = strchr(rest, ']');
		if (!close || close[1] != ':')
			return -1;
		snprintf(addr, asize, "%.*s", (int)(close - rest - 1), rest + 1);
		*type = "ipv6";
		colon = close + 1;
	} else {
		colon = strrchr(rest, ':');
		if (!colon)
			return -1;
		snprintf(addr, asize, "%.*s", (int)(colon - rest), rest);
		*type = "ipv4";
	}
	*port = (int)strtol(colon + 1, NULL, 10);
	return 0;
}

const char *shim_sv_name(const struct shim_model *m, const struct shim_model_span *s)
{
	switch (s->type) {
	case SHIM_SPAN_PROCESS:
		return m->exe[0] ? m->exe : "process";
	case SHIM_SPAN_DNS:
		return "dns lookup";
	case SHIM_SPAN_CONNECT:
		return "connect";
	case SHIM_SPAN_CLIENT:
	case SHIM_SPAN_SERVER:
		return "connection";
	case SHIM_SPAN_FILE:
		return "file";
	default:
		return s->fn < SHIM_FN_COUNT ? shim_fninfo[s->fn].name : "call";
	}
}

int shim_sv_kind(const struct shim_model_span *s)
{
	if (s->type == SHIM_SPAN_CLIENT)
		return 3; /* the connect call inside it is INTERNAL */
	if (s->type == SHIM_SPAN_SERVER)
		return 2;
	return 1;
}

int shim_sv_status(const struct shim_model_span *s, char *msg, size_t size)
{
	char b[32];

	msg[0] = '\0';
	if (s->type == SHIM_SPAN_PROCESS) {
		if (s->has_exit_code && s->count != 0) {
			snprintf(msg, size, "exit code %lld", (long long)s->count);
			return 2;
		}
		return 0;
	}
	if (s->err) {
		snprintf(msg, size, "%s", shim_err_name(s->err, b, sizeof(b)));
		return 2;
	}
	return 0;
}

#define S(k, v)                                                                                    \
	do {                                                                                       \
		if ((v) && n < SHIM_ATTR_MAX)                                                      \
			out[n++] = (struct shim_attr){.key = (k), .type = SHIM_ATTR_STR, .s = (v)}; \
	} while (0)
#define I(k, v)                                                                                    \
	do {                                                                                       \
		if (n < SHIM_ATTR_MAX)                                                             \
			out[n++] = (struct shim_attr){                                             \
				.key = (k), .type = SHIM_ATTR_INT, .i = (int64_t)(v)};             \
	} while (0)

size_t shim_sv_attrs(const struct shim_model *m, const struct shim_model_span *s,
		     struct shim_attr *out, struct shim_attr_buf *buf)
{
	const struct shim_model_trace *t = &m->trace;
	const char *type, *base;
	int port = -1, port2 = -1;
	size_t n = 0;

	switch (s->type) {
	case SHIM_SPAN_PROCESS:
		I("process.pid", m->pid);
		I("process.parent_pid", m->ppid);
		S("process.executable.name", m->exe);
		S("process.executable.path", t->exe_path[0] ? t->exe_path : NULL);
		S("process.command_line", t->command_line);
		if (s->has_exit_code)
			I("process.exit.code", s->count);
		if (s->by_exec)
			out[n++] = (struct shim_attr){
				.key = "shimmer.exec", .type = SHIM_ATTR_BOOL, .i = 1};
		break;
	case SHIM_SPAN_DNS:
		S("dns.question.name", s->target);
		if (!s->err)
			I("shimmer.dns.answer_count", s->count);
		break;
	case SHIM_SPAN_CONNECT:
	case SHIM_SPAN_CLIENT:
	case SHIM_SPAN_SERVER:
		if (shim_sv_split_addr(s->target, buf->b[0], sizeof(buf->b[0]), &type, buf->b[1],
				       sizeof(buf->b[1]), &port) != 0)
			break;
		S("network.transport", buf->b[0]);
		S("network.type", type);
		S("network.peer.address", buf->b[1]);
		if (port >= 0)
			I("network.peer.port", port);
		if (s->type == SHIM_SPAN_SERVER) {
			S("client.address", buf->b[1]);
			if (port >= 0)
				I("client.port", port);
			if (shim_sv_split_addr(s->target2, buf->b[2], sizeof(buf->b[2]), &type,
					       buf->b[3], sizeof(buf->b[3]), &port2) == 0) {
				S("server.address", buf->b[3]);
				if (port2 >= 0)
					I("server.port", port2);
			}
		} else {
			S("server.address", s->target2 ? s->target2 : buf->b[1]);
			if (port >= 0)
				I("server.port", port);
		}
		break;
	case SHIM_SPAN_FILE:
		S("file.path", s->target);
		if (s->target && (base = strrchr(s->target, '/')) != NULL && base[1])
			S("file.name", base + 1);
		break;
	case SHIM_SPAN_SLOW:
		S("code.function.name", s->fn < SHIM_FN_COUNT ? shim_fninfo[s->fn].name : NULL);
		S("shimmer.resource", s->target);
		break;
	}
	if (s->type == SHIM_SPAN_DNS && s->fn < SHIM_FN_COUNT)
		S("code.function.name", shim_fninfo[s->fn].name);
	if (s->type == SHIM_SPAN_CLIENT || s->type == SHIM_SPAN_SERVER) {
		I("shimmer.bytes_sent", s->wbytes);
		I("shimmer.bytes_received", s->rbytes);
		I("shimmer.send_ops", s->wops);
		I("shimmer.receive_ops", s->rops);
		I("shimmer.ops", s->ops);
	} else if (s->type == SHIM_SPAN_FILE && !s->err) {
		I("shimmer.bytes_read", s->rbytes);
		I("shimmer.bytes_written", s->wbytes);
		I("shimmer.read_ops", s->rops);
		I("shimmer.write_ops", s->wops);
		I("shimmer.ops", s->ops);
	}
	if (s->err)
		S("error.type", shim_err_name(s->err, buf->b[5], sizeof(buf->b[5])));
	if (s->unfinished && n < SHIM_ATTR_MAX)
		out[n++] = (struct shim_attr){.key = "shimmer.unfinished", .type = SHIM_ATTR_BOOL,
					      .i = 1};
	I("thread.id", s->tid);
	return n;
}

size_t shim_sv_resource(const struct shim_model *m, struct shim_attr *out, size_t cap,
			char *scratch, size_t scratch_size)
{
	const struct shim_model_trace *t = &m->trace;
	const char *svc = t->service;
	size_t n = 0;

	if (!svc) {
		snprintf(scratch, scratch_size, "unknown_service:%s", m->exe);
		svc = scratch;
	}
#undef S
#undef I
#define S(k, v)                                                                                    \
	do {                                                                                       \
		if ((v) && n < cap)                                                                \
			out[n++] = (struct shim_attr){.key = (k), .type = SHIM_ATTR_STR, .s = (v)}; \
	} while (0)
#define I(k, v)                                                                                    \
	do {                                                                                       \
		if (n < cap)                                                                       \
			out[n++] = (struct shim_attr){                                             \
				.key = (k), .type = SHIM_ATTR_INT, .i = (int64_t)(v)};             \
	} while (0)
	S("service.name", svc);
	S("telemetry.sdk.name", "shimmer");
	S("telemetry.sdk.language", "cpp");
	S("telemetry.sdk.version", SHIMMER_VERSION);
	S("host.name", t->host[0] ? t->host : NULL);
	I("process.pid", m->pid);
	I("process.parent_pid", m->ppid);
	S("process.executable.name", m->exe);
	S("process.executable.path", t->exe_path[0] ? t->exe_path : NULL);
	S("process.command_line", t->command_line);
	return n;
}
