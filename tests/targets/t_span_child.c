/* SPDX-License-Identifier: MIT */
/* Prints "<how> <TRACEPARENT> <LD_PRELOAD set: 0/1>" for t_span_exec. */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	const char *tp = getenv("TRACEPARENT");
	printf("%s %s %d\n", argc > 1 ? argv[1] : "?", tp ? tp : "-", getenv("LD_PRELOAD") != NULL);
	return 0;
}
