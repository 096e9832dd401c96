# SPDX-License-Identifier: MIT
"""Helpers for the tracing tests: the strict OTLP/HTTP receiver of tests/otlp
(a Node process started and stopped by pid), its offline validator, and the
decoded spans as plain Python objects."""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
OTLP_DIR = os.path.abspath(os.path.join(HERE, "..", "otlp"))
RECEIVER = os.path.join(OTLP_DIR, "receiver.js")
_deps_done = False


def node():
    for name in ("node", "nodejs"):
        for d in os.environ.get("PATH", "").split(os.pathsep):
            p = os.path.join(d, name)
            if os.access(p, os.X_OK):
                return p
    raise AssertionError("node is missing: scripts/install-deps installs it")


def ensure_deps():
    """npm ci of tests/otlp once (instant when node_modules is current)."""
    global _deps_done
    if _deps_done:
        return
    p = subprocess.run([os.path.join(OTLP_DIR, "ensure-deps")], capture_output=True, text=True,
                       timeout=600)
    if p.returncode != 0:
        raise AssertionError("tests/otlp/ensure-deps failed:\n" + p.stderr)
    _deps_done = True


def clean_env():
    """The environment for helper processes: nothing of the shim in it."""
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("SHIMMER_") or k.startswith("OTEL_") or k == "LD_PRELOAD"
                   or k in ("TRACEPARENT", "TRACESTATE"))}
    return env


class Receiver:
    """receiver.js on 127.0.0.1 with a free port; records in `out` (NDJSON)."""

    def __init__(self, tmp, *args):
        ensure_deps()
        self.out = os.path.join(tmp, "received-%d.ndjson" % time.monotonic_ns())
        self.proc = subprocess.Popen([node(), RECEIVER, "--out", self.out] + list(args),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=clean_env(), text=True)
        line = self.proc.stdout.readline()
        try:
            info = json.loads(line)
        except ValueError:
            self.stop()
            raise AssertionError("receiver did not start: %r %s" % (line, self.proc.stderr.read()))
        self.port = info["port"]
        self.pid = info["pid"]
        self.endpoint = "http://127.0.0.1:%d" % self.port

    def records(self):
        if not os.path.exists(self.out):
            return []
        with open(self.out) as f:
            return [json.loads(l) for l in f if l.strip()]

    def wait_for(self, pred, timeout=10.0):
        """Records once pred(records) holds, or the records at the timeout."""
        end = time.monotonic() + timeout
        while True:
            recs = self.records()
            if pred(recs) or time.monotonic() > end:
                return recs
            time.sleep(0.05)

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()


def validate(path, out=None):
    """receiver.js --validate: (exit status, summary dict, canonical records)."""
    ensure_deps()
    args = [node(), RECEIVER, "--validate", path]
    if out:
        args += ["--out", out]
    p = subprocess.run(args, capture_output=True, text=True, env=clean_env(), timeout=120)
    try:
        summary = json.loads(p.stdout)
    except ValueError:
        raise AssertionError("validator failed: %s %s" % (p.stdout, p.stderr))
    recs = []
    if out and os.path.exists(out):
        with open(out) as f:
            recs = [json.loads(l) for l in f if l.strip()]
    return p.returncode, summary, recs


def chrome_check(path):
    """tests/otlp/chrome-check.mjs: what DevTools' trace engine made of a
    Chrome trace file (processes, threads, entries, tree nodes, nesting)."""
    ensure_deps()
    p = subprocess.run([node(), os.path.join(OTLP_DIR, "chrome-check.mjs"), path],
                       capture_output=True, text=True, env=clean_env(), timeout=120)
    if p.returncode != 0:
        raise AssertionError("trace engine failed on %s: %s" % (path, p.stderr))
    return json.loads(p.stdout)


def free_port():
    """A port nothing listens on; the caller keeps the socket bound (held)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    return s, s.getsockname()[1]


def anyvalue(v):
    if "stringValue" in v:
        return v["stringValue"]
    if "intValue" in v:
        return int(v["intValue"])
    if "boolValue" in v:
        return v["boolValue"]
    if "doubleValue" in v:
        return float(v["doubleValue"])
    if "arrayValue" in v:
        return [anyvalue(x) for x in v["arrayValue"].get("values", [])]
    if "kvlistValue" in v:
        return attrs(v["kvlistValue"].get("values", []))
    if "bytesValue" in v:
        return v["bytesValue"]
    return None


def attrs(kvs):
    return {kv["key"]: anyvalue(kv.get("value") or {}) for kv in kvs}


class Span:
    def __init__(self, resource, scope, s):
        self.raw = s
        self.resource = resource
        self.scope = scope
        self.trace_id = s["traceId"]
        self.span_id = s["spanId"]
        self.parent = s["parentSpanId"]
        self.name = s["name"]
        self.kind = s["kind"]
        self.start = int(s["startTimeUnixNano"])
        self.end = int(s["endTimeUnixNano"])
        self.attrs = attrs(s["attributes"])
        self.status = s["status"]["code"] if s.get("status") else 0

    def __repr__(self):
        return "<Span %s %s kind=%d parent=%s %s>" % (self.name, self.span_id, self.kind,
                                                    self.parent or "-", self.attrs)


def spans(records):
    """Every span of the canonical requests in records (status 200 only)."""
    res = []
    for r in records:
        if r.get("status") != 200 or not r.get("request"):
            continue
        for rs in r["request"]["resourceSpans"]:
            ra = attrs((rs.get("resource") or {}).get("attributes", []))
            for ss in rs["scopeSpans"]:
                scope = (ss.get("scope") or {}).get("name", "")
                for s in ss["spans"]:
                    res.append(Span(ra, scope, s))
    return res


def loopback_name():
    """(name, family, address): a host name other than localhost that
    getaddrinfo resolves, from /etc/hosts, to loopback addresses only.

    curl 7.88 answers "localhost" and "*.localhost" itself (lib/hostip.c) and
    never calls getaddrinfo for them, so a DNS span can only be checked with
    another name; the machine's own name (or ip6-localhost) is one."""
    for name in (socket.gethostname(), "ip6-localhost", "ip6-loopback", "localhost.localdomain"):
        if not name or name == "localhost" or name.endswith(".localhost"):
            continue
        try:
            infos = socket.getaddrinfo(name, None, 0, socket.SOCK_STREAM)
        except OSError:
            continue
        addrs = [(fam, sa[0]) for fam, _, _, _, sa in infos]
        if addrs and all(a.startswith("127.") or a == "::1" for _, a in addrs):
            fam, addr = addrs[0]
            # one address family only, so curl makes exactly one connect
            if all(f == fam for f, _ in addrs):
                return name, fam, addr
    raise AssertionError("no host name besides localhost resolves to loopback only here "
                         "(checked the host name and ip6-localhost in /etc/hosts)")


class HttpServer:
    """python3 -m http.server on a loopback address and a free port, stopped by pid."""

    def __init__(self, root, bind="127.0.0.1"):
        self.proc = subprocess.Popen(
            [sys.executable, "-u", "-m", "http.server", "0", "--bind", bind, "--directory", root],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=clean_env())
        line = self.proc.stdout.readline()
        m = re.search(r"port (\d+)", line)
        if not m:
            self.stop()
            raise AssertionError("http.server did not start: %r" % line)
        self.port = int(m.group(1))

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=10)
        self.proc.stdout.close()
