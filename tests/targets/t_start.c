/* SPDX-License-Identifier: MIT */
/* Process start: spins argv[1] seconds of its own CPU time in spin() (0: none),
 * allocates argv[2] KiB in 1 KiB blocks in churn() (each freed at once; 0:
 * none), then prints whether libunwind is mapped, read from /proc/self/maps
 * with open/read into static memory: by default it allocates nothing at all. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char maps[1 << 20];
static volatile unsigned long sink;

static double cpu_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

void spin(double secs)
{
	double end = cpu_now() + secs;
	while (cpu_now() < end)
		for (int i = 0; i < 100000; i++)
			sink += (unsigned long)i;
}

void churn(long kib)
{
	for (long i = 0; i < kib; i++) {
		char *p = malloc(1024);
		if (!p)
			exit(2);
		p[0] = (char)i;
		sink += (unsigned long)p[0];
		free(p);
	}
}

int main(int argc, char **argv)
{
	size_t n = 0;
	ssize_t r;
	int fd;
	const char *say;

	if (argc > 1)
		spin(strtod(argv[1], NULL));
	if (argc > 2)
		churn(strtol(argv[2], NULL, 10));
	fd = open("/proc/self/maps", O_RDONLY);
	if (fd < 0)
		return 1;
	while (n < sizeof(maps) - 1 && (r = read(fd, maps + n, sizeof(maps) - 1 - n)) > 0)
		n += (size_t)r;
	close(fd);
	maps[n] = '\0';
	say = strstr(maps, "/libunwind.so") ? "libunwind: mapped\n" : "libunwind: not mapped\n";
	return write(1, say, strlen(say)) < 0;
}
