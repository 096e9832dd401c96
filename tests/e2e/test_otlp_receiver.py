# SPDX-License-Identifier: MIT
"""The OTLP test receiver (tests/otlp/receiver.js) proven on its own: hand-written
valid and invalid OTLP/JSON requests over HTTP and through --validate, and its
fault modes (503 with Retry-After, never answering)."""
import copy
import gzip
import json
import os
import shutil
import socket
import tempfile
import unittest
import urllib.error
import urllib.request

from otlplib import Receiver, chrome_check, spans, validate

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
SPAN = "00f067aa0ba902b7"
PARENT = "53995c3f42cd8ad8"


def request(**span_over):
    span = {
        "traceId": TRACE, "spanId": SPAN, "parentSpanId": PARENT, "name": "dns lookup",
        "kind": 3, "startTimeUnixNano": "1700000000000000000",
        "endTimeUnixNano": "1700000000000500000", "flags": 257,
        "attributes": [
            {"key": "dns.question.name", "value": {"stringValue": "example.test"}},
            {"key": "dns.answers", "value": {"intValue": "2"}},
            {"key": "ok", "value": {"boolValue": True}},
            {"key": "ratio", "value": {"doubleValue": 0.5}},
            {"key": "list", "value": {"arrayValue": {"values": [{"stringValue": "a"}]}}},
        ],
        "status": {"code": 1},
    }
    span.update(span_over)
    for k in [k for k, v in span.items() if v is DROP]:
        del span[k]
    return {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "t"}}]},
        "scopeSpans": [{"scope": {"name": "shimmer", "version": "1"}, "spans": [span]}]}]}


DROP = object()


def post(port, body, ctype="application/json", encoding=None, path="/v1/traces", timeout=10):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": ctype}
    if encoding:
        headers["Content-Encoding"] = encoding
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data,
                                 headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read().decode(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), dict(e.headers)


class TestReceiver(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="shimmer-otlp-")
        cls.rx = Receiver(cls.tmp)

    @classmethod
    def tearDownClass(cls):
        cls.rx.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def last(self):
        return self.rx.records()[-1]

    def test_valid_request(self):
        status, body, _ = post(self.rx.port, request())
        self.assertEqual((status, json.loads(body)), (200, {}))
        rec = self.last()
        self.assertEqual((rec["status"], rec["errors"], rec["warnings"]), (200, [], []))
        (s,) = spans([rec])
        self.assertEqual((s.trace_id, s.span_id, s.parent), (TRACE, SPAN, PARENT))
        self.assertEqual(s.attrs, {"dns.question.name": "example.test", "dns.answers": 2,
                                   "ok": True, "ratio": 0.5, "list": ["a"]})
        self.assertEqual((s.kind, s.status, s.raw["flags"]), (3, 1, 257))
        # canonical form: 64-bit integers as strings, defaults filled in
        self.assertEqual(s.raw["startTimeUnixNano"], "1700000000000000000")
        self.assertEqual(s.raw["droppedAttributesCount"], 0)
        self.assertEqual(s.resource, {"service.name": "t"})

    def test_gzip_and_uppercase_hex(self):
        body = gzip.compress(json.dumps(request(traceId=TRACE.upper())).encode())
        status, _, _ = post(self.rx.port, body, encoding="gzip")
        self.assertEqual(status, 200)
        self.assertEqual(spans([self.last()])[0].trace_id, TRACE)

    def test_lenient_where_the_spec_says_so(self):
        # 64-bit integers as numbers, unknown fields, null, no parent: accepted
        r = request(startTimeUnixNano=1700000000000000000, parentSpanId="", futureField={"x": 1},
                    traceState=None)
        status, _, _ = post(self.rx.port, r)
        self.assertEqual(status, 200)
        rec = self.last()
        self.assertEqual(rec["errors"], [])
        self.assertTrue(any("JSON number" in w for w in rec["warnings"]), rec["warnings"])
        self.assertEqual(spans([rec])[0].parent, "")

    def test_empty_request(self):
        self.assertEqual(post(self.rx.port, {})[0], 200)

    def assertRejected(self, body, why, **kw):
        status, text, _ = post(self.rx.port, body, **kw)
        rec = self.last()
        self.assertIn(status, (400, 415))
        self.assertNotEqual(rec["status"], 200)
        self.assertTrue(any(why in e for e in rec["errors"]), (why, rec["errors"]))
        self.assertIn(why, json.loads(text)["message"])
        return status

    def test_invalid_requests(self):
        cases = [
            (request(traceId="S/kvNXezTaajzpKeDg5HNg=="), "hex, not base64"),
            (request(spanId=SPAN[:-2]), "16 hex characters"),
            (request(parentSpanId="zz" * 8), "16 hex characters"),
            (request(traceId="0" * 32), "all zeros"),
            (request(traceId=DROP), "needs a traceId and a spanId"),
            (request(kind="SPAN_KIND_CLIENT"), "must be an integer"),
            (request(status={"code": "STATUS_CODE_OK"}), "must be an integer"),
            (request(startTimeUnixNano="17e17"), "not a decimal integer"),
            (request(startTimeUnixNano=1.5), "not an integer"),
            (request(endTimeUnixNano="-1"), "out of range"),
            (request(name=5), "expected a string"),
            (request(attributes={"key": "a"}), "expected an array"),
            (request(attributes=[{"key": "a", "value": {"intValue": "x1"}}]), "not a decimal"),
            (request(attributes=[{"key": "a", "value": {"stringValue": "x", "intValue": "1"}}]),
             "oneof value already set"),
            (request(flags="257x"), "not a decimal integer"),
        ]
        snake = request()
        sp = snake["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
        sp["start_time_unix_nano"] = sp.pop("startTimeUnixNano")
        cases.append((snake, "not lowerCamelCase"))
        notlist = copy.deepcopy(request())
        notlist["resourceSpans"] = {}
        cases.append((notlist, "expected an array"))
        for body, why in cases:
            with self.subTest(why=why):
                self.assertEqual(self.assertRejected(body, why), 400)
        self.assertEqual(self.assertRejected(b"{not json", "not JSON"), 400)
        self.assertEqual(self.assertRejected(b"[]", "expected a JSON object"), 400)
        self.assertEqual(self.assertRejected(request(), "Content-Type must be application/json",
                                             ctype="application/x-protobuf"), 415)
        self.assertEqual(self.assertRejected(b"\x1f\x8bxx", "does not gunzip", encoding="gzip"),
                         400)

    def test_logs_and_paths(self):
        logs = {"resourceLogs": [{"scopeLogs": [{"logRecords": [{
            "timeUnixNano": "1", "severityNumber": 9, "severityText": "INFO",
            "body": {"stringValue": "hi"}, "traceId": TRACE, "spanId": SPAN}]}]}]}
        self.assertEqual(post(self.rx.port, logs, path="/v1/logs")[0], 200)
        self.assertEqual(self.last()["signal"], "logs")
        self.assertEqual(post(self.rx.port, request(), path="/v1/other")[0], 404)


class TestReceiverModes(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="shimmer-otlp-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def test_fail_then_accept(self):
        rx = Receiver(self.tmp, "--fail", "2", "--retry-after", "1")
        try:
            got = [post(rx.port, request()) for _ in range(3)]
        finally:
            rx.stop()
        self.assertEqual([g[0] for g in got], [503, 503, 200])
        self.assertEqual(got[0][2].get("Retry-After"), "1")
        recs = rx.records()
        self.assertEqual([(r["status"], r["injected"]) for r in recs],
                         [(503, True), (503, True), (200, False)])
        self.assertEqual(len(spans(recs)), 1)

    def test_hang(self):
        rx = Receiver(self.tmp, "--hang")
        try:
            with self.assertRaises((socket.timeout, urllib.error.URLError, TimeoutError)):
                post(rx.port, request(), timeout=1)
            recs = rx.wait_for(lambda r: len(r) == 1)
        finally:
            rx.stop()
        self.assertEqual((recs[0]["hung"], recs[0]["status"]), (True, 0))

    def test_validate_file(self):
        good = os.path.join(self.tmp, "good.json")
        with open(good, "w") as f:
            f.write(json.dumps(request()) + "\n" + json.dumps(request(spanId=PARENT)) + "\n")
        rc, summary, recs = validate(good, os.path.join(self.tmp, "good.out"))
        self.assertEqual((rc, summary["lines"], summary["valid"], summary["spans"]), (0, 2, 2, 2))
        self.assertEqual(len(spans(recs)), 2)
        bad = os.path.join(self.tmp, "bad.json")
        with open(bad, "w") as f:
            f.write(json.dumps(request()) + "\n" + json.dumps(request(kind="CLIENT")) + "\n\n")
        rc, summary, _ = validate(bad)
        self.assertEqual((rc, summary["lines"], summary["valid"]), (1, 3, 1))
        self.assertEqual([e["line"] for e in summary["errors"]], [2, 3])


    def test_chrome_check(self):
        ev = [{"name": "process_name", "ph": "M", "pid": 100, "tid": 100, "args": {"name": "p"}},
              {"name": "thread_name", "ph": "M", "pid": 100, "tid": 101, "args": {"name": "w"}},
              {"name": "proc", "ph": "X", "ts": 1000, "dur": 5000, "pid": 100, "tid": 100},
              {"name": "connect", "ph": "X", "ts": 1200, "dur": 100, "pid": 100, "tid": 100},
              {"name": "read", "ph": "X", "ts": 1250, "dur": 10, "pid": 100, "tid": 100},
              {"name": "dns", "ph": "X", "ts": 1100, "dur": 50, "pid": 100, "tid": 101}]
        path = os.path.join(self.tmp, "t.json")
        with open(path, "w") as f:
            json.dump({"traceEvents": ev}, f)
        got = chrome_check(path)["processes"]["100"]
        self.assertEqual(got["name"], "p")
        self.assertEqual(got["threads"]["100"], {"name": None, "entries": 3, "treeNodes": 3,
                                                 "nests": True})
        self.assertEqual(got["threads"]["101"]["name"], "w")
        # an X event crossing its neighbour's end: not nested, left out of the tree
        ev.append({"name": "bad", "ph": "X", "ts": 1280, "dur": 200, "pid": 100, "tid": 100})
        with open(path, "w") as f:
            json.dump({"traceEvents": ev}, f)
        t = chrome_check(path)["processes"]["100"]["threads"]["100"]
        self.assertEqual((t["entries"], t["treeNodes"], t["nests"]), (4, 3, False))


if __name__ == "__main__":
    unittest.main()
