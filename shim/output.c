/* SPDX-License-Identifier: MIT */
/* Writing the outputs of one process image. Runs at exit, _exit, exec, in the
 * fork child at its own exit, and on the worker (SHIMMER_FLUSH_SECS, a dump
 * request); never from a hook's hot path. Files are created 0600 with
 * O_EXCL|O_NOFOLLOW. A worker flush, and any rewrite of a file written before,
 * goes through a temporary name renamed into place, so a reader of a running
 * process never sees half a file and a re-flush replaces cleanly; the last
 * flush (the process is ending) writes a file new to the folder directly
 * under its name. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../export/export.h"
#include "config.h"
#include "log.h"
#include "model.h"
#include "output.h"
#include "profiler.h"
#include "sink.h"
#include "worker.h"
#include "zone.h"

struct writer {
	unsigned fmt; /* enum shim_format: the SHIMMER_FORMATS bit */
	const char *file;
	int (*render)(const struct shim_model *, struct shim_sink *);
	int needs; /* ALWAYS, or only when the process took CPU / heap samples */
};

enum { ALWAYS, CPU, HEAP };

static const struct writer writers[] = {
	{SHIM_FMT_TABLE, "profile.txt", shim_export_table, ALWAYS},
	{SHIM_FMT_PSTATS, "profile.pstats", shim_export_pstats, ALWAYS},
	{SHIM_FMT_FOLDED, "cpu.folded", shim_export_folded, CPU},
	{SHIM_FMT_FLAMEGRAPH, "flamegraph.svg", shim_export_flamegraph, CPU},
	{SHIM_FMT_SPEEDSCOPE, "profile.speedscope.json", shim_export_speedscope, CPU},
	{SHIM_FMT_PPROF, "cpu.pb.gz", shim_export_pprof, CPU},
	{SHIM_FMT_OTLP, "traces.otlp.json", shim_export_otlp, ALWAYS},
	{SHIM_FMT_CHROME, "trace.chrome.json", shim_export_chrome, ALWAYS},
	{SHIM_FMT_NDJSON, "events.ndjson", shim_export_ndjson, ALWAYS},
	{SHIM_FMT_METRICS, "metrics.prom", shim_export_prom, ALWAYS},
	{SHIM_FMT_PPROF, "heap.pb.gz", shim_export_pprof_heap, HEAP},
	{SHIM_FMT_FOLDED, "heap.folded", shim_export_folded_heap, HEAP},
	{SHIM_FMT_FLAMEGRAPH, "heap-flamegraph.svg", shim_export_flamegraph_heap, HEAP},
};

static char run_dir[PATH_MAX] SHIM_BIG;
/* run_dir holds this image's folder: asked here, not of run_dir[0], so the
 * page's first touch is the write (a read first faults it in twice) */
static int have_dir;
static int warned_dir, warned_write;
static unsigned written; /* bit per writers[] entry: in run_dir already */
/* one flush at a time: the temp names are per pid, and the run folder is made
 * once; never taken by a hook */
static pthread_mutex_t flush_lock = PTHREAD_MUTEX_INITIALIZER;
static int fork_held; /* the forking thread took flush_lock in prepare */

void shim_output_fork_prepare(void)
{
	struct timespec ts;

	/* bounded: a fork from a signal handler that interrupted this thread's
	 * own flush must not hang; the child re-initializes the lock anyway */
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 5;
	fork_held = pthread_mutex_timedlock(&flush_lock, &ts) == 0;
}

void shim_output_fork_parent(void)
{
	if (fork_held)
		pthread_mutex_unlock(&flush_lock);
	fork_held = 0;
}

void shim_output_fork_child(void)
{
	pthread_mutex_init(&flush_lock, NULL);
	fork_held = 0;
	if (have_dir)
		run_dir[0] = '\0';
	have_dir = 0;
	warned_dir = warned_write = 0;
	written = 0;
}

const char *shim_output_dir(void)
{
	return run_dir;
}

/* mkdir -p for the base folder; 0700: outputs can name files and peers. */
static int make_base(const char *path)
{
	char tmp[PATH_MAX];
	size_t n = strlen(path);

	if (n >= sizeof(tmp))
		return -1;
	memcpy(tmp, path, n + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
		return -1;
	return 0;
}

static void safe_name(char *dst, size_t size, const char *src)
{
	size_t i;
	for (i = 0; src[i] && i + 1 < size; i++)
		dst[i] = (src[i] == '/' || (i == 0 && src[i] == '.')) ? '_' : src[i];
	dst[i] = '\0';
	if (!dst[0] && size > 4)
		memcpy(dst, "prog", 5);
}

/* The image's own folder: <exe>.<pid>, or <exe>.<pid>.N when an earlier image
 * of this pid (before an exec) took that name. */
static int make_run_dir(void)
{
	char exe[128];
	int pid = getpid();

	if (have_dir)
		return 0;
	safe_name(exe, sizeof(exe), program_invocation_short_name);
	written = 0;
	for (int n = 1, based = 0; n < 100; n++) {
		int len = n == 1 ? snprintf(run_dir, sizeof(run_dir), "%s/%s.%d", shim_config.out,
					    exe, pid)
				 : snprintf(run_dir, sizeof(run_dir), "%s/%s.%d.%d",
					    shim_config.out, exe, pid, n);
		if (len < 0 || (size_t)len >= sizeof(run_dir))
			break;
		if (mkdir(run_dir, 0700) == 0) {
			have_dir = 1;
			return 0;
		}
		/* the base folder is made (mkdir -p) only when it is missing:
		 * most runs find it there, one mkdir for the whole path */
		if (errno == ENOENT && !based++) {
			if (make_base(shim_config.out) != 0)
				goto fail;
			n--;
			continue;
		}
		if (errno != EEXIST)
			break;
	}
fail:
	if (!warned_dir++)
		shim_err("cannot create an output folder in %s: %s; no outputs for this process",
			 shim_config.out, strerror(errno));
	run_dir[0] = '\0';
	have_dir = 0;
	return -1;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* A program that closed its stdin/stdout/stderr at exit (coreutils close
 * them in an atexit handler) would hand those numbers to our files, and a
 * "shimmer: " line for fd 2 would land in an output file: keep ours above. */
static int low_fd_away(int fd)
{
	return fd >= 0 && fd <= 2 ? shim_worker_high_fd(fd) : fd;
}

/* Write s to name in the run folder. direct: create name itself (O_EXCL; a
 * half-written file is removed); else, or when name exists, a temporary file
 * renamed over it. */
static int write_file(int dirfd, const char *name, const struct shim_sink *s, int direct)
{
	char tmp[NAME_MAX + 1];
	const char *path = name;
	int fd, saved;

	fd = direct ? openat(dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			     0600)
		    : -1;
	if (fd < 0 && (!direct || errno == EEXIST)) {
		direct = 0;
		path = tmp;
		snprintf(tmp, sizeof(tmp), ".%s.%d.tmp", name, getpid());
		fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			    0600);
	}
	if (fd < 0)
		goto fail;
	fd = low_fd_away(fd);
	if (write_all(fd, s->buf ? s->buf : "", s->len) != 0) {
		saved = errno;
		close(fd);
		errno = saved;
		goto fail_unlink;
	}
	if (close(fd) != 0)
		goto fail_unlink;
	if (!direct && renameat(dirfd, tmp, dirfd, name) != 0)
		goto fail_unlink;
	return 0;
fail_unlink:
	saved = errno;
	unlinkat(dirfd, path, 0);
	errno = saved;
fail:
	if (!warned_write++)
		shim_err("cannot write %s/%s: %s", run_dir, name, strerror(errno));
	return -1;
}

int shim_output_make_dir(void)
{
	int rc;

	pthread_mutex_lock(&flush_lock);
	rc = make_run_dir();
	pthread_mutex_unlock(&flush_lock);
	return rc;
}

static int flush_locked(void)
{
	struct shim_model m;
	int dirfd, rc = 0;
	/* every flush but the last runs on the worker (periodic, dump), while
	 * readers may look; the last one, as the process ends, creates the
	 * files it writes for the first time in place (a rename less each) */
	int last = !shim_worker_is_self();

	if (make_run_dir() != 0)
		return -1;
	if (shim_model_build(&m) != 0) {
		shim_err("out of memory building the profile model; no outputs");
		return -1;
	}
	dirfd = low_fd_away(open(run_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC));
	if (dirfd < 0) {
		if (!warned_dir++)
			shim_err("cannot open %s: %s", run_dir, strerror(errno));
		shim_model_free(&m);
		return -1;
	}
	for (size_t i = 0; i < sizeof(writers) / sizeof(writers[0]); i++) {
		struct shim_sink s;
		/* most processes of a build live a few ms and take no sample: four
		 * empty CPU views would cost them more file system work than the
		 * rest of their exit together */
		if (!(shim_config.formats & (1u << writers[i].fmt)) ||
		    (writers[i].needs == CPU && !m.samples) || (writers[i].needs == HEAP && !m.heap.samples))
			continue;
		shim_sink_init(&s);
		if (writers[i].render(&m, &s) != 0 || s.failed) {
			shim_err("cannot render %s%s", writers[i].file,
				 s.failed ? ": out of memory" : "");
			rc = -1;
		} else if (write_file(dirfd, writers[i].file, &s, last && !(written & 1u << i)) != 0) {
			rc = -1;
		} else {
			written |= 1u << i;
		}
		shim_sink_free(&s);
	}
	close(dirfd);
	shim_model_free(&m);
	if (rc == 0)
		shim_info("outputs in %s", run_dir);
	return rc;
}

int shim_output_flush(void)
{
	int rc;

	shim_profiler_catch_up(); /* early CPU samples waiting for libunwind */
	pthread_mutex_lock(&flush_lock);
	rc = flush_locked();
	pthread_mutex_unlock(&flush_lock);
	return rc;
}
