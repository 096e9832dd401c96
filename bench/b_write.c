/* SPDX-License-Identifier: MIT */
/* Workload (b): write(2) of 1 byte to /dev/null. Prints ns per write (best of
 * BENCH_BATCHES batches). */
#include <fcntl.h>
#include <unistd.h>

#include "bench.h"

int main(int argc, char **argv)
{
	long n = bench_iters(argc, argv, 3000000) / BENCH_BATCHES;
	int fd = open("/dev/null", O_WRONLY);
	double best = 1e300;

	if (fd < 0)
		return 1;
	for (long i = 0; i < 10000; i++)
		if (write(fd, "x", 1) != 1)
			return 1;
	for (int k = 0; k < BENCH_BATCHES; k++) {
		double t0 = bench_now(), t;
		for (long i = 0; i < n; i++)
			if (write(fd, "x", 1) != 1)
				return 1;
		t = bench_now() - t0;
		best = t < best ? t : best;
	}
	bench_report(best, n);
	close(fd);
	return 0;
}
