/* SPDX-License-Identifier: MIT */
/* shim/context.c, shim/otlp_http.c's pure parts and export/spanview.c:
 * traceparent parsing and formatting, ids, header lists, retry policy,
 * socket names split into semantic-convention attributes. */
#include "unit.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../export/spanview.h"
#include "../../shim/errname.h"
#include "../../shim/context.h"
#include "../../shim/otlp.h"
#include "../../shim/span.h"

static void test_parse_traceparent(void **state)
{
	uint8_t id[16], fl;
	uint64_t parent;
	(void)state;

	assert_int_equal(shim_span_parse_traceparent(
				 "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", id,
				 &parent, &fl),
			 0);
	assert_int_equal(id[0], 0x4b);
	assert_int_equal(id[15], 0x36);
	assert_true(parent == 0x00f067aa0ba902b7ull);
	assert_int_equal(fl, 1);
	/* a future version may carry more fields after a '-' */
	assert_int_equal(shim_span_parse_traceparent(
				 "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03-xyz", id,
				 &parent, &fl),
			 0);
	assert_int_equal(fl, 3);
	static const char *const bad[] = {
		"",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-",   /* 00: exact */
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",    /* ff version */
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01",    /* zero trace */
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",    /* zero parent */
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",    /* upper case */
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",	      /* short */
		"00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",    /* separator */
		"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",   /* no '-' */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(shim_span_parse_traceparent(bad[i], id, &parent, &fl), -1);
}

static void test_traceparent_round_trip(void **state)
{
	char buf[64];
	uint8_t id[16], fl;
	uint64_t parent;
	(void)state;

	memset(&shim_ctx, 0, sizeof(shim_ctx));
	assert_int_equal(shim_span_traceparent(buf, sizeof(buf)), 0); /* no root yet */
	for (int i = 0; i < 16; i++)
		shim_ctx.trace_id[i] = (uint8_t)(i * 17 + 1);
	shim_ctx.root_id = 0x0123456789abcdefull;
	shim_ctx.flags = 0x03;
	assert_int_equal(shim_span_traceparent(buf, sizeof(buf)), 55);
	assert_string_equal(buf, "00-0112233445566778899aabbccddeef00-0123456789abcdef-03");
	assert_int_equal(shim_span_traceparent(buf, 40), 0); /* too small: nothing */
	assert_int_equal(shim_span_parse_traceparent(
				 "00-0112233445566778899aabbccddeef00-0123456789abcdef-03", id,
				 &parent, &fl),
			 0);
	assert_memory_equal(id, shim_ctx.trace_id, 16);
	assert_true(parent == shim_ctx.root_id);
}

static void test_random_ids(void **state)
{
	uint64_t seen[64];
	(void)state;

	for (int i = 0; i < 64; i++) {
		seen[i] = shim_span_random64();
		assert_true(seen[i] != 0);
		for (int j = 0; j < i; j++)
			assert_true(seen[i] != seen[j]);
	}
}

/* A fork child draws from a generator of its own (reseeded), never the
 * parent's next ids; another thread too. */
static void *draw4(void *arg)
{
	uint64_t *v = arg;
	for (int i = 0; i < 4; i++)
		v[i] = shim_span_random64();
	return NULL;
}

static void test_random_ids_fork_and_threads(void **state)
{
	uint64_t mine[4], child[4], other[4];
	int fds[2], status;
	pthread_t th;
	pid_t pid;

	(void)state;
	(void)shim_span_random64(); /* this thread's generator is seeded */
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	if (pid == 0) {
		shim_ctx_fork_child();
		draw4(child);
		_exit(write(fds[1], child, sizeof(child)) == (ssize_t)sizeof(child) ? 0 : 1);
	}
	assert_true(pid > 0);
	draw4(mine);
	assert_int_equal(read(fds[0], child, sizeof(child)), (ssize_t)sizeof(child));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(pthread_create(&th, NULL, draw4, other), 0);
	pthread_join(th, NULL);
	for (int i = 0; i < 4; i++)
		for (int j = 0; j < 4; j++) {
			assert_true(mine[i] != child[j]);
			assert_true(mine[i] != other[j]);
			assert_true(child[i] != other[j]);
		}
	close(fds[0]);
	close(fds[1]);
}

struct lines {
	char v[8][128];
	int n;
};

static void collect(const char *line, void *arg)
{
	struct lines *l = arg;
	snprintf(l->v[l->n++], sizeof(l->v[0]), "%s", line);
}

static void test_headers(void **state)
{
	struct lines l = {0};
	(void)state;

	assert_int_equal(shim_otlp_parse_headers("api-key=abc%3D1, x-b = two words ,k=", collect,
						 &l),
			 3);
	assert_string_equal(l.v[0], "api-key: abc=1");
	assert_string_equal(l.v[1], "x-b: two words");
	assert_string_equal(l.v[2], "k: ");
	l.n = 0;
	assert_int_equal(shim_otlp_parse_headers("novalue", collect, &l), -1);
	assert_int_equal(shim_otlp_parse_headers("=v", collect, &l), -1);
	assert_int_equal(shim_otlp_parse_headers(NULL, collect, &l), 0);
}

static void test_retry_policy(void **state)
{
	(void)state;
	assert_true(shim_otlp_retryable(429));
	assert_true(shim_otlp_retryable(502));
	assert_true(shim_otlp_retryable(503));
	assert_true(shim_otlp_retryable(504));
	assert_false(shim_otlp_retryable(400));
	assert_false(shim_otlp_retryable(500));
	assert_false(shim_otlp_retryable(0));
	assert_int_equal(shim_otlp_backoff_ms(0, -1), 1000);
	assert_int_equal(shim_otlp_backoff_ms(1, -1), 2000);
	assert_int_equal(shim_otlp_backoff_ms(9, -1), 30000);
	assert_int_equal(shim_otlp_backoff_ms(3, 7), 7000); /* Retry-After wins */
	assert_int_equal(shim_otlp_backoff_ms(0, 0), 0);
}

static void split_ok(const char *name, const char *tr, const char *type, const char *addr,
		     int port)
{
	char t[16], a[300];
	const char *ty;
	int p;

	assert_int_equal(shim_sv_split_addr(name, t, sizeof(t), &ty, a, sizeof(a), &p), 0);
	assert_string_equal(t, tr);
	if (type)
		assert_string_equal(ty, type);
	else
		assert_null(ty);
	assert_string_equal(a, addr);
	assert_int_equal(p, port);
}

static void test_split_addr(void **state)
{
	char t[16], a[300];
	const char *ty;
	int p;
	(void)state;

	split_ok("tcp 127.0.0.1:8080", "tcp", "ipv4", "127.0.0.1", 8080);
	split_ok("udp [::1]:53", "udp", "ipv6", "::1", 53);
	split_ok("tcp listen 0.0.0.0:80", "tcp", "ipv4", "0.0.0.0", 80);
	split_ok("unix /run/x.sock", "unix", NULL, "/run/x.sock", -1);
	split_ok("unix accepted /run/x.sock", "unix", NULL, "/run/x.sock", -1);
	assert_int_equal(shim_sv_split_addr("tcp (unconnected)", t, sizeof(t), &ty, a, sizeof(a),
					    &p),
			 -1);
	assert_int_equal(shim_sv_split_addr("pipe:[123]", t, sizeof(t), &ty, a, sizeof(a), &p),
			 -1);
	assert_int_equal(shim_sv_split_addr(NULL, t, sizeof(t), &ty, a, sizeof(a), &p), -1);
}

static void test_errnames_and_ids(void **state)
{
	char b[32], id[17];
	(void)state;

	assert_string_equal(shim_err_name(ECONNREFUSED, b, sizeof(b)), "ECONNREFUSED");
	assert_string_equal(shim_err_name(EAI_NONAME, b, sizeof(b)), "EAI_NONAME");
	assert_string_equal(shim_err_name(-12345, b, sizeof(b)), "-12345");
	shim_sv_id(0x00f067aa0ba902b7ull, id);
	assert_string_equal(id, "00f067aa0ba902b7");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_traceparent), cmocka_unit_test(test_traceparent_round_trip),
		cmocka_unit_test(test_random_ids),
		cmocka_unit_test(test_random_ids_fork_and_threads),	  cmocka_unit_test(test_headers),
		cmocka_unit_test(test_retry_policy),	  cmocka_unit_test(test_split_addr),
		cmocka_unit_test(test_errnames_and_ids),
	};
	return unit_exit(cmocka_run_group_tests(tests, NULL, NULL));
}
