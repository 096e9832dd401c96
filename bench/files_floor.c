/* SPDX-License-Identifier: MIT */
/* A second floor for bench/run.py's shell loop: a preload that hooks nothing
 * and, at its process's exit, only makes the run folder and writes the six
 * files a short process leaves (profile.txt, profile.pstats, traces.otlp.json,
 * trace.chrome.json, events.ndjson, metrics.prom) at the sizes Shimmer's are
 * for /bin/true, with the same system calls Shimmer makes (mkdir, an open of
 * the folder, then openat O_EXCL|O_NOFOLLOW, one write and a close a file).
 * What it costs is what the output contract alone costs a short process,
 * before any counting, model or formatting. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
	const char *name;
	size_t size;
} files[] = {
	{"profile.txt", 360},	     {"profile.pstats", 92}, {"traces.otlp.json", 1400},
	{"trace.chrome.json", 615}, {"events.ndjson", 800}, {"metrics.prom", 4800},
};

static char text[4800];

__attribute__((destructor)) static void write_outputs(void)
{
	const char *out = getenv("SHIMMER_OUT");
	char dir[4096];
	int dfd;

	if (!out || !*out)
		out = "./shimmer-out";
	if (snprintf(dir, sizeof(dir), "%s/%s.%d", out, program_invocation_short_name,
		     (int)getpid()) >= (int)sizeof(dir))
		return;
	if (mkdir(dir, 0700) != 0 && (errno != ENOENT || mkdir(out, 0700) != 0 ||
				      mkdir(dir, 0700) != 0))
		return;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return;
	memset(text, 'x', sizeof(text));
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		int fd = openat(dfd, files[i].name,
				O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			continue;
		if (write(fd, text, files[i].size) < 0)
			perror("files_floor");
		close(fd);
	}
	close(dfd);
}
