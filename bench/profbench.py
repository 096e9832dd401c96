# SPDX-License-Identifier: MIT
"""bench/run.py's sections for the CPU profiler and the tracer: (p) the CPU
workload bench/b_cpu.c native, under Shimmer at 99 and 999 Hz and under
gperftools' libprofiler at 100 Hz, side by side; (x) the export of 100,000
samples over 5,000 stacks (bench/x_export.c); (t) loopback TCP round trips and
a shell loop of short-lived processes with tracing on and the OTLP push going
to a local receiver (bench/otlp_sink.py). Every section alternates its variants
within each round and prints one table: medians, ratio, target, PASS/MISS."""
import json
import os
import re
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
GPERF = "/usr/lib/x86_64-linux-gnu/libprofiler.so.0"
LIB = None  # libshimmer.so: set by run.py
FILES_FLOOR = None  # bench/files_floor.so: set by run.py
RESULT = re.compile(r"^([\d.]+) (\d+)$", re.M)
SHIM_RATE = re.compile(r"CPU samples: (\d+) .*effective period ([\d.]+) ms \((\d+) Hz, (\d+) "
                       r"requested\)")
GPERF_RATE = re.compile(r"PROFILE: interrupts/evictions/bytes = (\d+)/")

CPU_ARGV = ["b_cpu", "2000000"]
CPU_VARIANTS = ("native", "shim99", "shim999", "gperf")
CPU_NAMES = {"native": "native", "shim99": "shimmer SHIMMER_HZ=99",
             "shim999": "shimmer SHIMMER_HZ=999", "gperf": "gperftools 100 Hz"}
EXPORT_MS = 1000.0

TCP_N = "100000"
LOOP = "for i in $(seq 200); do /bin/true; cat /dev/null; done"
# name, argv (b_* in the build's bench folder, or an absolute program), kind
# ("ns": the workload's own ns per op; "wall": the process's wall time), bound,
# settings added to the shim's. The "ns" ones also run against a receiver that
# answers 500 ms late: an application thread that ever waited on the exporter
# would show a round trip that slow.
TRACE_WORKLOADS = [
    ("tcp rr 100k", ["b_tcp", TCP_N], "ns", 1.05, {}),
    ("tcp rr 100k, new conn/100", ["b_tcp", TCP_N, "100"], "ns", None, {}),
    ("200x /bin/true + cat", ["/bin/sh", "-c", LOOP], "wall", 1.10, {}),
    ("same, SHIMMER_HEAP_SAMPLE=0", ["/bin/sh", "-c", LOOP], "wall", None,
     {"SHIMMER_HEAP_SAMPLE": "0"}),
    # the shim without the push: what of the ratio above is the push's
    ("same, no OTLP push", ["/bin/sh", "-c", LOOP], "wall", None,
     {"OTEL_EXPORTER_OTLP_ENDPOINT": ""}),
    # two floors under the loop's ratio: libshimmer.so loaded and switched
    # off, and a preload that hooks nothing and only writes the six files a
    # short process leaves (bench/files_floor.c): what the output contract
    # alone costs each process
    ("floor: shim loaded, off", ["/bin/sh", "-c", LOOP], "wall", None,
     {"SHIMMER_DISABLE": "1", "SHIMMER_LOG": "quiet"}),
    ("floor: only the 6 files", ["/bin/sh", "-c", LOOP], "wall", None,
     {"LD_PRELOAD": "files_floor"}),
]
# the exporter pushes during the run, not only at exit
TRACE_ENV = {"OTEL_BSP_SCHEDULE_DELAY": "200"}
SLOW_MS = 500


def clean_env(out):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SHIMMER_", "OTEL_", "CPUPROFILE")) and k != "LD_PRELOAD"}
    env["SHIMMER_OUT"] = out
    return env


def show(env, cmd, base):
    """The command line of one variant, as a shell would take it."""
    extra = ["%s=%s" % (k, shlex.quote(v)) for k, v in sorted(env.items())
             if base.get(k) != v]
    return " ".join(extra + [shlex.quote(c) for c in cmd])


def run(cmd, env, cwd):
    """(stdout, stderr, wall seconds, CPU seconds of the process and its waited
    children) of one run; raises when it fails."""
    ru0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True)
    out, err = p.communicate(timeout=600)
    wall = time.perf_counter() - t0
    ru1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    ru_cpu = ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime
    if p.returncode != 0:
        raise RuntimeError("%s exited %d:\n%s%s" % (" ".join(cmd), p.returncode, out, err))
    return out, err, wall, ru_cpu


def per_op(text, what):
    m = list(RESULT.finditer(text))
    if not m:
        raise RuntimeError("%s printed no result:\n%s" % (what, text))
    return float(m[-1].group(1))


def verdict(ok):
    return {True: "PASS", False: "MISS", None: "(reference)"}[ok]


def fmt(ns):
    if abs(ns) >= 1e6:
        return "%.3f ms" % (ns / 1e6)
    if abs(ns) >= 1e4:
        return "%.2f us" % (ns / 1e3)
    return "%.1f ns" % ns


def rotate(seq, r):
    return seq[r % len(seq):] + seq[:r % len(seq)]


# ---- (p) CPU profiling side by side ----

def cpu_env(variant, out, tmp):
    env = clean_env(out)
    if variant.startswith("shim"):
        env["LD_PRELOAD"] = LIB
        env["SHIMMER_HZ"] = variant[4:]
    elif variant == "gperf":
        env["LD_PRELOAD"] = GPERF
        env["CPUPROFILE"] = os.path.join(tmp, "gperf.prof")
        env["CPUPROFILE_FREQUENCY"] = "100"
    return env


def effective(variant, out, err, cpu):
    """(samples, effective Hz) the variant's own output states."""
    if variant.startswith("shim"):
        for d in os.listdir(out):
            if d.startswith(CPU_ARGV[0] + "."):
                with open(os.path.join(out, d, "profile.txt")) as f:
                    m = SHIM_RATE.search(f.read())
                if m:
                    return int(m.group(1)), int(m.group(3))
        raise RuntimeError("no CPU samples line in the shim's profile.txt under " + out)
    if variant == "gperf":
        m = GPERF_RATE.search(err)
        if m and cpu > 0:
            return int(m.group(1)), int(round(int(m.group(1)) / cpu))
        return (int(m.group(1)) if m else 0), 0
    return 0, 0


def cpu_section(bindir, rounds, tmp, out):
    variants = [v for v in CPU_VARIANTS if v != "gperf" or os.path.exists(GPERF)]
    cmd = [os.path.join(bindir, CPU_ARGV[0])] + CPU_ARGV[1:]
    base = clean_env(out)
    res = {v: [] for v in variants}
    print()
    print("CPU profiling (issue 3): %d rounds, variants alternate; commands:" % rounds)
    for v in variants:
        print("  %-24s %s" % (CPU_NAMES[v], show(cpu_env(v, out, tmp), cmd, base)))
    sys.stdout.flush()
    for r in range(rounds):
        for v in rotate(variants, r):
            env = cpu_env(v, out, tmp)
            text, err, wall, cpu = run(cmd, env, tmp)
            res[v].append((per_op(text, cmd[0]), wall) + effective(v, out, err, cpu))
            shutil.rmtree(out, ignore_errors=True)
        print("  cpu round %d/%d done" % (r + 1, rounds))
        sys.stdout.flush()
    return res


def cpu_report(res):
    nat = res["native"]
    misses = 0
    print()
    print("CPU profiling, %s (24-deep recursion, 3 leaf functions), median of %d rounds" % (
        " ".join(CPU_ARGV), len(nat)))
    hdr = "%-24s %10s %8s %9s %8s %8s %12s  %-22s %s" % (
        "variant", "per op", "ratio", "whole run", "ratio", "samples", "rate (Hz)",
        "target", "result")
    print(hdr)
    print("-" * len(hdr))
    ratio = {v: statistics.median(x[0] / n[0] for x, n in zip(res[v], nat)) for v in res}
    wratio = {v: statistics.median(x[1] / n[1] for x, n in zip(res[v], nat)) for v in res}
    for v in res:
        ns = statistics.median(x[0] for x in res[v])
        wall = statistics.median(x[1] for x in res[v])
        samples = statistics.median(x[2] for x in res[v])
        hz = statistics.median(x[3] for x in res[v])
        req = {"shim99": 99, "shim999": 999, "gperf": 100}.get(v)
        rate = "%d of %d" % (hz, req) if req else "-"
        tgt, ok = "-", None
        if v == "shim99":
            tgt, ok = "<=1.01x", ratio[v] <= 1.01
        elif v == "shim999":
            tgt, ok = "<=1.05x", ratio[v] <= 1.05
        misses += ok is False
        print("%-24s %10s %7.4fx %8.3fs %7.3fx %8d %12s  %-22s %s" % (
            CPU_NAMES[v], fmt(ns), ratio[v], wall, wratio[v], samples, rate, tgt, verdict(ok)))
    if "gperf" in res:
        vs = statistics.median(x[0] / g[0] for x, g in zip(res["shim99"], res["gperf"]))
        ws = statistics.median(x[1] / g[1] for x, g in zip(res["shim99"], res["gperf"]))
        ok = vs <= 1.0
        misses += not ok
        print("%-24s %10s %7.4fx %9s %7.3fx %8s %12s  %-22s %s" % (
            "shimmer 99 / gperftools", "", vs, "", ws, "", "", "<=1.00x (per op)", verdict(ok)))
    print("per op: the best of %s's batches (ns per op); ratio: median per-round ratio to native" %
          CPU_ARGV[0])
    print("(last row: to gperftools; strict, so noise decides it when both are ~1.000x).")
    print("whole run: process wall time, start to exit, the profile export at exit included")
    print("(the target is on per op). rate: what the output states it got (shimmer:")
    print("profile.txt's CPU samples line; gperftools: interrupts / process CPU seconds).")
    return misses


# ---- (x) export of 100,000 samples over 5,000 stacks ----

def export_section(bindir, repeats, tmp):
    cmd = [os.path.join(bindir, "x_export"), str(repeats)]
    env = clean_env(os.path.join(tmp, "x-out"))
    env["SHIMMER_DISABLE"] = "1"
    print()
    print("export speed (issue 3): %s" % show(env, cmd, clean_env(env["SHIMMER_OUT"])))
    sys.stdout.flush()
    text, _, _, _ = run(cmd, env, tmp)
    return text


def export_report(text):
    sym = {m.group(1): (int(m.group(2)), float(m.group(3)))
           for m in re.finditer(r"^sym (\w+) (\d+) ([\d.]+)$", text, re.M)}
    writers = [(m.group(1), float(m.group(2)), int(m.group(3)))
               for m in re.finditer(r"^writer (\w+) ([\d.]+) (\d+)$", text, re.M)]
    model = re.search(r"^model (.*)$", text, re.M)
    if "exe" not in sym or len(writers) != 6 or not model:
        raise RuntimeError("x_export printed:\n" + text)
    print()
    print("export: %s (the median of the repeats, each step alone)" % model.group(1))
    hdr = "%-44s %10s %10s %12s  %s" % ("step", "ms", "us/PC", "bytes", "")
    print(hdr)
    print("-" * len(hdr))
    print("%-44s %10.1f %10.1f %12s" % ("symbolize %d PCs of x_export (libdw, DWARF)" % sym["exe"][0],
                                         sym["exe"][1], sym["exe"][1] * 1e3 / sym["exe"][0], "-"))
    if "libc" in sym:
        print("%-44s %10.1f %10.1f %12s  (reference)" % (
            "symbolize %d PCs of libc.so.6 (ELF symbols)" % sym["libc"][0], sym["libc"][1],
            sym["libc"][1] * 1e3 / sym["libc"][0], "-"))
    for name, ms, size in writers:
        print("%-44s %10.1f %10s %12d" % ("writer " + name, ms, "-", size))
    wsum = sum(w[1] for w in writers)
    total = wsum + sym["exe"][1]
    ok = total < EXPORT_MS
    print("%-44s %10.1f" % ("all six writers", wsum))
    print("%-44s %10.1f %10s %12s  target <%.0f ms: %s" % (
        "export: symbolize x_export's PCs + writers", total, "", "", EXPORT_MS, verdict(ok)))
    return int(not ok)


# ---- (t) tracing with the OTLP push to a local receiver ----

class Receiver:
    """bench/otlp_sink.py on 127.0.0.1, stopped by pid."""

    def __init__(self, delay_ms=0):
        self.p = subprocess.Popen([sys.executable, os.path.join(HERE, "otlp_sink.py"),
                                   str(delay_ms)], stdout=subprocess.PIPE, text=True)
        self.port = int(self.p.stdout.readline())
        self.url = "http://127.0.0.1:%d" % self.port

    def stats(self):
        with urllib.request.urlopen(self.url + "/stats", timeout=10) as r:
            return json.loads(r.read())

    def stop(self):
        self.p.terminate()
        self.p.wait(timeout=10)


def trace_env(variant, out, url, extra):
    env = clean_env(out)
    if variant != "native":
        env["LD_PRELOAD"] = LIB
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = url
        env.update(TRACE_ENV)
        env.update(extra)
        if env["LD_PRELOAD"] == "files_floor":
            env["LD_PRELOAD"] = FILES_FLOOR
    return env


def trace_section(bindir, rounds, tmp, out):
    rec, slow = Receiver(), Receiver(SLOW_MS)
    res = {w[0]: {"native": [], "shim": [], "slow": []} for w in TRACE_WORKLOADS}
    lat = {w[0]: {"native": [], "shim": [], "slow": []} for w in TRACE_WORKLOADS}
    stderr_lines = ([], [])  # the shim's stderr lines: normal receiver, slow one
    try:
        base = clean_env(out)
        print()
        print("tracing with the OTLP push (issue 4): receiver bench/otlp_sink.py on %s (and "
              "one answering %d ms late on %s); %d rounds, commands:" % (
                  rec.url, SLOW_MS, slow.url, rounds))
        for name, argv, _, _, extra in TRACE_WORKLOADS:
            cmd = [argv[0] if argv[0].startswith("/") else os.path.join(bindir, argv[0])] + argv[1:]
            print("  %s" % show(trace_env("shim", out, rec.url, extra), cmd, base))
        print("  (native: the same without the environment settings)")
        sys.stdout.flush()
        before = rec.stats()
        for r in range(rounds):
            for name, argv, kind, _, extra in TRACE_WORKLOADS:
                cmd = [argv[0] if argv[0].startswith("/") else os.path.join(bindir, argv[0])] \
                    + argv[1:]
                for v in rotate(["native", "shim", "slow"] if kind == "ns" else
                                ["native", "shim"], r):
                    url = slow.url if v == "slow" else rec.url
                    text, err, wall, _ = run(cmd, trace_env(v, out, url, extra), tmp)
                    res[name][v].append(per_op(text, cmd[0]) if kind == "ns" else wall * 1e9)
                    m = re.search(r"^max_ns (\d+) p999_ns (\d+)$", text, re.M)
                    if m:
                        lat[name][v].append((int(m.group(1)), int(m.group(2))))
                    said = [l for l in err.splitlines() if l.startswith("shimmer")]
                    stderr_lines[v == "slow"].extend(said)
                    shutil.rmtree(out, ignore_errors=True)
            print("  trace round %d/%d done" % (r + 1, rounds))
            sys.stdout.flush()
        after = rec.stats()
        got_slow = slow.stats()
    finally:
        rec.stop()
        slow.stop()
    got = {k: after[k] - before[k] for k in after}
    return res, lat, got, got_slow, stderr_lines


def trace_report(res, lat, got, got_slow, stderr_lines):
    misses = 0
    print()
    print("tracing on, OTLP/HTTP push to 127.0.0.1 (%s), median of %d rounds" % (
        ", ".join("%s=%s" % kv for kv in TRACE_ENV.items()),
        len(next(iter(res.values()))["native"])))
    hdr = "%-27s %11s %11s %8s %9s  %s" % ("workload", "native", "shim+otlp", "ratio",
                                          "target", "result")
    print(hdr)
    print("-" * len(hdr))
    for name, _, kind, bound, _ in TRACE_WORKLOADS:
        n, s = res[name]["native"], res[name]["shim"]
        ratio = statistics.median(b / a for a, b in zip(n, s))
        ok = None if bound is None else ratio <= bound
        misses += ok is False
        unit = "per op" if kind == "ns" else "per run"
        print("%-27s %11s %11s %7.3fx %9s  %s   (%s)" % (
            name, fmt(statistics.median(n)), fmt(statistics.median(s)), ratio,
            "-" if bound is None else "<=%.2fx" % bound, verdict(ok), unit))
    print()
    print("worst single round trip of the application thread (b_tcp's max_ns), and p99.9:")
    hdr = "%-27s %-8s %11s %11s %11s %11s" % (
        "workload", "", "native", "shim+otlp", "slow recv.", "target")
    print(hdr)
    print("-" * len(hdr))
    for name in lat:
        if not lat[name]["native"]:
            continue
        n, s, w = lat[name]["native"], lat[name]["shim"], lat[name]["slow"]
        worst = max(x[0] for x in s + w)
        ok = worst < SLOW_MS * 1e6
        misses += not ok
        print("%-27s %-8s %11s %11s %11s %11s  %s" % (
            name, "max", fmt(max(x[0] for x in n)), fmt(max(x[0] for x in s)),
            fmt(max(x[0] for x in w)), "<%d ms" % SLOW_MS, verdict(ok)))
        print("%-27s %-8s %11s %11s %11s" % (
            "", "med.max", fmt(statistics.median(x[0] for x in n)),
            fmt(statistics.median(x[0] for x in s)), fmt(statistics.median(x[0] for x in w))))
        print("%-27s %-8s %11s %11s %11s" % (
            "", "p99.9", fmt(statistics.median(x[1] for x in n)),
            fmt(statistics.median(x[1] for x in s)), fmt(statistics.median(x[1] for x in w))))
    print("max: the slowest round trip of any round; med.max, p99.9: medians over rounds.")
    print("slow recv.: the push goes to a receiver answering %d ms late; a round trip that "
          "waited" % SLOW_MS)
    print("on the exporter would take that long (target: every round trip faster).")
    print("receiver got %d requests, %d spans, %d bytes (the slow one %d requests, %d spans);"
          % (got["requests"], got["spans"], got["bytes"], got_slow["requests"],
             got_slow["spans"]))
    for lines, which in zip(stderr_lines, ("", " with the slow receiver")):
        print("the shim's stderr said %d line(s)%s%s" % (
            len(lines), which, (", first: " + lines[0]) if lines else ""))
    return misses
