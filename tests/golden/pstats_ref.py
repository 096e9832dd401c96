#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The reference for profile.txt's first two sections: feed the same numbers
to CPython's own pstats (print_stats, then print_callers, sorted by cumulative
time) and print what it prints. Input on stdin, tab-separated, one a line:
  F <module> <function> <calls> <seconds>        an intercepted function
  C <file> <line> <function> <calls> <seconds>   a caller of the F above it
Used by tests/unit/test_table.c."""
import io
import pstats
import sys


class Fake:
    """What pstats.Stats accepts besides a file: an object with create_stats."""

    def __init__(self, stats):
        self.stats = stats

    def create_stats(self):
        pass


def main():
    stats = {}
    key = None
    for line in sys.stdin.read().splitlines():
        f = line.split("\t")
        if f[0] == "F":
            key = (f[1], 0, f[2])
            n, s = int(f[3]), float(f[4])
            stats[key] = (n, n, s, s, {})
        elif f[0] == "C":
            n, s = int(f[4]), float(f[5])
            stats[key][4][(f[1], int(f[2]), f[3])] = (n, n, s, s)
    out = io.StringIO()
    st = pstats.Stats(Fake(stats), stream=out)
    st.sort_stats("cumulative").print_stats().print_callers()
    sys.stdout.write(out.getvalue())


main()
