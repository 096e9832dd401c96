# SPDX-License-Identifier: MIT
"""Traces end to end, against the spec (issue 4), not the shim's internals: real
programs under the shim push OTLP/HTTP JSON to the strict receiver of tests/otlp
(official opentelemetry-proto definitions); one trace across a process tree from
TRACEPARENT; traces.otlp.json, trace.chrome.json and events.ndjson in each run
folder; export faults leave the target's output, status and time alone."""
import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
import unittest

from otlplib import (HttpServer, Receiver, chrome_check, free_port, loopback_name, spans,
                     validate)
from shimlib import SAN, SHIMMER, ShimTest, base_env

FLUSH_BOUND_S = 10.0   # generous: exit flush (2 s default) plus start-up, never tight
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")


def folder_pid(path):
    return int(os.path.basename(path).rsplit(".", 1)[1])


def bytes_attr(span, direction):
    """The connection span's byte count in one direction ('recv' or 'sent')."""
    pat = {"recv": r"(receiv|recv|read|_in\b|\.in\b)", "sent": r"(sent|send|writ|transmit|_out\b|\.out\b)"}
    hits = [v for k, v in span.attrs.items()
            if isinstance(v, int) and "byte" in k and re.search(pat[direction], k)]
    if len(hits) != 1:
        raise AssertionError("no single %s byte count among %s" % (direction, span.attrs))
    return hits[0]


def process_roots(all_spans):
    """{(pid, exe): root span} for each process image: the span with the
    process.* attributes (one per image)."""
    roots = {}
    for s in all_spans:
        if "process.pid" in s.attrs and "process.executable.name" in s.attrs:
            key = (s.attrs["process.pid"], s.attrs["process.executable.name"], s.span_id)
            roots[key] = s
    return roots


class TraceChecks:
    """Assertions shared by the tests (mixed into ShimTest classes)."""

    def assertStrict(self, records):
        """Every request the receiver got was valid and canonical."""
        self.assertTrue(records, "the receiver got nothing")
        for r in records:
            self.assertEqual((r["status"], r["errors"]), (200, []), r)
            self.assertEqual(r["warnings"], [], "non-canonical OTLP/JSON")
            self.assertEqual(r["headers"].get("content-type", "").split(";")[0], "application/json")

    def assertOneTree(self, all_spans, trace_id, outer_parent):
        """All spans in trace_id; every process root span's parent is a span of
        the process image that started it (its parent pid, or the same pid
        before exec); the outermost's parent is outer_parent."""
        by_id = {}
        for s in all_spans:
            self.assertEqual(s.trace_id, trace_id, s)
            self.assertIn("process.pid", s.resource, "resource without process.pid")
            self.assertNotIn(s.span_id, by_id, "duplicate span id")
            by_id[s.span_id] = s
        roots = process_roots(all_spans)
        self.assertTrue(roots, "no process span")
        # the image each span belongs to: its resource's process.pid
        outer = []
        for (pid, exe, _), r in roots.items():
            self.assertEqual(r.kind, 1, r)
            self.assertEqual(r.resource.get("process.pid", pid), pid)
            if r.parent == outer_parent:
                outer.append(r)
                continue
            self.assertIn(r.parent, by_id, "root span of %s.%d has a parent outside the trace"
                          % (exe, pid))
            par = by_id[r.parent]
            par_pid = par.resource.get("process.pid")
            self.assertIn(par_pid, (pid, r.attrs.get("process.parent_pid")),
                          "%s.%d's parent span is in process %s" % (exe, pid, par_pid))
            self.assertLessEqual(par.start, r.start)
        self.assertEqual(len(outer), 1, "expected one outermost process, got %s" % outer)
        # every non-root span has its parent in the trace, in its own process
        for s in all_spans:
            if s in roots.values():
                continue
            self.assertIn(s.parent, by_id, s)
            self.assertEqual(by_id[s.parent].resource.get("process.pid"),
                             s.resource.get("process.pid"), s)
        return roots

    def assertChrome(self, path, pid):
        with open(path) as f:
            data = json.load(f)
        events = data["traceEvents"] if isinstance(data, dict) else data
        xs = [e for e in events if e.get("ph") == "X"]
        ms = [e for e in events if e.get("ph") == "M"]
        self.assertTrue(xs, "no X events")
        per_tid = {}
        for e in xs:
            self.assertIsInstance(e["name"], str)
            self.assertGreaterEqual(e["dur"], 0)
            self.assertEqual(e["pid"], pid, "X event of another pid")
            self.assertIsInstance(e["tid"], int)
            self.assertGreater(e["tid"], 0)
            per_tid.setdefault(e["tid"], []).append(e)
        self.assertIn(pid, per_tid, "nothing on the main thread (tid == pid)")
        for tid, evs in per_tid.items():
            evs.sort(key=lambda e: (e["ts"], -e["dur"]))
            stack = []
            for e in evs:
                while stack and e["ts"] >= stack[-1]["ts"] + stack[-1]["dur"]:
                    stack.pop()
                if stack:
                    top = stack[-1]
                    self.assertLessEqual(e["ts"] + e["dur"], top["ts"] + top["dur"] + 1e-3,
                                         "tid %d: %s overlaps %s without nesting" % (tid, e, top))
                stack.append(e)
        pnames = [m for m in ms if m.get("name") == "process_name" and m.get("pid") == pid]
        self.assertEqual(len(pnames), 1, "process_name M event")
        self.assertTrue(pnames[0]["args"]["name"])
        tnames = {m["tid"] for m in ms if m.get("name") == "thread_name" and m.get("pid") == pid}
        self.assertLessEqual(set(per_tid), tnames, "threads without a thread_name M event")
        # a real parser (DevTools' trace engine) puts every entry on its thread, nested
        seen = chrome_check(path)["processes"][str(pid)]
        self.assertEqual(seen["name"], pnames[0]["args"]["name"])
        for tid, evs in per_tid.items():
            t = seen["threads"][str(tid)]
            self.assertEqual((t["entries"], t["treeNodes"], t["nests"]), (len(evs), len(evs), True),
                             "tid %d as the trace engine sees it" % tid)
        return xs

    def assertEvents(self, path, pid, trace_id):
        with open(path) as f:
            lines = f.read().splitlines()
        self.assertTrue(lines, "events.ndjson is empty")
        for line in lines:
            ev = json.loads(line)
            self.assertIsInstance(ev, dict)
            for k in ("timestamp", "severity", "body", "trace_id", "span_id", "pid", "tid"):
                self.assertIn(k, ev, line)
            self.assertRegex(ev["timestamp"], RFC3339)
            self.assertEqual(ev["trace_id"], trace_id, line)
            self.assertRegex(ev["span_id"], HEX16)
            self.assertEqual(ev["pid"], pid)
            self.assertIsInstance(ev["tid"], int)
        # jq takes it as is, line by line
        p = subprocess.run(["jq", "-r", ".trace_id", path], capture_output=True, text=True)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(p.stdout.split(), [trace_id] * len(lines))

    def validate_folder(self, folder):
        """receiver.js --validate on the folder's traces.otlp.json: its spans."""
        path = os.path.join(folder, "traces.otlp.json")
        self.assertTrue(os.path.isfile(path), "no traces.otlp.json in " + folder)
        rc, summary, recs = validate(path, os.path.join(self.tmp, "canon.ndjson"))
        self.assertEqual(rc, 0, summary)
        self.assertEqual(summary["errors"], [])
        self.assertEqual(summary["warnings"], [], "non-canonical OTLP/JSON in " + path)
        self.assertGreater(summary["spans"], 0, path)
        return spans(recs)


@unittest.skipIf(SAN, "curl hangs here under the ASan runtime alone, without the shim")
class TestCurlTrace(ShimTest, TraceChecks):
    def setUp(self):
        super().setUp()
        self.name, fam, self.addr = loopback_name()
        self.curl_ip = "-4" if fam == socket.AF_INET else "-6"
        www = os.path.join(self.tmp, "www")
        os.mkdir(www)
        self.data = bytes((i * 13 + 5) % 251 for i in range(150000))
        with open(os.path.join(www, "file"), "wb") as f:
            f.write(self.data)
        self.http = HttpServer(www, bind=self.addr)
        self.url = "http://%s:%d/file" % (self.name, self.http.port)
        self.rx = None

    def tearDown(self):
        self.http.stop()
        if self.rx:
            self.rx.stop()
        super().tearDown()

    def run_curl(self, env):
        """curl under the shim: (run, sizes curl counted: download, header, request)."""
        dl = os.path.join(self.tmp, "got")
        cmd = ["curl", self.curl_ip, "-sS", "-o", dl, "-w",
               "%{size_download} %{size_header} %{size_request} %{num_connects}", self.url]
        r = self.run_shim(cmd, env=env, timeout=60)
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(r.shimmer_lines(), [])
        size_download, size_header, size_request, connects = map(int, r.stdout.split())
        self.assertEqual(size_download, len(self.data))
        with open(dl, "rb") as f:
            self.assertEqual(f.read(), self.data)
        self.assertEqual(connects, 1)
        return r, (size_download, size_header, size_request)

    def test_curl_spans_pushed(self):
        self.rx = Receiver(self.tmp)
        r, sizes = self.run_curl({"OTEL_EXPORTER_OTLP_ENDPOINT": self.rx.endpoint})
        recs = self.rx.records()
        self.assertStrict(recs)
        got = spans(recs)
        self.check_curl_spans(got, sizes)
        # the exporter's own connection to the receiver is in no span
        self.assertFalse([s for s in got if s.attrs.get("network.peer.port") == self.rx.port])

    def test_curl_spans_in_files(self):
        r, sizes = self.run_curl({})
        (folder,) = r.folders("curl").values()
        self.check_curl_spans(self.validate_folder(folder), sizes)

    def test_timeline_and_events(self):
        r, _ = self.run_curl({})
        (folder,) = r.folders("curl").values()
        pid = folder_pid(folder)
        got = self.validate_folder(folder)
        trace_id = got[0].trace_id
        self.assertOneTree(got, trace_id, "")
        self.assertChrome(os.path.join(folder, "trace.chrome.json"), pid)
        self.assertEvents(os.path.join(folder, "events.ndjson"), pid, trace_id)

    def check_curl_spans(self, got, sizes):
        """A process span, a DNS span, a connect span and a CLIENT connection
        span with the right peer and byte counts, all in one trace."""
        size_download, size_header, size_request = sizes
        trace_id = got[0].trace_id
        self.assertRegex(trace_id, HEX32)
        roots = self.assertOneTree(got, trace_id, "")
        (root,) = roots.values()
        self.assertEqual(root.attrs["process.executable.name"], "curl")
        self.assertEqual(root.attrs["process.exit.code"], 0)
        self.assertEqual(root.resource.get("service.name"), "unknown_service:curl")
        self.assertNotEqual(root.status, 2)
        # DNS: the name curl looked up (see otlplib.loopback_name on localhost)
        dns = [s for s in got if s.name == "dns lookup"]
        self.assertEqual(len(dns), 1, got)
        self.assertEqual(dns[0].attrs["dns.question.name"], self.name)
        self.assertNotIn("error.type", dns[0].attrs)
        # the connection (connect to close) and, inside it, the connect call:
        # both about the peer, the connection a CLIENT span with the bytes curl counted
        peer = [s for s in got if s.attrs.get("network.peer.port") == self.http.port]
        self.assertEqual(len(peer), 2, got)
        if peer[1].parent == peer[0].span_id:
            peer.reverse()
        connect, c = peer
        self.assertEqual(connect.parent, c.span_id, "the connect span is not inside the connection")
        self.assertEqual(c.kind, 3)
        self.assertLessEqual(c.start, connect.start)
        self.assertLessEqual(connect.end, c.end)
        self.assertGreaterEqual(c.start, root.start)
        self.assertLessEqual(c.end, root.end)
        for s in peer:
            self.assertEqual(s.attrs["network.peer.address"], self.addr)
            self.assertEqual(s.attrs["network.transport"], "tcp")
            self.assertEqual(s.attrs["network.type"], "ipv4" if self.curl_ip == "-4" else "ipv6")
        self.assertEqual(bytes_attr(c, "recv"), size_download + size_header)
        self.assertEqual(bytes_attr(c, "sent"), size_request)


@unittest.skipIf(SAN, "shimmer run puts libshimmer.so before the ASan runtime; curl hangs there")
class TestTraceTree(ShimTest, TraceChecks):
    def run_tree(self, env_extra):
        name, fam, addr = loopback_name()
        www = os.path.join(self.tmp, "www")
        os.makedirs(www, exist_ok=True)
        with open(os.path.join(www, "f"), "w") as f:
            f.write("hello\n")
        http = HttpServer(www, bind=addr)
        try:
            trace_id, parent = secrets.token_hex(16), secrets.token_hex(8)
            script = ('curl %s -sS http://%s:%d/f; echo "curl=$?"; /usr/bin/python3 -c "print(6*7)"; '
                      'sh -c "cat /etc/hostname"') % ("-4" if fam == socket.AF_INET else "-6",
                                                     name, http.port)
            env = base_env(env_extra)
            env["TRACEPARENT"] = "00-%s-%s-01" % (trace_id, parent)
            p = subprocess.run([SHIMMER, "run", "--out", self.out, "--", "sh", "-c", script],
                               capture_output=True, env=env, timeout=120)
        finally:
            http.stop()
        with open("/etc/hostname", "rb") as f:
            self.assertEqual(p.stdout, b"hello\ncurl=0\n42\n" + f.read())
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertNotIn(b"shimmer: ", p.stderr)
        return trace_id, parent

    def check_images(self, roots):
        exes = {exe for (_, exe, _) in roots}
        for want in ("sh", "curl", "cat"):
            self.assertIn(want, exes)
        self.assertTrue(any(e.startswith("python3") for e in exes), exes)

    def test_traceparent_files(self):
        trace_id, parent = self.run_tree({})
        folders = sorted(os.listdir(self.out))
        self.assertGreaterEqual(len(folders), 5, folders)
        got = []
        for name in folders:
            got += self.validate_folder(os.path.join(self.out, name))
        self.check_images(self.assertOneTree(got, trace_id, parent))

    def test_traceparent_pushed(self):
        rx = Receiver(self.tmp)
        try:
            trace_id, parent = self.run_tree({"OTEL_EXPORTER_OTLP_ENDPOINT": rx.endpoint})
            recs = rx.records()
        finally:
            rx.stop()
        self.assertStrict(recs)
        self.check_images(self.assertOneTree(spans(recs), trace_id, parent))


class TestExportFaults(ShimTest):
    """dash running builtins only (one process): known stdout, stderr and exit 3."""
    CMD = ["sh", "-c", "echo out; echo err >&2; exit 3"]
    RC = 3

    def fault_run(self, endpoint, extra=None):
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint}
        env.update(extra or {})
        bare = self.run_bare(self.CMD)
        t0 = time.monotonic()
        shim = self.run_shim(self.CMD, env=env, timeout=60)
        took = time.monotonic() - t0
        sys.stderr.write("[exit after %.2f s] " % took)
        self.assertEqual((shim.stdout, shim.rc), (bare.stdout, bare.rc))
        self.assertEqual(bare.rc, self.RC)
        self.assertEqual(shim.other_stderr(), bare.other_stderr())
        self.assertLess(took, FLUSH_BOUND_S)
        return shim

    def assertDropLine(self, shim):
        """One stderr line saying how many spans were dropped; the same count
        in the process's events.ndjson."""
        lines = shim.shimmer_lines()
        self.assertEqual(len(lines), 1, lines)
        m = re.search(r"(\d+) spans? (?:were )?(?:not delivered|dropped|lost)", lines[0])
        self.assertTrue(m, lines[0])
        n = int(m.group(1))
        self.assertGreater(n, 0)
        (folder,) = shim.folders().values()
        with open(os.path.join(folder, "events.ndjson")) as f:
            evs = [json.loads(l) for l in f]
        counts = [v for e in evs for k, v in (e.get("attributes") or {}).items()
                  if "drop" in k and isinstance(v, int) and v > 0]
        self.assertEqual(counts, [n], "the drop count in events.ndjson")

    def test_connection_refused(self):
        hold, port = free_port()  # bound, never listening: connections are refused
        try:
            shim = self.fault_run("http://127.0.0.1:%d" % port)
        finally:
            hold.close()
        self.assertDropLine(shim)

    def test_never_answers(self):
        rx = Receiver(self.tmp, "--hang")
        try:
            shim = self.fault_run(rx.endpoint, {"SHIMMER_EXIT_FLUSH_MS": "1000"})
            recs = rx.records()
        finally:
            rx.stop()
        self.assertDropLine(shim)
        self.assertTrue(recs and all(r["hung"] for r in recs))

    def test_503_twice_then_delivered(self):
        rx = Receiver(self.tmp, "--fail", "2", "--retry-after", "1")
        try:
            shim = self.fault_run(rx.endpoint, {"SHIMMER_EXIT_FLUSH_MS": "8000"})
            recs = rx.records()
        finally:
            rx.stop()
        self.assertEqual(shim.shimmer_lines(), [])
        self.assertEqual([r["status"] for r in recs], [503, 503, 200])
        # the same spans each time, delivered once; Retry-After was honoured
        ids = [sorted(s.span_id for s in spans([dict(r, status=200)])) for r in recs]
        self.assertEqual(ids[0], ids[1])
        self.assertEqual(ids[0], ids[2])
        self.assertTrue(ids[2])
        t = [r["timeMs"] for r in recs]
        self.assertGreaterEqual(t[1] - t[0], 900)
        self.assertGreaterEqual(t[2] - t[1], 900)

    def test_400_not_retried(self):
        rx = Receiver(self.tmp, "--fail", "1000", "--fail-status", "400")
        try:
            shim = self.fault_run(rx.endpoint)
            recs = rx.records()
        finally:
            rx.stop()
        self.assertEqual(len(recs), 1, [r["status"] for r in recs])
        self.assertEqual(recs[0]["errors"], [])  # the request itself was valid
        self.assertDropLine(shim)

    def test_line_survives_a_closed_stderr(self):
        # coreutils close stdout and stderr in an atexit handler (gnulib
        # close_stdout), before the shim's exit flush: the line must still come
        self.CMD, self.RC = ["ls", "-d", "/etc", "/nonexistent-shimmer-e2e"], 2
        hold, port = free_port()
        try:
            shim = self.fault_run("http://127.0.0.1:%d" % port)
        finally:
            hold.close()
        self.assertDropLine(shim)


class TestExportSettings(ShimTest):
    """The OTEL_* settings of the spec, seen from the receiver's side."""
    CMD = ["ls", "-d", "/etc"]

    def pushed(self, env):
        rx = Receiver(self.tmp)
        try:
            env = {k: v.replace("@", rx.endpoint) for k, v in env.items()}
            bare, shim = self.assertTransparent(self.CMD, env=env, timeout=60)
            recs = rx.records()
        finally:
            rx.stop()
        return recs

    def test_headers_gzip_service_and_resource(self):
        recs = self.pushed({
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "@/v1/traces",  # used as is
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",  # ignored for traces
            "OTEL_EXPORTER_OTLP_HEADERS": "x-shimmer-test=abc,x-other=1",
            "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
            "OTEL_SERVICE_NAME": "lister",
            "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=e2e,team=tools"})
        self.assertTrue(recs)
        for r in recs:
            self.assertEqual((r["path"], r["status"], r["errors"]), ("/v1/traces", 200, []))
            self.assertEqual(r["headers"].get("content-encoding"), "gzip")
            self.assertEqual(r["headers"].get("x-shimmer-test"), "abc")
            self.assertEqual(r["headers"].get("x-other"), "1")
        got = spans(recs)
        self.assertTrue(got)
        for s in got:
            self.assertEqual(s.resource["service.name"], "lister")
            self.assertEqual(s.resource["deployment.environment.name"], "e2e")
            self.assertEqual(s.resource["team"], "tools")
            self.assertIn("host.name", s.resource)
            self.assertTrue(any(k.startswith("telemetry.sdk.") for k in s.resource))

    def test_sdk_disabled_and_always_off(self):
        # the control: the same run with tracing on sends spans
        self.assertTrue(spans(self.pushed({"OTEL_EXPORTER_OTLP_ENDPOINT": "@"})))
        for env in ({"OTEL_SDK_DISABLED": "true"}, {"OTEL_TRACES_SAMPLER": "always_off"}):
            with self.subTest(env=env):
                env = dict(env, OTEL_EXPORTER_OTLP_ENDPOINT="@")
                self.assertEqual(spans(self.pushed(env)), [])


if __name__ == "__main__":
    unittest.main()
