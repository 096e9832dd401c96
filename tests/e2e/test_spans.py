# SPDX-License-Identifier: MIT
"""Spans: the ones each libc call makes (files, connections, slow calls, the
process root), the context handed to children through exec, posix_spawn and
fork, the sampler and SDK switches, the three trace files, and the OTLP/HTTP
push against a local receiver (delivery, retry on 503, no retry on 400,
refused and silent endpoints bounded by the exit flush)."""
import shutil
import http.server
import json
import os
import socket
import subprocess
import threading
import time
import unittest

from shimlib import ShimTest, target

TP_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TP_SPAN = "00f067aa0ba902b7"
TRACEPARENT = "00-%s-%s-01" % (TP_TRACE, TP_SPAN)


def attrs(kvs):
    out = {}
    for kv in kvs:
        (t, v), = kv["value"].items()
        out[kv["key"]] = int(v) if t == "intValue" else v
    return out


def requests_spans(lines):
    """(resource attributes, span) for every span of OTLP/JSON request lines."""
    res = []
    for line in lines:
        req = json.loads(line)
        for rs in req["resourceSpans"]:
            ra = attrs(rs["resource"]["attributes"])
            for ss in rs["scopeSpans"]:
                for s in ss["spans"]:
                    s = dict(s)
                    s["attrs"] = attrs(s["attributes"])
                    res.append((ra, s))
    return res


def folder_spans(folder):
    with open(os.path.join(folder, "traces.otlp.json")) as f:
        return [s for _, s in requests_spans(f.read().splitlines())]


class Receiver:
    """A loopback OTLP/HTTP receiver: answers each POST with the next status of
    `script` (the last one repeats); None means never answer."""

    def __init__(self, script=(200,)):
        self.script = list(script)
        self.posts = []
        self.lock = threading.Lock()
        rec = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with rec.lock:
                    status = rec.script.pop(0) if len(rec.script) > 1 else rec.script[0]
                    rec.posts.append((self.path, dict(self.headers), body, status))
                if status is None:
                    time.sleep(30)
                    return
                self.send_response(status)
                if status == 503:
                    self.send_header("Retry-After", "0")
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def delivered(self):
        return [json.loads(b) for p, h, b, st in self.posts if st == 200]


class SpanTest(ShimTest):
    def one_folder(self, run, exe):
        f = run.folders(exe)
        self.assertEqual(len(f), 1, f)
        return next(iter(f.values()))

    def main_folder(self, run, exe):
        """The folder of exe's image that did not end by exec (fork children of
        it that exec something leave a folder of their own)."""
        f = [p for p in run.folders(exe).values()
             if not folder_spans(p) or "shimmer.exec" not in folder_spans(p)[0]["attrs"]]
        self.assertEqual(len(f), 1, f)
        return f[0]

    def fresh(self):
        shutil.rmtree(self.out, ignore_errors=True)


class TestSpans(SpanTest):
    def test_file_and_slow_spans_and_root(self):
        scratch = os.path.join(self.tmp, "scratch")
        os.makedirs(scratch)
        env = {"TRACEPARENT": TRACEPARENT, "SHIMMER_SLOW_CALL_MS": "100"}
        bare = self.run_bare([target("t_span_file"), scratch], env=env)
        shim = self.run_shim([target("t_span_file"), scratch], env=env)
        self.assertEqual((shim.stdout, shim.rc), (bare.stdout, bare.rc))
        self.assertEqual((shim.rc, shim.shimmer_lines()), (3, []))
        spans = folder_spans(self.one_folder(shim, "t_span_file"))
        root = spans[0]
        self.assertEqual(root["name"], "t_span_file")
        self.assertEqual(root["traceId"], TP_TRACE)
        self.assertEqual(root["parentSpanId"], TP_SPAN)
        self.assertEqual(root["kind"], 1)
        self.assertEqual(root["attrs"]["process.exit.code"], 3)
        self.assertEqual(root["status"]["code"], 2)
        self.assertEqual(root["flags"] & 0x301, 0x301)  # sampled, remote parent
        files = [s for s in spans if s["name"] == "file"
                 and s["attrs"].get("file.path", "").startswith(scratch)]
        by_path = {}
        for s in files:
            by_path.setdefault(s["attrs"]["file.path"], []).append(s)
        self.assertEqual(sorted(by_path), [scratch + "/long.txt", scratch + "/no/such/file"])
        long, = by_path[scratch + "/long.txt"]
        a = long["attrs"]
        self.assertEqual((a["shimmer.bytes_written"], a["shimmer.bytes_read"]), (300, 200))
        self.assertEqual((a["shimmer.write_ops"], a["shimmer.read_ops"]), (3, 2))
        self.assertEqual(a["shimmer.ops"], 8)  # open, 3 writes, lseek, 2 reads, close
        self.assertEqual(long["status"]["code"], 0)
        failed = by_path[scratch + "/no/such/file"]
        self.assertEqual([s["attrs"]["error.type"] for s in failed], ["ENOENT", "ENOENT"])
        self.assertEqual([s["status"]["code"] for s in failed], [2, 2])
        slow = [s for s in spans if s["name"] == "poll"]
        self.assertEqual(len(slow), 1)
        self.assertEqual(slow[0]["attrs"]["code.function.name"], "poll")
        for s in spans:
            self.assertEqual(s["traceId"], TP_TRACE)
            if s is not root:
                self.assertIn(s["parentSpanId"], {root["spanId"]})
        self.assertEqual(len({s["spanId"] for s in spans}), len(spans))

    def test_min_duration_setting_keeps_short_files(self):
        scratch = os.path.join(self.tmp, "scratch")
        os.makedirs(scratch)
        shim = self.run_shim([target("t_span_file"), scratch],
                             env={"SHIMMER_SPAN_MIN_US": "0", "SHIMMER_SLOW_CALL_MS": "0"})
        spans = folder_spans(self.one_folder(shim, "t_span_file"))
        paths = [s["attrs"].get("file.path") for s in spans if s["name"] == "file"]
        self.assertIn(scratch + "/short.txt", paths)
        self.assertEqual([s for s in spans if s["name"] == "poll"], [])
        self.assertTrue(spans[0]["traceId"] and "parentSpanId" not in spans[0])

    def test_tcp_connection_spans(self):
        pf = os.path.join(self.tmp, "port")
        shim = self.run_shim([target("t_net_tcp"), pf])
        self.assertEqual(shim.rc, 0)
        port = int(open(pf).read())
        spans = folder_spans(self.one_folder(shim, "t_net_tcp"))
        client = [s for s in spans if s["kind"] == 3 and s["name"] == "connection"]
        server = [s for s in spans if s["kind"] == 2]
        connect = [s for s in spans if s["name"] == "connect"]
        self.assertEqual((len(client), len(server), len(connect)), (1, 1, 1))
        c, sv, cn = client[0]["attrs"], server[0]["attrs"], connect[0]
        self.assertEqual((c["network.transport"], c["network.type"]), ("tcp", "ipv4"))
        self.assertEqual((c["network.peer.address"], c["network.peer.port"]), ("127.0.0.1", port))
        self.assertEqual((c["shimmer.bytes_sent"], c["shimmer.bytes_received"]), (3000, 5000))
        self.assertEqual((sv["shimmer.bytes_sent"], sv["shimmer.bytes_received"]), (5000, 3000))
        self.assertEqual(sv["server.port"], port)
        self.assertEqual(sv["client.address"], "127.0.0.1")
        self.assertNotEqual(sv["client.port"], port)
        # the connect call is a child of the connection it opened
        self.assertEqual(cn["parentSpanId"], client[0]["spanId"])

    def test_refused_connect_is_an_error_span(self):
        shim = self.run_shim([target("t_net_refused")])
        spans = folder_spans(self.one_folder(shim, "t_net_refused"))
        connects = [s for s in spans if s["name"] == "connect"]
        self.assertEqual(len(connects), 3)
        self.assertEqual({s["attrs"]["error.type"] for s in connects}, {"ECONNREFUSED"})
        self.assertEqual([s for s in spans if s["name"] == "connection"], [])


class TestContext(SpanTest):
    def test_children_get_context_and_preload_back(self):
        env = {"TRACEPARENT": TRACEPARENT}
        shim = self.run_shim([target("t_span_exec"), target("t_span_child")], env=env)
        self.assertEqual(shim.rc, 0, shim.stderr)
        parent = folder_spans(self.main_folder(shim, "t_span_exec"))[0]
        lines = shim.stdout.decode().split("\n")[:-1]
        self.assertEqual([l.split()[0] for l in lines], ["execve", "posix_spawn", "execle"])
        children = {}
        for f in shim.folders("t_span_child").values():
            root = folder_spans(f)[0]
            children[root["spanId"]] = root
        self.assertEqual(len(children), 3)
        for line in lines:
            how, tp, preload = line.split()
            self.assertEqual(preload, "1", line)  # LD_PRELOAD came back
            ver, trace, span, flags = tp.split("-")
            self.assertEqual((ver, trace, flags), ("00", TP_TRACE, "01"), line)
            # the TRACEPARENT a child got names a span of this process tree
            self.assertNotEqual(span, "2222222222222222")
        for root in children.values():
            self.assertEqual(root["traceId"], TP_TRACE)
        # posix_spawn: the child's parent is the spawning process's root span
        spawned = [r for r in children.values() if r["parentSpanId"] == parent["spanId"]]
        self.assertEqual(len(spawned), 1)

    def test_follow_exec_off_keeps_context_only(self):
        env = {"TRACEPARENT": TRACEPARENT, "SHIMMER_FOLLOW_EXEC": "0"}
        shim = self.run_shim([target("t_span_exec"), target("t_span_child")], env=env)
        self.assertEqual(shim.rc, 0)
        for line in shim.stdout.decode().splitlines():
            how, tp, preload = line.split()
            self.assertEqual(preload, "0", line)
            self.assertEqual(tp.split("-")[1], TP_TRACE)
        self.assertEqual(shim.folders("t_span_child"), {})

    def test_shell_tree_is_one_trace(self):
        script = "cat /etc/hostname >/dev/null; sh -c 'cat /etc/hostname' >/dev/null; true"
        shim = self.run_shim(["sh", "-c", script], env={"TRACEPARENT": TRACEPARENT})
        self.assertEqual(shim.rc, 0)
        roots = {}
        for name, f in shim.folders().items():
            for s in folder_spans(f):
                self.assertEqual(s["traceId"], TP_TRACE, name)
            root = folder_spans(f)[0]
            roots[root["spanId"]] = (name, root)
        self.assertGreaterEqual(len(roots), 3)
        top = [n for n, r in roots.values() if r["parentSpanId"] == TP_SPAN]
        self.assertEqual(len(top), 1, top)
        for name, r in roots.values():
            self.assertTrue(r["parentSpanId"] == TP_SPAN or r["parentSpanId"] in roots, name)

    def test_invalid_traceparent_is_one_line(self):
        shim = self.run_shim(["true"], env={"TRACEPARENT": "00-zz-00-01"})
        self.assertEqual(shim.rc, 0)
        lines = shim.shimmer_lines()
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("TRACEPARENT", lines[0])
        root = folder_spans(self.one_folder(shim, "true"))[0]
        self.assertNotIn("parentSpanId", root)
        self.assertEqual(root["flags"] & 0x3, 0x3)  # sampled, random trace id

    def test_sampler_off_records_nothing_but_passes_context(self):
        env = {"TRACEPARENT": TRACEPARENT, "OTEL_TRACES_SAMPLER": "always_off"}
        shim = self.run_shim([target("t_span_exec"), target("t_span_child")], env=env)
        self.assertEqual(shim.rc, 0)
        for f in shim.folders("t_span_exec").values():
            self.assertEqual(folder_spans(f), [])
        for line in shim.stdout.decode().splitlines():
            self.assertTrue(line.split()[1].endswith("-00"), line)

    def test_parentbased_follows_unsampled_parent(self):
        env = {"TRACEPARENT": TRACEPARENT[:-2] + "00"}
        shim = self.run_shim(["true"], env=env)
        self.assertEqual(folder_spans(self.one_folder(shim, "true")), [])
        self.fresh()
        shim = self.run_shim(["true"], env=dict(env, OTEL_TRACES_SAMPLER="always_on"))
        self.assertEqual(len(folder_spans(self.one_folder(shim, "true"))), 1)

    def test_sdk_disabled(self):
        shim = self.run_shim(["true"], env={"OTEL_SDK_DISABLED": "true"})
        self.assertEqual(folder_spans(self.one_folder(shim, "true")), [])

    def test_bad_settings_turn_off(self):
        for var, val in (("SHIMMER_SPAN_MIN_US", "-1"), ("SHIMMER_SLOW_CALL_MS", "x"),
                         ("SHIMMER_CAPTURE_ARGS", "2"), ("SHIMMER_FOLLOW_EXEC", "yes"),
                         ("SHIMMER_EXIT_FLUSH_MS", "1e3")):
            shim = self.run_shim(["true"], env={var: val})
            self.assertEqual(shim.rc, 0)
            lines = shim.shimmer_lines()
            self.assertEqual(len(lines), 1, lines)
            self.assertIn(var, lines[0])

    def test_capture_args(self):
        shim = self.run_shim(["sh", "-c", "true", "secret-arg"])
        root = folder_spans(self.one_folder(shim, "sh"))[0]
        self.assertNotIn("process.command_line", root["attrs"])
        self.fresh()
        shim = self.run_shim(["sh", "-c", "true", "secret-arg"], env={"SHIMMER_CAPTURE_ARGS": "1"})
        root = folder_spans(self.one_folder(shim, "sh"))[0]
        self.assertEqual(root["attrs"]["process.command_line"], "sh -c true secret-arg")


class TestTraceFiles(SpanTest):
    def test_chrome_and_ndjson(self):
        pf = os.path.join(self.tmp, "port")
        shim = self.run_shim([target("t_net_tcp"), pf], env={"TRACEPARENT": TRACEPARENT})
        folder = self.one_folder(shim, "t_net_tcp")
        with open(os.path.join(folder, "trace.chrome.json")) as f:
            doc = json.load(f)
        ev = doc["traceEvents"]
        pid = int(folder.rsplit(".", 1)[1])
        self.assertTrue(all(e["pid"] == pid for e in ev))
        meta = [e for e in ev if e["ph"] == "M"]
        self.assertIn("process_name", [e["name"] for e in meta])
        xs = [e for e in ev if e["ph"] == "X"]
        self.assertIn("t_net_tcp", [e["name"] for e in xs])
        # strict nesting per thread, parents first (ts asc, dur desc)
        by_tid = {}
        for e in xs:
            by_tid.setdefault(e["tid"], []).append(e)
        for tid, lst in by_tid.items():
            stack = []
            for e in lst:
                while stack and e["ts"] >= stack[-1]:
                    stack.pop()
                if stack:
                    self.assertLessEqual(e["ts"] + e["dur"], stack[-1] + 1e-6)
                stack.append(e["ts"] + e["dur"])
        asyncs = [e for e in ev if e["ph"] in "be"]
        self.assertEqual(sorted(e["ph"] for e in asyncs), ["b", "b", "e", "e"])
        with open(os.path.join(folder, "events.ndjson")) as f:
            lines = [json.loads(l) for l in f]
        self.assertEqual({l["trace_id"] for l in lines}, {TP_TRACE})
        for l in lines:
            for k in ("timestamp", "severity", "body", "span_id", "pid", "tid", "attributes"):
                self.assertIn(k, l)
        bodies = [l["body"] for l in lines]
        self.assertTrue(bodies[0].startswith("process start"), bodies)
        self.assertEqual(len([b for b in bodies if b.startswith("connection open")]), 2)
        self.assertEqual([l["timestamp"] for l in lines], sorted(l["timestamp"] for l in lines))
        # jq reads every line
        out = subprocess.run(["jq", "-r", ".trace_id"], input=open(
            os.path.join(folder, "events.ndjson"), "rb").read(), capture_output=True)
        self.assertEqual(out.returncode, 0)
        self.assertEqual(set(out.stdout.decode().split()), {TP_TRACE})


class TestPush(SpanTest):
    def push_env(self, url, **extra):
        env = {"OTEL_EXPORTER_OTLP_ENDPOINT": url, "OTEL_BSP_SCHEDULE_DELAY": "200",
               "TRACEPARENT": TRACEPARENT, "OTEL_SERVICE_NAME": "svc-test"}
        env.update(extra)
        return env

    def test_delivered_with_resource(self):
        rx = Receiver()
        try:
            scratch = os.path.join(self.tmp, "s")
            os.makedirs(scratch)
            env = self.push_env(rx.url, OTEL_RESOURCE_ATTRIBUTES="deployment.environment=t%20est",
                                OTEL_EXPORTER_OTLP_HEADERS="x-token=abc%3D1")
            bare, shim = self.assertTransparentRc([target("t_span_file"), scratch], env)
        finally:
            rx.close()
        self.assertEqual({p[0] for p in rx.posts}, {"/v1/traces"})
        self.assertEqual({p[1]["Content-Type"] for p in rx.posts}, {"application/json"})
        self.assertEqual({p[1]["x-token"] for p in rx.posts}, {"abc=1"})
        got = requests_spans(json.dumps(r) for r in rx.delivered())
        file_spans = folder_spans(self.one_folder(shim, "t_span_file"))
        self.assertEqual(sorted(s["spanId"] for _, s in got),
                         sorted(s["spanId"] for s in file_spans))
        ra = got[0][0]
        self.assertEqual(ra["service.name"], "svc-test")
        self.assertEqual(ra["deployment.environment"], "t est")
        self.assertEqual(ra["telemetry.sdk.name"], "shimmer")

    def assertTransparentRc(self, cmd, env):
        bare = self.run_bare(cmd, env=env)
        shim = self.run_shim(cmd, env=env)
        self.assertEqual((shim.stdout, shim.rc), (bare.stdout, bare.rc))
        self.assertEqual(shim.other_stderr(), bare.other_stderr())
        return bare, shim

    def test_gzip(self):
        rx = Receiver()
        try:
            self.run_shim(["true"], env=self.push_env(rx.url, OTEL_EXPORTER_OTLP_COMPRESSION="gzip"))
        finally:
            rx.close()
        import gzip
        self.assertEqual(len(rx.posts), 1)
        path, hdr, body, st = rx.posts[0]
        self.assertEqual(hdr["Content-Encoding"], "gzip")
        req = json.loads(gzip.decompress(body))
        self.assertEqual(req["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["name"], "true")

    def test_503_then_200_is_retried(self):
        rx = Receiver([503, 200])
        try:
            shim = self.run_shim(["true"], env=self.push_env(rx.url))
        finally:
            rx.close()
        self.assertEqual([p[3] for p in rx.posts], [503, 200])
        self.assertEqual(shim.shimmer_lines(), [])
        self.assertEqual(rx.posts[0][2], rx.posts[1][2])

    def test_400_is_not_retried(self):
        rx = Receiver([400])
        try:
            shim = self.run_shim(["true"], env=self.push_env(rx.url))
        finally:
            rx.close()
        self.assertEqual([p[3] for p in rx.posts], [400])
        lines = shim.shimmer_lines()
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("HTTP 400; 1 span dropped", lines[0])
        nd = open(os.path.join(self.one_folder(shim, "true"), "events.ndjson")).read()
        self.assertIn('"shimmer.export_dropped":1', nd)

    def test_refused_endpoint(self):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        cmd = ["sh", "-c", "echo hi; exit 4"]
        env = self.push_env("http://127.0.0.1:%d" % port)
        bare = self.run_bare(cmd, env=env)
        shim = self.run_shim(cmd, env=env)
        self.assertEqual((shim.stdout, shim.rc), (bare.stdout, bare.rc))
        lines = shim.shimmer_lines()
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("not delivered", lines[0])

    def test_silent_endpoint_bounded_by_exit_flush(self):
        rx = Receiver([None])
        try:
            env = self.push_env(rx.url, SHIMMER_EXIT_FLUSH_MS="500")
            t0 = time.monotonic()
            shim = self.run_shim(["true"], env=env, timeout=20)
            took = time.monotonic() - t0
        finally:
            rx.close()
        self.assertEqual(shim.rc, 0)
        lines = shim.shimmer_lines()
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("1 span dropped", lines[0])
        self.assertLess(took, 10)  # bounded (500 ms asked); a hang would take 30 s


if __name__ == "__main__":
    unittest.main()
