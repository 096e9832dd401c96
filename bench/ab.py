#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Interleaved A/B of preloads on one workload: each round runs the program
once under every variant, in an order that rotates from round to round, and
the figure is the median over rounds of each variant's ratio to the first
variant's run of the same round (and its added ns per op). On a shared
machine a build's few percent drowns in a whole `make bench` run's swings;
taking turns round by round, the drift moves every variant alike.

  python3 bench/ab.py [--rounds N] -- PROGRAM ARGS... -- NAME=PRELOAD[:VAR=VALUE,...] ...

PRELOAD is a path, or - for none. Example, the heap workload bare, under the
forwarding floor and under two builds:

  python3 bench/ab.py --rounds 61 -- build/bench/b_heap2 2000000 -- native=- \\
      floor=build/bench/forward.so new=build/libshimmer.so old=/tmp/old/libshimmer.so

The program prints "<ns per op> <ops>" (every bench/b_* workload does).
SHIMMER_OUT goes to a scratch folder on tmpfs, emptied after each run.
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

RESULT = re.compile(r"^([\d.]+) (\d+)$", re.M)


def parse_variant(text):
    name, _, rest = text.partition("=")
    preload, _, envs = rest.partition(":")
    env = {}
    for kv in filter(None, envs.split(",")):
        k, _, v = kv.partition("=")
        env[k] = v
    if not name or not preload:
        sys.exit("ab: a variant is NAME=PRELOAD[:VAR=VALUE,...], not %r" % text)
    return name, preload, env


def main():
    argv = sys.argv[1:]
    if argv.count("--") < 2:
        sys.exit(__doc__)
    first = argv.index("--")
    second = argv.index("--", first + 1)
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=41)
    args = ap.parse_args(argv[:first])
    cmd = argv[first + 1:second]
    variants = [parse_variant(v) for v in argv[second + 1:]]
    if not cmd or len(variants) < 2:
        sys.exit(__doc__)
    scratch = tempfile.mkdtemp(prefix="shimmer-ab-",
                               dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    out = os.path.join(scratch, "out")
    res = {name: [] for name, _, _ in variants}
    try:
        for r in range(args.rounds):
            order = variants[r % len(variants):] + variants[:r % len(variants)]
            for name, preload, extra in order:
                env = {k: v for k, v in os.environ.items()
                       if not k.startswith("SHIMMER_") and k != "LD_PRELOAD"}
                env.update(extra)
                env["SHIMMER_OUT"] = out
                if preload != "-":
                    env["LD_PRELOAD"] = preload
                p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
                m = RESULT.findall(p.stdout)
                if p.returncode != 0 or not m:
                    sys.exit("ab: %s under %s exited %d:\n%s%s" % (
                        " ".join(cmd), name, p.returncode, p.stdout, p.stderr))
                res[name].append(float(m[-1][0]))
                shutil.rmtree(out, ignore_errors=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    base = variants[0][0]
    print("%s, %d rounds; ratio and added: medians over rounds against %s" % (
        " ".join(cmd), args.rounds, base))
    print("%-12s %12s %9s %12s %17s %14s" % (
        "variant", "ns per op", "ratio", "added", "middle half", "fastest/fastest"))
    for name, _, _ in variants:
        rat = sorted(x / b for x, b in zip(res[name], res[base]))
        add = statistics.median(x - b for x, b in zip(res[name], res[base]))
        q = statistics.quantiles(rat, n=4) if len(rat) >= 4 else [rat[0], 0, rat[-1]]
        print("%-12s %12.3f %8.4fx %+11.2f %8.3fx-%.3fx %13.4fx" % (
            name, statistics.median(res[name]), statistics.median(rat), add, q[0], q[2],
            min(res[name]) / min(res[base])))


if __name__ == "__main__":
    main()
