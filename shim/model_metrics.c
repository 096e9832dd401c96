/* SPDX-License-Identifier: MIT */
/* The gauges of the model that no hook counts: the service name, the target's
 * open fds by kind (from the fd table), its live threads, and the standard
 * process figures from /proc/self. Export time only (the worker's scrape or a
 * flush); reads files, never touches a hook's state. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "fdtab.h"
#include "heap.h"
#include "model.h"
#include "otlp.h"
#include "profiler.h"
#include "span.h"
#include "worker.h"

/* service.name from OTEL_RESOURCE_ATTRIBUTES ("k=v,k2=v2", values %-encoded
 * per the OpenTelemetry spec); 0 when absent. */
static int attr_service(char *dst, size_t size)
{
	const char *s = getenv("OTEL_RESOURCE_ATTRIBUTES");

	while (s && *s) {
		size_t n = strcspn(s, ",");
		const char *v;
		size_t o = 0;

		while (*s == ' ')
			s++, n--;
		if (n > 13 && strncmp(s, "service.name", 12) == 0 && s[12] == '=') {
			for (v = s + 13; v < s + n && o + 1 < size; v++) {
				unsigned x;
				if (*v == '%' && v + 2 < s + n && sscanf(v + 1, "%2x", &x) == 1) {
					dst[o++] = (char)x;
					v += 2;
				} else {
					dst[o++] = *v;
				}
			}
			dst[o] = '\0';
			while (o && dst[o - 1] == ' ')
				dst[--o] = '\0';
			return o > 0;
		}
		s += n;
		if (*s == ',')
			s++;
	}
	return 0;
}

/* OTEL_SERVICE_NAME, then service.name in OTEL_RESOURCE_ATTRIBUTES, then
 * unknown_service:<exe> (the OpenTelemetry resource spec's order). */
static void service_name(struct shim_model *m)
{
	const char *s = getenv("OTEL_SERVICE_NAME");

	if (s && *s)
		snprintf(m->service, sizeof(m->service), "%s", s);
	else if (!attr_service(m->service, sizeof(m->service)))
		snprintf(m->service, sizeof(m->service), "unknown_service:%.200s", m->exe);
}

/* The target's fds as the fd table knows them (an fd the program has used
 * since we loaded), each checked still open: a close we did not see
 * (close_range, a raw syscall) must not leave a ghost. */
/* Is fd open in the program? Asked of /proc/self/fd (the process's table),
 * not with fcntl: a scrape runs on the worker, whose fd table is its own. */
static int fd_open(int fd)
{
	char path[40];
	struct stat st;

	if (!shim_worker_is_self())
		return syscall(SYS_fcntl, fd, F_GETFD) >= 0;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return fstatat(AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static void fds_by_kind(struct shim_model *m)
{
	_Atomic uint32_t *w = *shim_fd_words;

	if (!w)
		return;
	for (int fd = 0, hi = shim_fd_high_water(); fd < hi; fd++) {
		uint32_t v = __atomic_load_n(&w[fd], __ATOMIC_RELAXED);
		unsigned kind = (v >> 24) & 0x7f;
		if (!(v & SHIM_FD_KNOWN) || kind == SHIM_KIND_NONE || kind >= SHIM_KIND_COUNT ||
		    kind >= sizeof(m->open_fds) / sizeof(m->open_fds[0]))
			continue;
		if (!fd_open(fd))
			continue;
		m->open_fds[kind]++;
	}
}

static int read_small(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n, got = 0;

	if (fd < 0)
		return -1;
	while ((size_t)got + 1 < size && (n = read(fd, buf + got, size - 1 - (size_t)got)) > 0)
		got += n;
	close(fd);
	buf[got] = '\0';
	return got > 0 ? 0 : -1;
}

/* Every open fd of the process. Linux 6.2 and later give the count as the
 * size of /proc/self/fd: one stat instead of an open, two getdents64 and a
 * close (a third of a short process's /proc time). Older kernels say 0 there:
 * the directory listed with getdents64 into a buffer on the stack (opendir
 * would malloc 32 KiB and fstat). */
static uint64_t count_fds(void)
{
	char buf[4096] __attribute__((aligned(8)));
	struct stat st;
	uint64_t n = 0;
	long got;
	int fd;

	if (stat("/proc/self/fd", &st) == 0 && st.st_size > 0)
		return (uint64_t)st.st_size;
	fd = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	while ((got = syscall(SYS_getdents64, fd, buf, sizeof(buf))) > 0)
		for (long off = 0; off < got;) {
			/* struct linux_dirent64: ino 8, off 8, reclen 2, type 1, name */
			unsigned short reclen;
			memcpy(&reclen, buf + off + 16, sizeof(reclen));
			n += buf[off + 19] != '.';
			off += reclen ? reclen : got;
		}
	close(fd);
	return n ? n - 1 : 0; /* the directory's own fd */
}

/* The boot time, seconds since the epoch: what "btime" in /proc/stat says
 * (the kernel's realtime minus boottime offset, whole seconds), from the two
 * clocks rather than by reading /proc/stat (every CPU's counters); boottime
 * read on both sides of realtime so the two instants cancel. 0 unknown. */
static double boot_time(void)
{
	struct timespec b0, r, b1;
	int64_t real, boot;

	if (clock_gettime(CLOCK_BOOTTIME, &b0) != 0 || clock_gettime(CLOCK_REALTIME, &r) != 0 ||
	    clock_gettime(CLOCK_BOOTTIME, &b1) != 0)
		return 0;
	real = (int64_t)r.tv_sec * 1000000000 + r.tv_nsec;
	boot = ((int64_t)b0.tv_sec * 1000000000 + b0.tv_nsec +
		(int64_t)b1.tv_sec * 1000000000 + b1.tv_nsec) / 2;
	return real > boot ? (double)((real - boot) / 1000000000) : 0;
}

/* /proc/self/stat after the command name (which may hold spaces and ')'):
 * field 3 (state) onwards. utime 14, stime 15, num_threads 20, starttime 22,
 * vsize 23, rss 24 (proc(5)). */
static void proc_figures(struct shim_model *m)
{
	char buf[1024], *p;
	unsigned long long f[25] = {0};
	double tck = (double)sysconf(_SC_CLK_TCK);
	long page = sysconf(_SC_PAGESIZE);
	struct rlimit rl;
	int i, before, after = 0, tries = 0;

	/* the worker (not a thread of the program's) may be ending while we
	 * read: take a count it was in or out of for the whole read */
	do {
		before = shim_worker_alive();
		if (read_small("/proc/self/stat", buf, sizeof(buf)) != 0)
			return;
		after = shim_worker_alive();
	} while (before != after && ++tries < 3);
	if (!(p = strrchr(buf, ')')))
		return;
	p += 2;
	for (i = 3; i <= 24 && *p; i++) {
		char *end;
		if (i == 3) {
			p += strcspn(p, " ");
		} else {
			f[i] = strtoull(p, &end, 10);
			p = end;
		}
		while (*p == ' ')
			p++;
	}
	if (i <= 24 || tck <= 0)
		return;
	m->proc.cpu_seconds = (double)(f[14] + f[15]) / tck;
	m->proc.vm_bytes = f[23];
	m->proc.rss_bytes = f[24] * (uint64_t)(page > 0 ? page : 4096);
	m->threads_live = f[20] - (f[20] && after); /* not ours */
	m->proc.start_unix = boot_time();
	if (m->proc.start_unix > 0)
		m->proc.start_unix += (double)f[22] / tck;
	m->proc.open_fds = count_fds();
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0)
		m->proc.max_fds = rl.rlim_cur == RLIM_INFINITY ? 0 : (uint64_t)rl.rlim_cur;
	m->proc.known = 1;
}

static void add_prof(const struct shim_prof_view *v, void *arg)
{
	struct shim_model *m = arg;
	m->samples += v->samples;
	m->samples_dropped += v->dropped;
}

void shim_model_build_metrics(struct shim_model *m)
{
	/* the counts-only build skips the CPU part: the sample counters still
	 * belong in every scrape, so the series do not come and go */
	if (!m->hz && shim_profiler_hz()) {
		m->hz = shim_profiler_hz();
		shim_profiler_foreach(add_prof, m);
	}
	/* likewise the span drop counters (the trace part is not built then) */
	if (!m->trace.dropped)
		m->trace.dropped = shim_span_dropped();
	if (!m->trace.export_dropped) {
		char why[160];
		m->trace.export_dropped = shim_otlp_dropped(why, sizeof(why));
	}
	if (shim_config.heap_sample > 0) {
		struct shim_heap_stats hs;
		m->heap_live.known = 1;
		/* no sample, nothing live: and the stats walk every stack slot
		 * (hundreds of KiB of untouched pages for a short process) */
		if (shim_heap_samples()) {
			shim_heap_stats(&hs);
			m->heap_live.live_bytes = hs.live_bytes;
			m->heap_live.peak_bytes = hs.peak_bytes;
		}
	}
	service_name(m);
	fds_by_kind(m);
	proc_figures(m);
}
