# SPDX-License-Identifier: MIT
"""Metrics: metrics.prom and the live /metrics endpoint, checked with promtool
and a real Prometheus server, against the exact counts of a long-running
target (tests/targets/t_metrics.c); endpoint faults leave the target alone."""
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse
import urllib.request

from shimlib import ShimTest, base_env, preload, target

PROMTOOL = shutil.which("promtool")
PROMETHEUS = shutil.which("prometheus")
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_prom(text):
    """Exposition text -> list of (name, labels dict, float value)."""
    out = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        if not m:
            raise AssertionError("not an exposition line: %r" % line)
        labels = {k: re.sub(r'\\(.)', lambda x: {"n": "\n"}.get(x.group(1), x.group(1)), v)
                  for k, v in LABEL.findall(m.group(2) or "")}
        out.append((m.group(1), labels, float(m.group(3))))
    return out


def value(samples, name, **want):
    """The one sample of name whose labels include want; None when absent."""
    hits = [v for n, l, v in samples if n == name and all(l.get(k) == w for k, w in want.items())]
    if len(hits) > 1:
        raise AssertionError("%d series of %s%s" % (len(hits), name, want))
    return hits[0] if hits else None


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def scrape(port, timeout=15):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=timeout) as r:
        ctype = r.headers.get("Content-Type", "")
        return r.status, ctype, r.read().decode()


class Target:
    """t_metrics under the shim (or bare), reading its "ready N" lines."""

    def __init__(self, tmp, out, nwrites, nfails, nmsgs, env=None, shim=True, nfiles=0):
        self.dir = tempfile.mkdtemp(dir=tmp)
        e = base_env(env)
        if shim:
            e["SHIMMER_OUT"] = out
            e["LD_PRELOAD"] = preload()
        self.out = out
        self.p = subprocess.Popen([target("t_metrics"), self.dir, str(nwrites), str(nfails),
                                   str(nmsgs), str(nfiles)], env=e, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE)
        self.stdout = b""

    def wait_ready(self, batch, timeout=30):
        want = b"ready %d\n" % batch
        end = time.time() + timeout
        while want not in self.stdout:
            left = end - time.time()
            if left <= 0 or self.p.poll() is not None:
                raise AssertionError("target not ready (%r)" % self.stdout)
            if select.select([self.p.stdout], [], [], left)[0]:
                chunk = os.read(self.p.stdout.fileno(), 4096)
                if not chunk:
                    raise AssertionError("target closed stdout (%r)" % self.stdout)
                self.stdout += chunk

    def batch(self, n):
        self.p.send_signal(signal.SIGUSR1)
        self.wait_ready(n)

    def run_dir(self):
        return os.path.join(self.out, "t_metrics.%d" % self.p.pid)

    def port(self, timeout=10):
        path = os.path.join(self.run_dir(), "metrics.port")
        end = time.time() + timeout
        while not os.path.exists(path) and time.time() < end:
            time.sleep(0.05)
        with open(path) as f:
            return int(f.read())

    def stop(self, timeout=30):
        self.p.send_signal(signal.SIGTERM)
        rest, err = self.p.communicate(timeout=timeout)
        self.stdout += rest
        self.stderr = err.decode(errors="replace")
        return self.p.returncode

    def shimmer_lines(self):
        return [l for l in self.stderr.splitlines() if l.startswith("shimmer: ")]

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.communicate()


class MetricsTest(ShimTest):
    N, M, K = 1000, 17, 50

    def setUp(self):
        super().setUp()
        self.targets = []

    def tearDown(self):
        for t in self.targets:
            t.kill()
        super().tearDown()

    def start(self, env=None, n=None, m=None, k=None, shim=True, files=0):
        e = {"SHIMMER_METRICS_ADDR": "127.0.0.1:0"}
        e.update(env or {})
        t = Target(self.tmp, self.out, n or self.N, self.M if m is None else m,
                   self.K if k is None else k, env=e, shim=shim, nfiles=files)
        self.targets.append(t)
        t.wait_ready(1)
        return t

    def promtool(self, text):
        p = subprocess.run([PROMTOOL, "check", "metrics"], input=text.encode(),
                           capture_output=True)
        self.assertEqual(p.returncode, 0, "promtool: %s%s" % (p.stdout.decode(),
                                                              p.stderr.decode()))

    def check_counts(self, s, batches, pid, m=None, k=None, files=0):
        n, m, k = self.N * batches, (self.M if m is None else m) * batches, \
            (self.K if k is None else k) * batches
        self.assertEqual(value(s, "shimmer_calls_total", function="write"), n)
        self.assertEqual(value(s, "shimmer_io_bytes_total", function="write",
                               direction="write"), 100 * n)
        self.assertEqual(value(s, "shimmer_calls_total", function="open"),
                         m + 1 + files * batches)
        self.assertEqual(value(s, "shimmer_errors_total", function="open",
                               error_type="ENOENT"), m or None)
        self.assertEqual(value(s, "shimmer_calls_total", family="net", function="send"), k)
        self.assertEqual(value(s, "shimmer_io_bytes_total", function="send",
                               direction="transmit"), 10 * k)
        self.assertEqual(value(s, "shimmer_io_bytes_total", function="recv",
                               direction="receive"), 10 * k)
        # the histogram: every call in exactly one bucket, buckets cumulative
        buckets = sorted((float(l["le"]), v) for name, l, v in s
                         if name == "shimmer_call_duration_seconds_bucket"
                         and l.get("function") == "write")
        self.assertEqual(len(buckets), 16)
        self.assertEqual(buckets[-1], (float("inf"), n))
        self.assertEqual([v for _, v in buckets], sorted(v for _, v in buckets))
        self.assertEqual(value(s, "shimmer_call_duration_seconds_count", function="write"), n)
        self.assertGreater(value(s, "shimmer_call_duration_seconds_sum", function="write"), 0)
        # Shimmer's own listener and scrape connections are not the target's
        for fn in ("accept", "accept4", "listen", "bind", "poll"):
            self.assertIsNone(value(s, "shimmer_calls_total", function=fn), fn)
        for name, labels, _ in s:
            self.assertEqual(labels.get("pid"), str(pid), name)
        self.assertEqual(value(s, "shimmer_open_fds", kind="file"), 1)
        self.assertEqual(value(s, "shimmer_open_fds", kind="socket"), 2)
        self.assertEqual(value(s, "shimmer_threads"), 1)
        for name in ("process_cpu_seconds_total", "process_resident_memory_bytes",
                     "process_open_fds", "process_start_time_seconds"):
            self.assertIsNotNone(value(s, name), name)
        self.assertAlmostEqual(value(s, "process_start_time_seconds"), time.time(), delta=600)


@unittest.skipUnless(PROMTOOL, "promtool (Debian package prometheus) not installed")
class TestExposition(MetricsTest):
    def test_scrape_and_file_exact_and_promtool_clean(self):
        bare = Target(self.tmp, self.out, self.N, self.M, self.K, shim=False)
        bare.wait_ready(1)
        self.assertEqual(bare.stop(), 0)
        t = self.start({"OTEL_SERVICE_NAME": 'svc "quoted"\\x'})
        port = t.port()
        status, ctype, text = scrape(port)
        self.assertEqual(status, 200)
        self.assertTrue(ctype.startswith("text/plain; version=0.0.4"), ctype)
        self.promtool(text)
        s = parse_prom(text)
        self.check_counts(s, 1, t.p.pid)
        self.assertEqual({l["service_name"] for _, l, _ in s}, {'svc "quoted"\\x'})
        # the process figures as /proc says them: start time = btime + the
        # start in clock ticks (exact); every fd, Shimmer's own too (a few
        # come and go around the scrape: its connection)
        with open("/proc/stat") as f:
            btime = next(int(l.split()[1]) for l in f if l.startswith("btime "))
        with open("/proc/%d/stat" % t.p.pid) as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        start = btime + ticks / os.sysconf("SC_CLK_TCK")
        self.assertAlmostEqual(value(s, "process_start_time_seconds"), start, delta=1e-3)
        self.assertAlmostEqual(value(s, "process_open_fds"),
                               len(os.listdir("/proc/%d/fd" % t.p.pid)), delta=3)
        # a second scrape sees the same counts: scraping is never counted
        self.assertEqual(value(parse_prom(scrape(port)[2]), "shimmer_calls_total",
                               function="write"), self.N)
        self.assertEqual(t.stop(), 0)
        self.assertEqual(t.stdout, bare.stdout)
        self.assertEqual(t.shimmer_lines(), [])
        with open(os.path.join(t.run_dir(), "metrics.prom")) as f:
            text = f.read()
        self.promtool(text)
        self.check_counts(parse_prom(text), 1, t.p.pid)
        self.assertAlmostEqual(value(parse_prom(text), "process_start_time_seconds"), start,
                               delta=1e-3)

    def test_other_paths_and_methods(self):
        t = self.start()
        port = t.port()
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen("http://127.0.0.1:%d/nothing" % port, timeout=10)
        self.assertEqual(e.exception.code, 404)
        req = urllib.request.Request("http://127.0.0.1:%d/metrics" % port, data=b"x")
        with self.assertRaises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=10)
        self.assertEqual(e.exception.code, 405)
        self.assertEqual(t.stop(), 0)

    def test_top_resources_bound_cardinality(self):
        t = self.start({"SHIMMER_METRICS_TOP": "3"}, files=40)
        s = parse_prom(scrape(t.port())[2])
        for name in ("shimmer_resource_operations_total", "shimmer_resource_errors_total",
                     "shimmer_resource_duration_seconds_total"):
            self.assertEqual(len([1 for n, _, _ in s if n == name]), 3, name)
        self.assertEqual(t.stop(), 0)
        with open(os.path.join(t.run_dir(), "metrics.prom")) as f:
            s = parse_prom(f.read())
        # 40 files, data.bin and the socketpair; only 3 are series
        self.assertEqual(len([1 for n, _, _ in s if n == "shimmer_resource_operations_total"]), 3)
        self.check_counts(s, 1, t.p.pid, files=40)

    def test_processes_get_their_own_ports(self):
        a, b = self.start(), self.start()
        pa, pb = a.port(), b.port()
        self.assertNotEqual(pa, pb)
        self.assertEqual(value(parse_prom(scrape(pa)[2]), "shimmer_threads",
                               pid=str(a.p.pid)), 1)
        self.assertEqual(value(parse_prom(scrape(pb)[2]), "shimmer_threads",
                               pid=str(b.p.pid)), 1)
        self.assertEqual((a.stop(), b.stop()), (0, 0))

    def test_bad_address_is_one_line(self):
        r = self.run_shim([target("t_write"), os.path.join(self.tmp, "d")],
                          env={"SHIMMER_METRICS_ADDR": "127.0.0.1:99999"})
        self.assertEqual(r.rc, 0)
        lines = r.shimmer_lines()
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("SHIMMER_METRICS_ADDR=127.0.0.1:99999", lines[0])


@unittest.skipUnless(PROMTOOL, "promtool (Debian package prometheus) not installed")
class TestEndpointFaults(MetricsTest):
    def test_port_taken(self):
        busy = socket.socket()
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        try:
            bare = Target(self.tmp, self.out, self.N, self.M, self.K, shim=False)
            bare.wait_ready(1)
            bare.stop()
            t = self.start({"SHIMMER_METRICS_ADDR": "127.0.0.1:%d" % port})
            self.assertEqual(t.stop(), 0)
        finally:
            busy.close()
        self.assertEqual(t.stdout, bare.stdout)
        lines = t.shimmer_lines()
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("127.0.0.1:%d" % port, lines[0])
        self.assertIn("in use", lines[0])
        self.assertFalse(os.path.exists(os.path.join(t.run_dir(), "metrics.port")))
        with open(os.path.join(t.run_dir(), "metrics.prom")) as f:
            self.check_counts(parse_prom(f.read()), 1, t.p.pid)

    def test_silent_and_non_reading_clients(self):
        # many resources: a body (> 500 kB) bigger than the endpoint's send
        # buffer (128 KiB, doubled by the kernel) plus the small window of the
        # client that never reads, so the worker's write really has to give up
        t = self.start({"SHIMMER_METRICS_TOP": "1000"}, files=1000)
        port = t.port()
        silent = socket.create_connection(("127.0.0.1", port))
        deaf = socket.socket()
        deaf.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
        deaf.connect(("127.0.0.1", port))
        deaf.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            # the target works on while they hang: a whole batch, promptly
            t.batch(2)
            status, _, text = scrape(port, timeout=30)
            self.assertEqual(status, 200)
            self.promtool(text)
            self.assertGreater(len(text), 500000)
            self.check_counts(parse_prom(text), 2, t.p.pid, files=1000)
        finally:
            silent.close()
            deaf.close()
        self.assertEqual(t.stop(), 0)
        self.assertEqual(t.stdout, b"ready 1\nready 2\nbatches 2, failed opens 34\n")
        self.assertEqual(t.shimmer_lines(), [])

    def test_hundred_concurrent_scrapes(self):
        t = self.start()
        port = t.port()
        results = [None] * 100

        def one(i):
            try:
                results[i] = scrape(port, timeout=60)[2]
            except OSError as e:  # dropped: allowed, never a crash
                results[i] = e

        threads = [threading.Thread(target=one, args=(i,)) for i in range(100)]
        for th in threads:
            th.start()
        t.batch(2)  # the target works while it is being scraped
        for th in threads:
            th.join(120)
        served = [r for r in results if isinstance(r, str)]
        self.assertGreater(len(served), 0)
        for text in served:
            w = value(parse_prom(text), "shimmer_calls_total", function="write")
            self.assertTrue(self.N <= w <= 2 * self.N, w)
        self.promtool(served[-1])
        # the endpoint is still alive and exact afterwards
        self.check_counts(parse_prom(scrape(port)[2]), 2, t.p.pid)
        self.assertEqual(t.stop(), 0)
        self.assertEqual(t.stdout, b"ready 1\nready 2\nbatches 2, failed opens 34\n")
        self.assertEqual(t.shimmer_lines(), [])
        with open(os.path.join(t.run_dir(), "metrics.prom")) as f:
            self.check_counts(parse_prom(f.read()), 2, t.p.pid)


@unittest.skipUnless(PROMETHEUS, "prometheus (Debian package) not installed")
class TestPrometheusServer(MetricsTest):
    N, M, K = 1234, 5, 7

    def query(self, web, q):
        url = "http://127.0.0.1:%d/api/v1/query?%s" % (web, urllib.parse.urlencode({"query": q}))
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                body = json.load(r)
        except OSError:
            return None  # not up yet
        self.assertEqual(body["status"], "success")
        res = body["data"]["result"]
        self.assertLessEqual(len(res), 1, res)
        return float(res[0]["value"][1]) if res else None

    def wait_value(self, web, q, want, timeout=60):
        """Poll until q has a value; every value seen is in `allowed`, the last is want."""
        end, seen = time.time() + timeout, []
        while time.time() < end:
            v = self.query(web, q)
            if v is not None and (not seen or seen[-1] != v):
                seen.append(v)
            if v == want:
                return seen
            time.sleep(0.5)
        self.fail("%s never reached %s (seen %s)" % (q, want, seen))

    def test_prometheus_scrapes_exact_counts(self):
        t = self.start()
        port, web = t.port(), free_port()
        pdir = os.path.join(self.tmp, "prom")
        os.makedirs(pdir)
        cfg = os.path.join(pdir, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                    "scrape_configs:\n  - job_name: shimmer\n    static_configs:\n"
                    "      - targets: ['127.0.0.1:%d']\n" % port)
        log = open(os.path.join(pdir, "log"), "w")
        prom = subprocess.Popen([PROMETHEUS, "--config.file=" + cfg,
                                 "--storage.tsdb.path=" + os.path.join(pdir, "data"),
                                 "--web.listen-address=127.0.0.1:%d" % web],
                                stdout=log, stderr=subprocess.STDOUT, cwd=pdir)
        try:
            sel = '{job="shimmer",pid="%d",function="%%s"}' % t.p.pid
            seen = self.wait_value(web, "shimmer_calls_total" + sel % "write", self.N)
            self.assertEqual(seen, [self.N])
            self.assertEqual(self.query(web, "up{job=\"shimmer\"}"), 1)
            self.assertEqual(self.query(web, "shimmer_io_bytes_total" + sel % "write"),
                             100 * self.N)
            self.assertEqual(self.query(web, "shimmer_errors_total" + sel % "open"), self.M)
            self.assertEqual(self.query(web, "shimmer_calls_total" + sel % "send"), self.K)
            self.assertEqual(self.query(web, "shimmer_call_duration_seconds_count" +
                                        sel % "write"), self.N)
            self.assertEqual(self.query(
                web, 'shimmer_call_duration_seconds_bucket{function="write",le="+Inf"}'), self.N)
            self.assertIsNotNone(self.query(web, "process_cpu_seconds_total"))
            # a second batch: Prometheus sees exactly N, then exactly 2N
            t.batch(2)
            seen = self.wait_value(web, "shimmer_calls_total" + sel % "write", 2 * self.N)
            self.assertEqual(seen, [self.N, 2 * self.N])
            self.assertEqual(self.query(web, "shimmer_errors_total" + sel % "open"), 2 * self.M)
        finally:
            prom.terminate()
            try:
                prom.wait(30)
            except subprocess.TimeoutExpired:
                prom.kill()
                prom.wait()
            log.close()
        self.assertEqual(t.stop(), 0)
        self.assertEqual(t.stdout, b"ready 1\nready 2\nbatches 2, failed opens 10\n")
        self.assertEqual(t.shimmer_lines(), [])


if __name__ == "__main__":
    unittest.main()
