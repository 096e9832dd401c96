/* SPDX-License-Identifier: MIT */
/* OTLP/HTTP (http/json) push. The worker runs tick() every 100 ms: drain the
 * rings, and when a batch is due POST it through libcurl, loaded with dlopen
 * on first use. Only 429/502/503/504 are retried (backoff, Retry-After); any
 * other failure drops the batch and counts it. At exit shim_otlp_final sends
 * the rest within SHIMMER_EXIT_FLUSH_MS and says in one line what was lost.
 * Everything here runs with shim_tls.internal held: no hook sees it. */
#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "../export/export.h"
#include "clock.h"
#include "config.h"
#include "log.h"
#include "model.h"
#include "otlp.h"
#include "span.h"
#include "worker.h"

#define TICK_MS 100
#define MAX_ATTEMPTS 6

static struct {
	int on;
	pthread_mutex_t mx; /* sent, inflight, dropped, why: export side only */
	size_t sent;	    /* store spans [0, sent) delivered or given up */
	size_t inflight;    /* spans from sent on being posted now */
	uint64_t dropped;
	char why[160];
	uint64_t next_ns;  /* when the next batch is due without a full one */
	uint64_t retry_ns; /* no attempt before this */
	unsigned attempt;  /* failed attempts of the batch at `sent` */
	int root_sent;
	int exiting; /* shim_otlp_final runs */
	int err_fd;  /* the stderr the process started with, for the exit line */
} q = {.mx = PTHREAD_MUTEX_INITIALIZER, .err_fd = -1};

/* libcurl, resolved by hand (never linked: 39 objects at every start) */
static struct {
	int tried, ok;
	CURLcode (*global_init)(long);
	CURL *(*easy_init)(void);
	CURLcode (*setopt)(CURL *, CURLoption, ...);
	CURLcode (*perform)(CURL *);
	CURLcode (*getinfo)(CURL *, CURLINFO, ...);
	void (*cleanup)(CURL *);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free)(struct curl_slist *);
	const char *(*strerror)(CURLcode);
} cu;

int shim_otlp_retryable(long status)
{
	return status == 429 || status == 502 || status == 503 || status == 504;
}

uint64_t shim_otlp_backoff_ms(unsigned attempt, long retry_after)
{
	uint64_t ms;

	if (retry_after >= 0)
		return (uint64_t)(retry_after > 3600 ? 3600 : retry_after) * 1000u;
	ms = 1000ull << (attempt > 5 ? 5 : attempt);
	return ms > 30000 ? 30000 : ms;
}

int shim_otlp_parse_headers(const char *s, void (*fn)(const char *line, void *arg), void *arg)
{
	int n = 0;

	while (s && *s) {
		const char *end = strchr(s, ','), *eq;
		size_t len = end ? (size_t)(end - s) : strlen(s), k = 0, kl;
		char line[1024];
		eq = memchr(s, '=', len);
		if (!eq)
			return -1;
		while (s < eq && *s == ' ')
			s++;
		kl = (size_t)(eq - s);
		while (kl && s[kl - 1] == ' ')
			kl--;
		if (!kl || kl + 3 >= sizeof(line))
			return -1;
		memcpy(line, s, kl);
		memcpy(line + kl, ": ", 2);
		k = kl + 2;
		{
			const char *v = eq + 1, *vend = end ? end : eq + 1 + strlen(eq + 1);
			while (v < vend && *v == ' ')
				v++;
			while (vend > v && vend[-1] == ' ')
				vend--;
			for (; v < vend && k + 1 < sizeof(line); v++) {
				unsigned h;
				if (*v == '%' && vend - v > 2 && sscanf(v + 1, "%2x", &h) == 1) {
					line[k++] = (char)h;
					v += 2;
				} else {
					line[k++] = *v;
				}
			}
		}
		line[k] = '\0';
		fn(line, arg);
		n++;
		s = end ? end + 1 : NULL;
	}
	return n;
}

static int load_curl(void)
{
	void *h;

	if (cu.tried)
		return cu.ok ? 0 : -1;
	cu.tried = 1;
	h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return -1;
#define SYM(field, name) (*(void **)&cu.field = dlsym(h, name))
	if (!SYM(global_init, "curl_global_init") || !SYM(easy_init, "curl_easy_init") ||
	    !SYM(setopt, "curl_easy_setopt") || !SYM(perform, "curl_easy_perform") ||
	    !SYM(getinfo, "curl_easy_getinfo") || !SYM(cleanup, "curl_easy_cleanup") ||
	    !SYM(slist_append, "curl_slist_append") || !SYM(slist_free, "curl_slist_free_all") ||
	    !SYM(strerror, "curl_easy_strerror"))
		return -1;
#undef SYM
	if (cu.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		return -1;
	cu.ok = 1;
	return 0;
}

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

static size_t header_cb(char *p, size_t size, size_t n, void *arg)
{
	long *retry_after = arg;
	size_t len = size * n;

	if (len > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
		char tmp[32];
		size_t k = len - 12 < sizeof(tmp) - 1 ? len - 12 : sizeof(tmp) - 1;
		char *end;
		long v;
		memcpy(tmp, p + 12, k);
		tmp[k] = '\0';
		v = strtol(tmp, &end, 10);
		if (end != tmp && v >= 0)
			*retry_after = v; /* an HTTP-date form is left to our backoff */
	}
	return len;
}

/* Our sockets far above the program's fds, close-on-exec. */
static curl_socket_t open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
	(void)arg;
	(void)purpose;
	return shim_worker_high_fd(socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol));
}

static void add_header(const char *line, void *arg)
{
	struct curl_slist **l = arg;
	struct curl_slist *n = cu.slist_append(*l, line);
	if (n)
		*l = n;
}

static int gzip(const char *in, size_t n, struct shim_sink *out)
{
	z_stream z;
	int rc;

	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		return -1;
	out->cap = deflateBound(&z, n) + 64;
	out->buf = malloc(out->cap);
	if (!out->buf) {
		deflateEnd(&z);
		return -1;
	}
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)n;
	z.next_out = (Bytef *)out->buf;
	z.avail_out = (uInt)out->cap;
	rc = deflate(&z, Z_FINISH);
	out->len = out->cap - z.avail_out;
	deflateEnd(&z);
	return rc == Z_STREAM_END ? 0 : -1;
}

long shim_otlp_post(const struct shim_sink *body, long timeout_ms, long *retry_after, char *why,
		 size_t wsize)
{
	struct curl_slist *hdr = NULL;
	struct shim_sink z = {0};
	const struct shim_sink *send = body;
	long status = 0;
	CURLcode rc;
	CURL *h;

	*retry_after = -1;
	if (shim_config.otel.gzip && gzip(body->buf, body->len, &z) == 0)
		send = &z;
	/* at exit, libcurl only when it was set up before: a first
	 * curl_global_init now may touch an OpenSSL the program's atexit
	 * handlers already tore down */
	if (!cu.ok && q.exiting && strncmp(shim_config.otel.url, "http://", 7) == 0) {
		status = shim_otlp_raw_post(shim_config.otel.url, send->buf, send->len, send == &z,
					    shim_config.otel.headers, timeout_ms, retry_after, why,
					    wsize);
		shim_sink_free(&z);
		return status;
	}
	if (load_curl() != 0) {
		snprintf(why, wsize, "cannot load libcurl.so.4");
		shim_sink_free(&z);
		return 0;
	}
	h = cu.easy_init();
	if (!h) {
		snprintf(why, wsize, "curl_easy_init failed");
		shim_sink_free(&z);
		return 0;
	}
	add_header("Content-Type: application/json", &hdr);
	if (send == &z)
		add_header("Content-Encoding: gzip", &hdr);
	shim_otlp_parse_headers(shim_config.otel.headers, add_header, &hdr);
	cu.setopt(h, CURLOPT_URL, shim_config.otel.url);
	cu.setopt(h, CURLOPT_POST, 1L);
	cu.setopt(h, CURLOPT_POSTFIELDS, send->buf);
	cu.setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)send->len);
	cu.setopt(h, CURLOPT_HTTPHEADER, hdr);
	cu.setopt(h, CURLOPT_NOSIGNAL, 1L);
	cu.setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 1L);
	cu.setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 1L);
	cu.setopt(h, CURLOPT_WRITEFUNCTION, discard);
	cu.setopt(h, CURLOPT_HEADERFUNCTION, header_cb);
	cu.setopt(h, CURLOPT_HEADERDATA, retry_after);
	cu.setopt(h, CURLOPT_OPENSOCKETFUNCTION, open_socket);
	cu.setopt(h, CURLOPT_USERAGENT, "shimmer-otlp/0.1");
	rc = cu.perform(h);
	if (rc == CURLE_OK)
		cu.getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	else
		snprintf(why, wsize, "%s", cu.strerror(rc));
	cu.cleanup(h);
	cu.slist_free(hdr);
	shim_sink_free(&z);
	return status;
}

/* Render spans [first, first + n) of the store (lock held by the caller)
 * into body; with_root puts the process root span first. */
static int render(size_t first, size_t n, int with_root, struct shim_sink *body)
{
	const struct shim_span *spans;
	struct shim_model m;
	size_t total = shim_span_store_lock(&spans);
	int rc;

	memset(&m, 0, sizeof(m));
	if (first + n > total)
		n = first < total ? total - first : 0;
	m.pid = getpid();
	m.ppid = getppid();
	snprintf(m.exe, sizeof(m.exe), "%s", program_invocation_short_name);
	rc = shim_model_build_spans(&m, spans + first, n, with_root);
	shim_span_store_unlock();
	if (rc == 0)
		rc = shim_export_otlp_request(&m, 0, m.trace.nspans, body);
	shim_model_free_spans(&m);
	return rc == 0 && !body->failed ? 0 : -1;
}

static size_t unsent(void)
{
	const struct shim_span *spans;
	size_t n = shim_span_store_lock(&spans);
	shim_span_store_unlock();
	return n > q.sent ? n - q.sent : 0;
}

/* One attempt at the batch at `sent`: returns 1 delivered or given up (the
 * caller moves on), 0 to be retried at q.retry_ns. */
static int attempt(size_t k, int with_root, long timeout_ms)
{
	struct shim_sink body;
	char why[128] = "";
	long status, ra;
	int done = 1;

	shim_sink_init(&body);
	pthread_mutex_lock(&q.mx);
	q.inflight = k;
	pthread_mutex_unlock(&q.mx);
	if (render(q.sent, k, with_root, &body) != 0) {
		snprintf(why, sizeof(why), "out of memory rendering a batch");
		status = 0;
	} else {
		status = shim_otlp_post(&body, timeout_ms, &ra, why, sizeof(why));
	}
	shim_sink_free(&body);
	pthread_mutex_lock(&q.mx);
	q.inflight = 0;
	if (status >= 200 && status < 300) {
		q.attempt = 0;
	} else if (shim_otlp_retryable(status) && ++q.attempt < MAX_ATTEMPTS) {
		q.retry_ns = shim_clock_mono_ns() + shim_otlp_backoff_ms(q.attempt - 1, ra) * 1000000ull;
		done = 0;
	} else {
		q.attempt = 0;
		q.dropped += k + (with_root ? 1 : 0);
		if (status)
			snprintf(q.why, sizeof(q.why), "HTTP %ld", status);
		else
			snprintf(q.why, sizeof(q.why), "%s", why);
	}
	if (done) {
		q.sent += k;
		if (with_root)
			q.root_sent = 1;
	}
	pthread_mutex_unlock(&q.mx);
	return done;
}

/* Keep the queue within OTEL_BSP_MAX_QUEUE_SIZE (oldest out, counted), and
 * the store from filling up with delivered spans. */
static void bound_queue(void)
{
	const struct shim_span *spans;
	size_t n = shim_span_store_lock(&spans);
	size_t queue = (size_t)shim_config.otel.bsp_queue;

	pthread_mutex_lock(&q.mx);
	if (n > q.sent + queue) {
		q.dropped += n - q.sent - queue;
		snprintf(q.why, sizeof(q.why), "queue full (OTEL_BSP_MAX_QUEUE_SIZE=%zu)", queue);
		q.sent = n - queue;
	}
	if (n > SHIM_SPAN_STORE_MAX / 2 && q.sent > 0 && !q.inflight) {
		shim_span_store_shift(q.sent);
		q.sent = 0;
	}
	pthread_mutex_unlock(&q.mx);
	shim_span_store_unlock();
}

static void tick(void *arg)
{
	uint64_t now = shim_clock_mono_ns();
	size_t batch = (size_t)shim_config.otel.bsp_batch, left;

	(void)arg;
	load_curl(); /* now, not at exit: see shim_otlp_post() */
	shim_otlp_relay_tick(now);
	shim_span_drain();
	bound_queue();
	left = unsent();
	if (!left || now < q.retry_ns || (left < batch && now < q.next_ns))
		return;
	while (left && now >= q.retry_ns) {
		size_t k = left < batch ? left : batch;
		if (!attempt(k, 0, shim_config.otel.timeout_ms))
			break;
		left = unsent();
		now = shim_clock_mono_ns();
		if (left < batch)
			break;
	}
	q.next_ns = shim_clock_mono_ns() + (uint64_t)shim_config.otel.bsp_delay_ms * 1000000ull;
}

int shim_otlp_init(void)
{
	q.on = shim_span_on && shim_config.otel.url[0];
	if (!q.on)
		return 0;
	q.next_ns = shim_clock_mono_ns() + (uint64_t)shim_config.otel.bsp_delay_ms * 1000000ull;
	q.err_fd = fcntl(2, F_DUPFD_CLOEXEC, 2);
	if (q.err_fd >= 0)
		q.err_fd = shim_worker_high_fd(q.err_fd);
	if (shim_worker_every(TICK_MS, tick, NULL) != 0)
		shim_err("no room for the OTLP push on the worker; spans are pushed at exit only");
	shim_otlp_relay_init();
	return 0;
}

int shim_otlp_active(void)
{
	return q.on;
}

/* The one line about spans not delivered. Programs close stderr at exit
 * (coreutils' close_stdout): then the line goes to the stderr the process
 * started with, kept by shim_otlp_init. */
static void say_dropped(void)
{
	char line[1400];
	struct stat a, b;
	int n;

	if (q.err_fd < 0 ||
	    (fstat(2, &a) == 0 && fstat(q.err_fd, &b) == 0 && a.st_dev == b.st_dev &&
	     a.st_ino == b.st_ino)) {
		shim_err("OTLP push to %s: %s; %llu span%s dropped (not delivered)",
			 shim_config.otel.url, q.why[0] ? q.why : "failed",
			 (unsigned long long)q.dropped, q.dropped == 1 ? "" : "s");
		return;
	}
	n = snprintf(line, sizeof(line),
		     "shimmer: OTLP push to %s: %s; %llu span%s dropped (not delivered)\n",
		     shim_config.otel.url, q.why[0] ? q.why : "failed", (unsigned long long)q.dropped,
		     q.dropped == 1 ? "" : "s");
	if (n > 0 && write(q.err_fd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1) < 0) {
		/* nowhere left to say it */
	}
}

/* Add a reason to q.why ("a; b"), cut to fit. */
static void why_append(const char *w)
{
	size_t n = strlen(q.why), k = strlen(w);

	if (n && n + 2 < sizeof(q.why)) {
		memcpy(q.why + n, "; ", 2);
		n += 2;
	}
	if (n + k >= sizeof(q.why))
		k = sizeof(q.why) - n - 1;
	memcpy(q.why + n, w, k);
	q.why[n + k] = '\0';
}

void shim_otlp_lost(uint64_t n, const char *why)
{
	pthread_mutex_lock(&q.mx);
	q.dropped += n;
	snprintf(q.why, sizeof(q.why), "%s", why);
	pthread_mutex_unlock(&q.mx);
}

/* What is left of the store, root span first, as requests of at most a
 * batch each, held with the children's. */
static void hold_rest(void)
{
	size_t batch = (size_t)shim_config.otel.bsp_batch;

	for (;;) {
		struct shim_sink body;
		size_t left = unsent(), k;
		int root = !q.root_sent;
		if (!left && !root)
			return;
		k = left < batch - (root ? 1 : 0) ? left : batch - (root ? 1 : 0);
		shim_sink_init(&body);
		if (render(q.sent, k, root, &body) != 0 ||
		    shim_otlp_relay_hold(&body, (uint32_t)(k + (root ? 1 : 0))) != 0) {
			shim_sink_free(&body);
			return; /* counted as not delivered below */
		}
		shim_sink_free(&body);
		pthread_mutex_lock(&q.mx);
		q.sent += k;
		q.root_sent = 1;
		pthread_mutex_unlock(&q.mx);
	}
}

void shim_otlp_final(uint64_t start_ns)
{
	uint64_t deadline = start_ns + (uint64_t)shim_config.exit_flush_ms * 1000000ull;
	size_t left;
	int rc;

	if (!q.on)
		return;
	q.exiting = 1;
	pthread_mutex_lock(&q.mx);
	q.sent += q.inflight; /* a worker stuck in a post: its batch is its own */
	q.inflight = 0;
	pthread_mutex_unlock(&q.mx);
	/* children exiting from now on post themselves; those that handed
	 * their spans over already are held with ours */
	shim_otlp_relay_stop(deadline);
	bound_queue();
	hold_rest();
	/* to the parent's relay when it has one, else posted (retried) here */
	rc = shim_otlp_relay_flush(deadline);
	if (rc) {
		char w[80];
		if (rc == 1)
			snprintf(w, sizeof(w), "exit flush time (SHIMMER_EXIT_FLUSH_MS=%d) used up",
				 shim_config.exit_flush_ms);
		else
			snprintf(w, sizeof(w), "next retry after the exit flush time");
		why_append(w);
	}
	left = unsent() + !q.root_sent;
	pthread_mutex_lock(&q.mx);
	q.dropped += left + shim_otlp_relay_give_up();
	q.sent += unsent();
	q.root_sent = 1;
	pthread_mutex_unlock(&q.mx);
	if (q.dropped)
		say_dropped();
}

uint64_t shim_otlp_dropped(char *why, size_t size)
{
	uint64_t n;

	pthread_mutex_lock(&q.mx);
	n = q.dropped;
	snprintf(why, size, "%s", q.dropped ? q.why : "");
	pthread_mutex_unlock(&q.mx);
	return n;
}

void shim_otlp_fork_child(void)
{
	pthread_mutex_init(&q.mx, NULL);
	q.sent = q.inflight = 0;
	q.dropped = 0;
	q.why[0] = '\0';
	q.retry_ns = 0;
	q.attempt = 0;
	q.root_sent = 0;
	shim_otlp_relay_fork_child();
	if (q.on)
		q.next_ns = shim_clock_mono_ns() + (uint64_t)shim_config.otel.bsp_delay_ms * 1000000ull;
}
