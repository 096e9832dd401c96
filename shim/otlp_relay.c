/* SPDX-License-Identifier: MIT */
/* The exit hand-off of the OTLP push. A traced process that pushes listens
 * (from its first child, or its worker's start) on an abstract unix
 * socket named by its uid, pid and push settings; a child hands
 * its last request to it at exit in one local message instead of waiting on
 * the collector (a shell loop's `true` then exits at once), and the parent
 * posts what its children gave it with its own batches. Without a listening
 * parent, the requests are posted here, with retries, within the exit flush.
 * Both ends check the other's credentials (SO_PEERCRED: the parent's pid, our
 * uid). At exit the listener is shut first (later children post themselves),
 * then what was queued on it is taken in: nothing handed over is lost, unless
 * the parent dies without its exit flush (SIGKILL), as its own spans would;
 * children's spans wait RELAY_DELAY_MS at most for that reason. The worker
 * takes the queued children in at its tick (TICK_MS in otlp_http.c), never
 * woken by each; the backlog (SOMAXCONN) holds them in between, and a child
 * that finds it full posts itself. */
#include <errno.h>
#include <stdint.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "config.h"
#include "otlp.h"
#include "sink.h"
#include "thread.h"
#include "worker.h"

#define MAGIC 0x53524c31u		   /* "SRL1" */
#define MSG_MAX (160u * 1024u)		   /* one message; larger ones are posted */
#define HELD_MAX (16u * 1024u * 1024u)	   /* children's requests held, bytes */
#define BATCH_BYTES (1024u * 1024u)	   /* one merged POST */
#define TAKE_MS 100			   /* a child's messages, after its connect */
#define RELAY_DELAY_MS 200 /* children would have posted at once: not 5 s later */
#define MAX_ATTEMPTS 6
#define PREFIX "{\"resourceSpans\":["
#define PREFIX_LEN (sizeof(PREFIX) - 1)

struct head {
	uint32_t magic, nspans;
};

/* one ExportTraceServiceRequest: head, then the JSON body */
struct blob {
	struct blob *next;
	size_t len; /* of data: head + body */
	char data[];
};

static struct {
	pthread_mutex_t mx; /* the list and counters */
	struct blob *head, *tail;
	size_t bytes;
	uint64_t spans; /* held */
	int lfd;     /* the listener, in both fd tables; -1 none */
	int stopped; /* this image listens no more */
	ino_t ino;   /* the listener's: a program that closed it and reused the
		      * number must not see its own fd shut at exit */
	uint64_t next_ns, retry_ns;
	unsigned attempt;
} r = {.mx = PTHREAD_MUTEX_INITIALIZER, .lfd = -1};

static uint32_t spans_of(const struct blob *b)
{
	struct head h;
	memcpy(&h, b->data, sizeof(h));
	return h.nspans;
}

/* The socket name of pid's relay for our uid and push settings. */
static socklen_t relay_addr(pid_t pid, struct sockaddr_un *a)
{
	uint64_t h = 1469598103934665603ull;
	const char *parts[2] = {shim_config.otel.url, shim_config.otel.headers};
	int n;

	for (int i = 0; i < 2; i++)
		for (const char *p = parts[i]; p && *p; p++)
			h = (h ^ (unsigned char)*p) * 1099511628211ull;
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	n = snprintf(a->sun_path + 1, sizeof(a->sun_path) - 1, "shimmer-otlp.%u.%d.%016llx",
		     (unsigned)geteuid(), (int)pid, (unsigned long long)h);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

static int wait_for(int fd, short ev, uint64_t deadline)
{
	struct pollfd p = {.fd = fd, .events = ev};
	uint64_t now = shim_clock_mono_ns();

	if (now >= deadline)
		return -1;
	return poll(&p, 1, (int)((deadline - now + 999999) / 1000000)) == 1 ? 0 : -1;
}

/* Append b; `own`: this process's spans, never refused. */
static void hold(struct blob *b, int own)
{
	pthread_mutex_lock(&r.mx);
	if (!own && r.bytes + b->len > HELD_MAX) {
		pthread_mutex_unlock(&r.mx);
		shim_otlp_lost(spans_of(b), "relay queue full (children's spans)");
		free(b);
		return;
	}
	b->next = NULL;
	if (r.tail)
		r.tail->next = b;
	else
		r.head = b;
	r.tail = b;
	r.bytes += b->len;
	r.spans += spans_of(b);
	pthread_mutex_unlock(&r.mx);
}

/* A child's connection: its messages until EOF, each a head and a body,
 * waiting TAKE_MS at most for each, and never past `until`. */
static void take(int c, uint64_t until)
{
	uint64_t deadline = shim_clock_mono_ns() + TAKE_MS * 1000000ull;
	struct ucred cr;
	socklen_t cl = sizeof(cr);

	if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cr, &cl) != 0 || cr.uid != geteuid())
		return;
	for (;;) {
		ssize_t n = recv(c, NULL, 0, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
		struct blob *b;
		struct head h;
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			if (wait_for(c, POLLIN, deadline < until ? deadline : until) != 0)
				return;
			continue;
		}
		if (n <= 0)
			return;
		b = malloc(sizeof(*b) + (size_t)n);
		if (!b || recv(c, b->data, (size_t)n, MSG_DONTWAIT) != n) {
			free(b);
			return;
		}
		b->len = (size_t)n;
		memcpy(&h, b->data, sizeof(h));
		if ((size_t)n < sizeof(h) + PREFIX_LEN + 2 || h.magic != MAGIC ||
		    memcmp(b->data + sizeof(h), PREFIX, PREFIX_LEN) != 0 ||
		    memcmp(b->data + n - 2, "]}", 2) != 0) {
			free(b);
			continue;
		}
		hold(b, 0);
		deadline = shim_clock_mono_ns() + TAKE_MS * 1000000ull;
	}
}

static void drain(int lfd, uint64_t until)
{
	for (;;) {
		int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (c < 0)
			return;
		take(c, until);
		close(c);
	}
}

/* The listener: before the first child starts (children may exit before the
 * worker starts: the backlog keeps them), or on the worker's start (a fork
 * child's before it unshares its fds); in both, the program's fd table holds
 * it for the exit drain. */
static void relay_listen(void *arg)
{
	struct sockaddr_un a;
	socklen_t al = relay_addr(getpid(), &a);
	struct stat st;
	int fd;

	(void)arg;
	if (__atomic_load_n(&r.lfd, __ATOMIC_ACQUIRE) >= 0 || r.stopped)
		return;
	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return;
	if (bind(fd, (struct sockaddr *)&a, al) != 0 || listen(fd, SOMAXCONN) != 0) {
		close(fd); /* taken: another image of this pid, or a squatter */
		return;
	}
	fd = shim_worker_high_fd(fd);
	if (fstat(fd, &st) != 0) {
		close(fd);
		return;
	}
	r.ino = st.st_ino;
	/* published last: a hook's shim_otlp_relay_expect_child and the
	 * worker's tick read it without a lock */
	__atomic_store_n(&r.lfd, fd, __ATOMIC_RELEASE);
}

/* The push is on: listen once a child may come (shim_otlp_relay_expect_child),
 * or when the worker starts (a long-lived process, a fork child's image). A
 * process that starts none (a shell loop's `true`) never makes the socket:
 * five system calls at its start and three at its exit. */
static int relay_on;

void shim_otlp_relay_init(void)
{
	__atomic_store_n(&relay_on, 1, __ATOMIC_RELAXED);
	shim_worker_on_start_shared(relay_listen, NULL);
}

void shim_otlp_relay_expect_child(void)
{
	int e;

	if (!__atomic_load_n(&relay_on, __ATOMIC_RELAXED) ||
	    __atomic_load_n(&r.lfd, __ATOMIC_RELAXED) >= 0 || r.stopped || shim_tls.internal)
		return;
	e = errno;
	shim_internal_enter();
	/* the backlog holds the children until the worker runs or we exit */
	relay_listen(NULL);
	shim_internal_leave();
	errno = e;
}

/* Render the held requests from the head into one body (up to BATCH_BYTES
 * and OTEL_BSP_MAX_EXPORT_BATCH_SIZE spans, at least one request); returns
 * how many it took. */
static size_t merge(struct shim_sink *body, uint64_t *nspans)
{
	size_t k = 0;

	shim_sink_puts(body, PREFIX);
	*nspans = 0;
	pthread_mutex_lock(&r.mx);
	for (struct blob *b = r.head; b; b = b->next, k++) {
		const char *inner = b->data + sizeof(struct head) + PREFIX_LEN;
		size_t n = b->len - sizeof(struct head) - PREFIX_LEN - 2;
		if (k && (body->len + n > BATCH_BYTES ||
			  *nspans + spans_of(b) > (uint64_t)shim_config.otel.bsp_batch))
			break;
		if (k)
			shim_sink_puts(body, ",");
		shim_sink_write(body, inner, n);
		*nspans += spans_of(b);
	}
	pthread_mutex_unlock(&r.mx);
	shim_sink_puts(body, "]}");
	return k;
}

static void drop_first(size_t k)
{
	pthread_mutex_lock(&r.mx);
	while (k-- && r.head) {
		struct blob *b = r.head;
		r.head = b->next;
		r.bytes -= b->len;
		r.spans -= spans_of(b);
		free(b);
	}
	if (!r.head)
		r.tail = NULL;
	pthread_mutex_unlock(&r.mx);
}

/* One POST of the head of the list: 1 done (delivered or given up), 0 to be
 * retried at r.retry_ns, -1 nothing held. */
static int post_some(long timeout_ms, char *why, size_t wsize)
{
	struct shim_sink body;
	uint64_t nspans;
	long status, ra = -1;
	size_t k;

	shim_sink_init(&body);
	k = merge(&body, &nspans);
	if (!k) {
		shim_sink_free(&body);
		return -1;
	}
	why[0] = '\0';
	if (body.failed) {
		snprintf(why, wsize, "out of memory rendering a batch");
		status = 0;
	} else {
		status = shim_otlp_post(&body, timeout_ms, &ra, why, wsize);
	}
	shim_sink_free(&body);
	if (status >= 200 && status < 300) {
		r.attempt = 0;
	} else if (shim_otlp_retryable(status) && ++r.attempt < MAX_ATTEMPTS) {
		r.retry_ns = shim_clock_mono_ns() + shim_otlp_backoff_ms(r.attempt - 1, ra) * 1000000ull;
		return 0;
	} else {
		char w[160];
		r.attempt = 0;
		if (status)
			snprintf(w, sizeof(w), "HTTP %ld", status);
		else
			snprintf(w, sizeof(w), "%s", why);
		shim_otlp_lost(nspans, w);
	}
	drop_first(k);
	return 1;
}

/* A full batch held (spans or bytes). */
static int full(void)
{
	return r.bytes >= BATCH_BYTES || r.spans >= (uint64_t)shim_config.otel.bsp_batch;
}

void shim_otlp_relay_tick(uint64_t now)
{
	char why[128];
	int lfd = __atomic_load_n(&r.lfd, __ATOMIC_ACQUIRE);

	/* the children that exited since the last tick, queued on the listener:
	 * taken in here, not one wake-up of the worker each (a shell loop's
	 * hundreds of processes a second, on the program's CPUs) */
	if (lfd >= 0)
		drain(lfd, now + TAKE_MS * 1000000ull);
	if (!r.head || now < r.retry_ns || (now < r.next_ns && !full()))
		return;
	while (r.head && post_some(shim_config.otel.timeout_ms, why, sizeof(why)) == 1 && full())
		;
	r.next_ns = shim_clock_mono_ns() + (uint64_t)(shim_config.otel.bsp_delay_ms < RELAY_DELAY_MS
							      ? shim_config.otel.bsp_delay_ms
							      : RELAY_DELAY_MS) *
						  1000000ull;
}

int shim_otlp_relay_hold(const struct shim_sink *body, uint32_t nspans)
{
	struct blob *b;
	struct head h = {MAGIC, nspans};

	if (body->failed || body->len < PREFIX_LEN + 2 ||
	    memcmp(body->buf, PREFIX, PREFIX_LEN) != 0 || memcmp(body->buf + body->len - 2, "]}", 2) != 0)
		return -1;
	b = malloc(sizeof(*b) + sizeof(h) + body->len);
	if (!b)
		return -1;
	b->len = sizeof(h) + body->len;
	memcpy(b->data, &h, sizeof(h));
	memcpy(b->data + sizeof(h), body->buf, body->len);
	hold(b, 1);
	return 0;
}

void shim_otlp_relay_stop(uint64_t deadline)
{
	int fd = r.lfd;
	struct stat st;

	r.stopped = 1;
	if (fd < 0)
		return;
	r.lfd = -1;
	shim_worker_unwatch(fd);
	if (fstat(fd, &st) != 0 || st.st_ino != r.ino || !S_ISSOCK(st.st_mode))
		return; /* the program closed ours; the number is not ours now */
	/* new connections are refused from here on; those queued are ours */
	shutdown(fd, SHUT_RD);
	drain(fd, deadline);
	close(fd);
}

/* Hand everything held to the parent's relay: the blobs it took are gone
 * from the list (theirs now). */
static void hand_up(uint64_t deadline)
{
	struct sockaddr_un a;
	pid_t ppid = getppid();
	socklen_t al = relay_addr(ppid, &a);
	struct ucred cr;
	socklen_t cl = sizeof(cr);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return;
	if (connect(fd, (struct sockaddr *)&a, al) != 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) != 0 || cr.pid != ppid ||
	    cr.uid != geteuid()) {
		close(fd);
		return;
	}
	for (;;) {
		struct blob *b;
		ssize_t w;
		pthread_mutex_lock(&r.mx);
		b = r.head;
		pthread_mutex_unlock(&r.mx);
		if (!b)
			break;
		if (b->len > MSG_MAX)
			break; /* posted here */
		w = send(fd, b->data, b->len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			uint64_t soon = shim_clock_mono_ns() + TAKE_MS * 1000000ull / 2;
			if (wait_for(fd, POLLOUT, soon < deadline ? soon : deadline) != 0)
				break;
			continue;
		}
		if (w != (ssize_t)b->len)
			break;
		drop_first(1);
	}
	close(fd);
}

int shim_otlp_relay_flush(uint64_t deadline)
{
	char why[128];

	r.retry_ns = 0;
	r.attempt = 0;
	hand_up(deadline);
	for (;;) {
		uint64_t now = shim_clock_mono_ns();
		long ms;
		if (!r.head)
			return 0;
		if (now >= deadline)
			return 1;
		if (r.retry_ns >= deadline)
			return 2;
		if (r.retry_ns > now) {
			struct timespec ts = {.tv_sec = (time_t)((r.retry_ns - now) / 1000000000ull),
					      .tv_nsec = (long)((r.retry_ns - now) % 1000000000ull)};
			nanosleep(&ts, NULL);
			continue;
		}
		ms = (long)((deadline - now) / 1000000ull);
		if (ms > shim_config.otel.timeout_ms)
			ms = shim_config.otel.timeout_ms;
		post_some(ms ? ms : 1, why, sizeof(why));
	}
}

uint64_t shim_otlp_relay_give_up(void)
{
	uint64_t n = 0;

	pthread_mutex_lock(&r.mx);
	for (struct blob *b = r.head; b; b = b->next)
		n += spans_of(b);
	pthread_mutex_unlock(&r.mx);
	drop_first((size_t)-1);
	return n;
}

void shim_otlp_relay_fork_child(void)
{
	struct blob *b = r.head;

	pthread_mutex_init(&r.mx, NULL);
	while (b) { /* the parent's to send */
		struct blob *next = b->next;
		free(b);
		b = next;
	}
	r.head = r.tail = NULL;
	r.bytes = 0;
	r.spans = 0;
	if (r.lfd >= 0) { /* the parent's listener */
		shim_worker_unwatch(r.lfd);
		close(r.lfd);
	}
	r.lfd = -1;
	r.stopped = 0;
	r.next_ns = r.retry_ns = 0;
	r.attempt = 0;
}
