#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Overhead of libshimmer.so, measured: every workload runs bare, under the
shim and under a forwarding-only preload (the floor: what interposition costs
before any counting), alternately, for several rounds in one run. Each
workload times itself and prints "<ns per op> <ops>"; this prints the median
per-round ratio and added ns per op next to the target. Then heap profiling
side by side on the multi-threaded allocation workload: native, the shim with
default heap sampling, the shim sampling every allocation, and heaptrack, with
each run's peak RSS (wait4). Never a test: timings on a shared machine are
noisy, so a MISS is a number to look at, not a failure (exit status 0 unless a
workload itself fails). bench/profbench.py adds the CPU profiler side by side
with gperftools (p), the export speed (x) and tracing with the OTLP push (t)."""
import argparse
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile

import profbench

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.environ.get("SHIMMER_BUILD") or os.path.join(HERE, "..", "build")
LIB = os.path.join(BUILD, "libshimmer.so")
FWD = os.path.join(BUILD, "bench", "forward.so")
TIMED = os.path.join(BUILD, "bench", "forward_timed.so")
BIN = os.path.join(BUILD, "bench")
RESULT = re.compile(r"^([\d.]+) (\d+)$")

# name, program + args ({tmp} is a scratch folder), what the target bounds, bound,
# where SHIMMER_OUT is, and runs of each variant a round (a short workload whose
# ratio is near its bound gets more, so its median rests on more pairs). Kind "ns": added ns per op; "ratio": shim/native; "ms":
# added ms per op; None: shown for reference. Outputs go to tmpfs (/dev/shm) so
# the figure is the shim's own cost, not the disk's; f2 shows the disk's share.
# The file I/O workload works in a tmpfs folder ({shm}) for the same reason.
WORKLOADS = [
    ("a malloc+free pair", ["b_malloc", "20000000"], "ns", 5.0, "shm", 1),
    ("b write 1B /dev/null", ["b_write", "2000000"], "ns", 30.0, "shm", 1),
    ("c 2-thread heap", ["b_heap2", "2000000"], "ratio", 1.05, "shm", 3),
    ("d file I/O 64MiB+20k", ["b_fileio", "20000", "{shm}"], "ratio", 1.05, "shm", 1),
    ("e tcp rr 100k", ["b_tcp", "100000"], "ratio", 1.05, "shm", 1),
    ("f start /bin/true", ["b_spawn", "{spawns}", "{preload}", "/bin/true"], "ms", 0.5, "shm", 1),
    ("f2 same, out on disk", ["b_spawn", "{spawns}", "{preload}", "/bin/true"], None, 0, "disk",
     1),
]
VARIANTS = ("native", "shim", "forward")
# The workloads of timed calls also run under the timed floor: the forwarding
# preload plus two TSC reads and a per-thread sum a call (bench/forward.c,
# -DTIMED), the least a tool that times every call exactly pays here.
TIMED_WORKLOADS = ("b", "d", "e")
PRELOADS = {"native": "-", "shim": LIB, "forward": FWD, "timed": TIMED}


def variants_of(name):
    return VARIANTS + ("timed",) if name[0] in TIMED_WORKLOADS else VARIANTS

# Heap profiling side by side: the 2-thread heap workload (c), fewer iterations
# (every-allocation mode and heaptrack unwind each call). Targets: default
# sampling <= 1.10x native, every allocation faster than heaptrack, peak RSS
# added by the shim at defaults <= 32 MiB.
HEAP_ARGV = ["b_heap2", "1000000"]
HEAP_VARIANTS = ("native", "default", "every", "heaptrack")
HEAP_NAMES = {"native": "native", "default": "shimmer, default sampling",
              "every": "shimmer, every allocation", "heaptrack": "heaptrack"}
HEAP_RATIO = 1.10
HEAP_RSS_MIB = 32


def env_for(variant, out):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("SHIMMER_") and k != "LD_PRELOAD"}
    env["SHIMMER_OUT"] = out
    if variant != "native":
        env["LD_PRELOAD"] = PRELOADS[variant]
    return env


def parse(text, what):
    for line in reversed(text.splitlines()):
        m = RESULT.match(line.strip())
        if m:
            return float(m.group(1))
    raise RuntimeError("%s printed no result:\n%s" % (what, text))


def run_spawns(argv, tmp, spawns, out):
    """{variant: ns per start} of one b_spawn run that takes the variants in
    turn, start by start (bench/b_spawn.c), SHIMMER_OUT=out."""
    args = [a.format(tmp=tmp, shm=os.path.dirname(out), spawns=spawns,
                     preload=",".join(PRELOADS[v] for v in VARIANTS)) for a in argv]
    cmd = [os.path.join(BIN, args[0])] + args[1:]
    p = subprocess.run(cmd, env=env_for("native", out), cwd=tmp, capture_output=True,
                       text=True, timeout=600)
    lines = [RESULT.match(l.strip()) for l in p.stdout.splitlines()]
    lines = [float(m.group(1)) for m in lines if m]
    if p.returncode != 0 or len(lines) != len(VARIANTS):
        raise RuntimeError("%s exited %d:\n%s%s" % (" ".join(cmd), p.returncode, p.stdout,
                                                     p.stderr))
    return dict(zip(VARIANTS, lines))


def run_one(argv, variant, tmp, spawns, out, wrapper=None):
    """ns per op of one run of argv under variant, SHIMMER_OUT=out."""
    preload = PRELOADS[variant]
    shm = os.path.dirname(out)
    args = [a.format(tmp=tmp, shm=shm, spawns=spawns, preload=preload) for a in argv]
    cmd = [os.path.join(BIN, args[0])] + args[1:]
    if args[0] == "b_spawn":
        # the driver runs bare; only the spawned program gets the preload
        env = env_for("native", out)
    else:
        env = env_for(variant if not wrapper else "native", out)
    if wrapper:
        cmd = wrapper + cmd
    p = subprocess.run(cmd, env=env, cwd=tmp, capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise RuntimeError("%s (%s) exited %d:\n%s%s" % (" ".join(cmd), variant, p.returncode,
                                                        p.stdout, p.stderr))
    return parse(p.stdout, " ".join(cmd))


def run_rss(cmd, env, cwd):
    """(stdout, peak RSS in KiB) of cmd, run under bench/b_rss.c: ru_maxrss from
    wait4 (the program and the children it waited for, e.g. heaptrack's)."""
    p = subprocess.run([os.path.join(BIN, "b_rss")] + cmd, env=env, cwd=cwd,
                       capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise RuntimeError("%s exited %d:\n%s%s" % (" ".join(cmd), p.returncode, p.stdout,
                                                   p.stderr))
    m = re.search(r"^peak_rss_kib (\d+)$", p.stdout, re.M)
    if not m:
        raise RuntimeError("b_rss printed no peak RSS:\n" + p.stdout)
    return p.stdout, int(m.group(1))


def run_heap_variant(variant, tmp, out):
    """(ns per op, peak RSS KiB) of the heap workload under one variant."""
    cmd = [os.path.join(BIN, HEAP_ARGV[0])] + HEAP_ARGV[1:]
    env = env_for("native" if variant in ("native", "heaptrack") else "shim", out)
    if variant == "every":
        env["SHIMMER_HEAP_SAMPLE"] = "1"
    if variant == "heaptrack":
        cmd = [shutil.which("heaptrack"), "-o", os.path.join(tmp, "ht")] + cmd
    text, rss = run_rss(cmd, env, tmp)
    for f in os.listdir(tmp):
        if f.startswith("ht."):
            os.unlink(os.path.join(tmp, f))
    return parse(text, " ".join(cmd)), rss


def heap_section(rounds, tmp, out, heaptrack):
    """Run the heap comparison; returns {variant: [(ns, rss)]}."""
    variants = [v for v in HEAP_VARIANTS if v != "heaptrack" or heaptrack]
    res = {v: [] for v in variants}
    for r in range(rounds):
        order = variants[r % len(variants):] + variants[:r % len(variants)]
        for v in order:
            res[v].append(run_heap_variant(v, tmp, out))
            shutil.rmtree(out, ignore_errors=True)
        sys.stdout.write("  heap round %d/%d done\n" % (r + 1, rounds))
        sys.stdout.flush()
    return res


def heap_report(res):
    """Print the heap table; returns the number of MISSes."""
    nat = res["native"]
    ns = {v: statistics.median(x[0] for x in res[v]) for v in res}
    rss = {v: statistics.median(x[1] for x in res[v]) / 1024 for v in res}
    ratio = {v: statistics.median(x[0] / n[0] for x, n in zip(res[v], nat)) for v in res}
    misses = 0
    print()
    print("heap profiling, %s (2 threads: malloc, realloc, free), median of %d rounds" % (
        " ".join(HEAP_ARGV), len(nat)))
    hdr = "%-27s %10s %8s %10s %11s  %-22s %s" % (
        "variant", "per op", "ratio", "peak RSS", "added RSS", "target", "result")
    print(hdr)
    print("-" * len(hdr))
    for v in res:
        tgt, ok = "-", None
        if v == "default":
            added = rss[v] - rss["native"]
            tgt = "<=%.2fx, +<=%d MiB" % (HEAP_RATIO, HEAP_RSS_MIB)
            ok = ratio[v] <= HEAP_RATIO and added <= HEAP_RSS_MIB
        elif v == "every" and "heaptrack" in res:
            tgt = "faster than heaptrack"
            ok = ns[v] < ns["heaptrack"]
        misses += ok is False
        print("%-27s %10s %7.3fx %6.1f MiB %+7.1f MiB  %-22s %s" % (
            HEAP_NAMES[v], fmt_ns(ns[v]), ratio[v], rss[v], rss[v] - rss["native"], tgt,
            {True: "PASS", False: "MISS", None: "(reference)"}[ok]))
    if "heaptrack" in res:
        print("every allocation vs heaptrack: %.2fx the speed (per op %s vs %s)" % (
            ns["heaptrack"] / ns["every"], fmt_ns(ns["every"]), fmt_ns(ns["heaptrack"])))
    print("peak RSS: ru_maxrss from wait4 (heaptrack: its largest process); the shim's")
    print("includes its exit-time export (symbolization with libdw).")
    return misses


def fmt_ns(ns):
    if abs(ns) >= 1e6:
        return "%.3f ms" % (ns / 1e6)
    if abs(ns) >= 1e4:
        return "%.2f us" % (ns / 1e3)
    return "%.1f ns" % ns


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--spawns", type=int, default=150, help="process starts a round")
    ap.add_argument("--only", default="",
                    help="comma-separated workload letters (a,b,...; h: heap profiling, "
                    "p: CPU profiling, x: export speed, t: tracing)")
    ap.add_argument("--no-heaptrack", action="store_true")
    ap.add_argument("--heap-rounds", type=int, default=5,
                    help="rounds of the heap profiling comparison (0: skip it)")
    ap.add_argument("--cpu-rounds", type=int, default=5,
                    help="rounds of the CPU profiling comparison (0: skip it)")
    ap.add_argument("--export-repeats", type=int, default=5,
                    help="repeats of each export step (0: skip it)")
    ap.add_argument("--trace-rounds", type=int, default=5,
                    help="rounds of the tracing comparison (0: skip it)")
    args = ap.parse_args()
    only = args.only.split(",") if args.only else []
    profbench.LIB = LIB
    profbench.FILES_FLOOR = os.path.join(BUILD, "bench", "files_floor.so")
    for f in (LIB, FWD, TIMED, profbench.FILES_FLOOR):
        if not os.path.exists(f):
            sys.exit("bench: %s missing: run make bench" % f)
    chosen = [w for w in WORKLOADS if not only or w[0][0] in only]
    tmp = tempfile.mkdtemp(prefix="shimmer-bench-")
    shm = tempfile.mkdtemp(prefix="shimmer-bench-", dir="/dev/shm") \
        if os.path.isdir("/dev/shm") else tmp
    outs = {"shm": os.path.join(shm, "out"), "disk": os.path.join(tmp, "out")}
    res = {w[0]: {v: [] for v in variants_of(w[0])} for w in chosen}
    print("command: SHIMMER_BUILD=%s %s %s" % (
        shlex.quote(os.path.abspath(BUILD)), "python3 bench/run.py",
        " ".join(shlex.quote(a) for a in sys.argv[1:])))
    print("shimmer bench: %d rounds, variants alternate within each round" % args.rounds)
    print("  %s, %s, %d CPUs, load average %.2f" % (platform.machine(), platform.release(),
                                                    os.cpu_count(), os.getloadavg()[0]))
    clock = subprocess.run([os.path.join(BIN, "b_clock")], capture_output=True, text=True)
    m = re.search(r"tsc_ns ([\d.]+) clock_gettime_ns ([\d.]+)", clock.stdout)
    if m:
        print("  one clock reading: TSC %s ns, clock_gettime %s ns (best of 25 batches); a "
              "timed call reads two" % m.groups())
    wanted = {k: not only or k in only for k in "hpxt"}
    cpu = export = trace = None
    try:
        for r in range(args.rounds if chosen else 0):
            for name, argv, _, _, out, runs in chosen:
                if argv[0] == "b_spawn":
                    # process starts: the variants alternate start by start
                    for v, ns in run_spawns(argv, tmp, args.spawns, outs[out]).items():
                        res[name][v].append(ns)
                    shutil.rmtree(outs[out], ignore_errors=True)
                    continue
                for k in range(runs):
                    # rotate the order so no variant always runs first (cache,
                    # turbo, drift)
                    turn = r * runs + k
                    vs = variants_of(name)
                    order = vs[turn % len(vs):] + vs[:turn % len(vs)]
                    for v in order:
                        res[name][v].append(run_one(argv, v, tmp, args.spawns, outs[out]))
                        shutil.rmtree(outs[out], ignore_errors=True)
            sys.stdout.write("  round %d/%d done\n" % (r + 1, args.rounds))
            sys.stdout.flush()
        heap = None
        if args.heap_rounds > 0 and (not args.only or "h" in args.only.split(",")):
            heap = heap_section(args.heap_rounds, tmp, outs["shm"],
                                bool(shutil.which("heaptrack")) and not args.no_heaptrack)
        if args.cpu_rounds > 0 and wanted["p"]:
            cpu = profbench.cpu_section(BIN, args.cpu_rounds, tmp, outs["shm"])
        if args.export_repeats > 0 and wanted["x"]:
            export = profbench.export_section(BIN, args.export_repeats, tmp)
        if args.trace_rounds > 0 and wanted["t"]:
            trace = profbench.trace_section(BIN, args.trace_rounds, tmp, outs["shm"])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(shm, ignore_errors=True)

    misses = 0
    if chosen:
        misses += overhead_report(res, chosen)
    if heap:
        misses += heap_report(heap)
    if cpu:
        misses += profbench.cpu_report(cpu)
    if export:
        misses += profbench.export_report(export)
    if trace:
        misses += profbench.trace_report(*trace)
    print()
    print("%d MISS in all. Timings on a shared machine: rerun before reading much into a "
          "few percent." % misses)


def overhead_report(res, chosen):
    """Print the interposition overhead table; returns the number of MISSes."""
    print()
    print("interposition overhead (issues 2 and 5), median of %d rounds" % len(
        res[chosen[0][0]]["native"]) + "".join(
            "; %s: %d pairs" % (w[0].split()[0], len(res[w[0]]["native"]))
            for w in chosen if w[5] > 1))
    hdr = "%-22s %11s %11s %11s %7s %10s %9s  %s" % (
        "workload", "native", "shim", "fwd-only", "ratio", "added", "target", "result")
    print(hdr)
    print("-" * len(hdr))
    misses = 0
    for name, argv, kind, bound, _, _ in chosen:
        n, s, f = (res[name][v] for v in VARIANTS)
        ratio = statistics.median(b / a for a, b in zip(n, s))
        fratio = statistics.median(b / a for a, b in zip(n, f))
        added = statistics.median(b - a for a, b in zip(n, s))
        fadded = statistics.median(b - a for a, b in zip(n, f))
        if kind == "ns":
            ok, tgt = added <= bound, "<=%.0f ns" % bound
        elif kind == "ms":
            ok, tgt = added / 1e6 <= bound, "<=%.1f ms" % bound
        elif kind == "ratio":
            ok, tgt = ratio <= bound, "<=%.2fx" % bound
        else:
            ok, tgt = None, "-"
        misses += ok is False
        print("%-22s %11s %11s %11s %6.3fx %10s %9s  %s" % (
            name, fmt_ns(statistics.median(n)), fmt_ns(statistics.median(s)),
            fmt_ns(statistics.median(f)), ratio, fmt_ns(added), tgt,
            {True: "PASS", False: "MISS", None: "(reference)"}[ok]))
        print("%-22s %11s %11s %11s %6.3fx %10s   (forward-only floor: ratio, added)" % (
            "", "", "", "", fratio, fmt_ns(fadded)))
        if "timed" in res[name]:
            t = res[name]["timed"]
            print("%-22s %11s %11s %11s %6.3fx %10s   (timed floor, forwarding + two TSC reads "
                  "a call: ratio, added)" % (
                      "", "", "", fmt_ns(statistics.median(t)),
                      statistics.median(b / a for a, b in zip(n, t)),
                      fmt_ns(statistics.median(b - a for a, b in zip(n, t)))))
        if kind == "ratio" and len(n) >= 4:
            q = statistics.quantiles([b / a for a, b in zip(n, s)], n=4)
            print("%-22s %35s %.3fx-%.3fx: the middle half of the shim's ratios" % (
                "", "", q[0], q[2]))
    print()
    print("per op: native/shim/fwd-only are medians of ns per op; ratio and added are")
    print("medians of the shim/native ratio and difference of each pair (a native run and")
    print("a shim run of the same round).")
    return misses


if __name__ == "__main__":
    main()
