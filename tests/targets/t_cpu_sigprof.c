/* SPDX-License-Identifier: MIT */
/* A program with its own SIGPROF profiler: installs a handler (sigaction, or
 * signal() with argv[1] = "signal"), arms ITIMER_PROF and burns CPU; prints
 * whether its handler ran. Under Shimmer the handler must keep working. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

static volatile sig_atomic_t ticks;
static volatile unsigned long sink;

static void on_prof(int sig)
{
	(void)sig;
	ticks++;
}

__attribute__((noinline)) void burn(void)
{
	for (long i = 0; i < 150000000 && ticks < 20; i++)
		sink += (unsigned long)i;
}

int main(int argc, char **argv)
{
	struct itimerval it = {{0, 10000}, {0, 10000}};

	if (argc > 1 && strcmp(argv[1], "signal") == 0) {
		if (signal(SIGPROF, on_prof) == SIG_ERR)
			return 1;
	} else {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_prof;
		sigemptyset(&sa.sa_mask);
		sa.sa_flags = SA_RESTART;
		if (sigaction(SIGPROF, &sa, NULL) != 0)
			return 1;
	}
	setitimer(ITIMER_PROF, &it, NULL);
	burn();
	it.it_value.tv_usec = it.it_interval.tv_usec = 0;
	setitimer(ITIMER_PROF, &it, NULL);
	printf("own SIGPROF handler ran: %s\n", ticks >= 20 ? "yes" : "no");
	return 0;
}
