#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Run a few programs under two builds of libshimmer.so with the same fixed
settings and diff their traces.otlp.json, trace.chrome.json, events.ndjson
and metrics.prom, with what differs from run to run masked (ids, pids, tids,
times, ports, timing-dependent metric values). For checking that a change to
the writers leaves their bytes alone:

    tests/tools/export_diff.py OLD.so NEW.so [--build build] [--rounds N]

Each program runs once per library per round; a round whose masked outputs
differ is printed as a unified diff. Exit status 1 when any round differs.
Run it with OLD.so == NEW.so first to see that the masking is stable."""
import argparse
import difflib
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

FILES = ("traces.otlp.json", "trace.chrome.json", "events.ndjson", "metrics.prom")

# JSON values that differ run to run, by key (OTLP, Chrome, NDJSON)
VARY_KEYS = ("startTimeUnixNano", "endTimeUnixNano", "timestamp", "ts", "dur", "pid", "tid",
             "unix_base_ns", "thread.id", "process.pid", "process.parent_pid",
             "network.peer.port", "client.port", "server.port")
KEY_RE = re.compile(r'"(%s)":(\{"intValue":)?("[^"]*"|[-0-9.e+]+)' %
                    "|".join(re.escape(k) for k in VARY_KEYS))
KV_RE = re.compile(r'"key":"(%s)","value":\{"intValue":"[0-9]+"\}' %
                   "|".join(re.escape(k) for k in VARY_KEYS))
HEX_RE = re.compile(r'"(0x)?[0-9a-f]{16}"|"[0-9a-f]{32}"')
PORT_RE = re.compile(r'((?:[0-9]{1,3}\.){3}[0-9]{1,3}|\]):[0-9]{1,5}')
PID_RE = re.compile(r'\(pid [0-9]+\)|pid="[0-9]+"|thread [0-9]+|\.[0-9]+/')
SLOW_RE = re.compile(r'[0-9]+\.[0-9] ms')
# metrics whose values follow timing, memory or the machine
PROM_VARY = re.compile(r'^(shimmer_call_duration_seconds|shimmer_resource_duration|process_|'
                       r'shimmer_heap_|shimmer_threads|shimmer_open_fds|shimmer_cpu_samples)')


def mask(name, text):
    if name == "metrics.prom":
        out = []
        for line in text.splitlines(True):
            line = PID_RE.sub("<pid>", line)
            line = PORT_RE.sub(r"\1:<port>", line)
            if PROM_VARY.match(line):
                line = re.sub(r"\} \S+\n", "} <v>\n", line)
            out.append(line)
        # resources come by time spent, which varies: compare each family's
        # series as a set
        fams, cur = [], []
        for line in out:
            if line.startswith("#") and cur and not cur[-1].startswith("#"):
                fams.append(cur)
                cur = []
            cur.append(line)
        fams.append(cur)
        return "".join(
            "".join([l for l in f if l.startswith("#")] +
                    sorted(l for l in f if not l.startswith("#"))) for f in fams)
    text = KV_RE.sub(lambda m: '"key":"%s","value":{"intValue":"<v>"}' % m.group(1), text)
    text = KEY_RE.sub(lambda m: '"%s":%s<v>' % (m.group(1), m.group(2) or ""), text)
    text = HEX_RE.sub('"<id>"', text)
    text = PORT_RE.sub(r"\1:<port>", text)
    text = PID_RE.sub("<pid>", text)
    return SLOW_RE.sub("<ms>", text)


def programs(build, scratch):
    t = lambda n: os.path.join(build, "targets", n)
    return [
        ("true", ["/bin/true"], {}),
        ("sh-cat", ["sh", "-c", "cat /etc/hostname >/dev/null"], {}),
        ("span_file", [t("t_span_file"), scratch], {"SHIMMER_SLOW_CALL_MS": "100"}),
        ("dns", [t("t_dns")], {"RES_OPTIONS": "timeout:2 attempts:1"}),
        ("net_refused", [t("t_net_refused")], {}),
        ("net_unix", [t("t_net_unix"), os.path.join(scratch, "s.sock")], {}),
        ("errno", [t("t_errno")], {"OTEL_RESOURCE_ATTRIBUTES": "a=b%20c,service.name=x"}),
    ]


def run(lib, name, cmd, extra, out):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("SHIMMER_", "OTEL_")) and k not in ("TRACEPARENT", "LD_PRELOAD")}
    env.update({"LD_PRELOAD": lib, "SHIMMER_OUT": out, "SHIMMER_CAPTURE_ARGS": "1",
                "SHIMMER_SPAN_MIN_US": "1000"})
    env.update(extra)
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   timeout=60)
    got = {}
    for d in sorted(glob.glob(os.path.join(out, "*"))):
        for f in FILES:
            p = os.path.join(d, f)
            if os.path.exists(p):
                with open(p, encoding="utf-8", errors="surrogateescape") as fh:
                    got["%s/%s" % (os.path.basename(d).split(".")[0], f)] = mask(f, fh.read())
    return got


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--build", default="build")
    ap.add_argument("--rounds", type=int, default=1)
    a = ap.parse_args()
    bad = 0
    work = tempfile.mkdtemp(prefix="export-diff-")
    scratch = os.path.join(work, "scratch")
    os.mkdir(scratch)
    try:
        for r in range(a.rounds):
            for name, cmd, extra in programs(os.path.abspath(a.build), scratch):
                res = []
                for lib in (a.old, a.new):
                    out = tempfile.mkdtemp(dir=work)
                    res.append(run(os.path.abspath(lib), name, cmd, extra, out))
                    shutil.rmtree(out)
                    for f in os.listdir(scratch):
                        os.unlink(os.path.join(scratch, f))
                files = sorted(set(res[0]) | set(res[1]))
                same = 0
                for f in files:
                    x, y = res[0].get(f, "<missing>\n"), res[1].get(f, "<missing>\n")
                    if x == y:
                        same += 1
                        continue
                    bad += 1
                    sys.stdout.writelines(difflib.unified_diff(
                        x.splitlines(True), y.splitlines(True), "old/" + f, "new/" + f))
                print("round %d %-12s %d/%d files identical (masked)" % (r, name, same,
                                                                         len(files)))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
