#!/usr/bin/env python3
"""Instructions per op of a workload, native, under the forwarding floor and
under Shimmer, counted by valgrind's cachegrind: the same every run, so a
change to a hook's fast path shows here by the instruction where a timing on
this shared machine would drown it in noise. Each variant runs at two
iteration counts and the difference is divided by the difference in ops, so
the start, the threads' creation and Shimmer's exit-time export drop out.

  python3 bench/instr.py [--workload b_heap2|b_malloc|b_write] [--iters LO,HI]

SHIMMER_BUILD names the build folder (default build). The CPU profiler is
off (SHIMMER_HZ=0): under valgrind a program runs ~50 times slower, so its
timer would fire ~50 times as often as in a real run.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

BUILD = os.environ.get("SHIMMER_BUILD", "build")
REFS = re.compile(r"I\s+refs:\s+([\d,]+)")
RESULT = re.compile(r"^([\d.]+) (\d+)$", re.M)

VARIANTS = [
    ("native", None, {}),
    ("forwarding floor", "bench/forward.so", {}),
    ("shimmer, no heap samples", "libshimmer.so", {"SHIMMER_HEAP_SAMPLE": "0"}),
    ("shimmer, defaults", "libshimmer.so", {}),
]


# ops a workload makes per iteration it is given: b_heap2 runs 3 passes of 2
# threads; b_malloc and b_write split their iterations into batches
OPS_PER_ITER = {"b_heap2": 6, "b_malloc": 1, "b_write": 1}
# Iteration counts: both long enough that the export of each run reads the
# same debug files (past SYM_DEBUG_FILES_SECONDS of run time also separate
# ones), or their difference would count that reading as the ops' work.
ITERS = {"b_heap2": "100000,300000", "b_malloc": "3000000,9000000",
         "b_write": "1000000,3000000"}


def count(argv, preload, extra, out):
    """Instructions of one run of argv under cachegrind."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("SHIMMER_") and k != "LD_PRELOAD"}
    env.update({"SHIMMER_OUT": out, "SHIMMER_HZ": "0"}, **extra)
    if preload:
        env["LD_PRELOAD"] = os.path.join(BUILD, preload)
    p = subprocess.run(["valgrind", "--tool=cachegrind", "--cache-sim=no",
                        "--cachegrind-out-file=/dev/null"] + argv,
                       env=env, capture_output=True, text=True, timeout=1800)
    refs, res = REFS.search(p.stderr), RESULT.search(p.stdout)
    if p.returncode != 0 or not refs or not res:
        sys.exit("instr: %s exited %d:\n%s%s" % (" ".join(argv), p.returncode, p.stdout,
                                                 p.stderr[-2000:]))
    return int(refs.group(1).replace(",", ""))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workload", default="b_heap2", choices=sorted(OPS_PER_ITER))
    ap.add_argument("--iters", help="two iteration counts, lo,hi (default: per workload)")
    args = ap.parse_args()
    lo, hi = (int(x) for x in (args.iters or ITERS[args.workload]).split(","))
    prog = os.path.join(BUILD, "bench", args.workload)
    for f in [prog] + [os.path.join(BUILD, v[1]) for v in VARIANTS if v[1]]:
        if not os.path.exists(f):
            sys.exit("instr: %s missing: run make bench-build" % f)
    print("command: SHIMMER_BUILD=%s python3 bench/instr.py --workload %s --iters %d,%d" % (
        BUILD, args.workload, lo, hi))
    print("%-26s %14s %10s" % ("variant", "instr. / op", "added"))
    base = None
    with tempfile.TemporaryDirectory(prefix="shimmer-instr-", dir="/dev/shm"
                                     if os.path.isdir("/dev/shm") else None) as out:
        for name, preload, extra in VARIANTS:
            i0 = count([prog, str(lo)], preload, extra, out)
            i1 = count([prog, str(hi)], preload, extra, out)
            per = (i1 - i0) / ((hi - lo) * OPS_PER_ITER[args.workload])
            base = per if base is None else base
            print("%-26s %14.1f %+10.1f" % (name, per, per - base))
            sys.stdout.flush()


if __name__ == "__main__":
    main()
