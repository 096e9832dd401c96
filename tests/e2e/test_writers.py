# SPDX-License-Identifier: MIT
"""The profile writers on real runs, each output read by its real consumer:
Python's pstats, go tool pprof, xmllint and headless Chromium, speedscope's
file-format rules; SHIMMER_FORMATS, SHIMMER_SORT, `shimmer report`, `run --open`."""
import html
import io
import json
import os
import pstats
import re
import shutil
import struct
import subprocess
import unittest
import zlib

import pprofcheck
from shimlib import SAN, SHIMMER, ShimTest, base_env, target

SRC = os.path.join(os.path.dirname(__file__), "..", "targets", "t_writers.c")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
OUTPUTS = {"profile.txt", "profile.pstats", "cpu.folded", "flamegraph.svg",
           "profile.speedscope.json", "cpu.pb.gz"}


def def_line(func):
    """The source line where func is defined in t_writers.c."""
    with open(SRC) as f:
        for n, line in enumerate(f, 1):
            if re.match(r"^[A-Za-z_].*\b%s\(" % func, line):
                return n
    raise AssertionError("no %s in %s" % (func, SRC))


def png_has_content(path):
    """True when a PNG is not one flat colour: its raw scanlines vary."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    i, idat = 8, b""
    while i < len(data):
        n, kind = struct.unpack(">I4s", data[i:i + 8])
        if kind == b"IDAT":
            idat += data[i + 8:i + 8 + n]
        i += 12 + n
    return len(set(zlib.decompress(idat))) > 20


class WritersRun(ShimTest):
    def run_target(self, env=None, scale="1"):
        data = os.path.join(self.tmp, "lines.txt")
        r = self.run_shim([target("t_writers"), data, scale], env=env)
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(r.stdout, b"ok\n")
        self.assertEqual(r.shimmer_lines(), [])
        folders = r.folders("t_writers")
        self.assertEqual(len(folders), 1, folders)
        return r, next(iter(folders.values()))


class TestWritersReal(WritersRun):
    def setUp(self):
        super().setUp()
        self.r, self.dir = self.run_target()
        self.pid = int(os.path.basename(self.dir).split(".")[1])

    def path(self, name):
        return os.path.join(self.dir, name)

    def test_all_outputs_written(self):
        self.assertTrue(OUTPUTS <= set(os.listdir(self.dir)), os.listdir(self.dir))

    def test_pstats_loads_with_callers(self):
        s = pstats.Stats(self.path("profile.pstats"))
        st = s.stats
        by_name = {k[2]: (k, v) for k, v in st.items()}
        for func in ("main_spin", "worker_spin"):
            key, (cc, nc, tt, ct, callers) = by_name[func]
            self.assertTrue(key[0].endswith("t_writers.c"), key)
            self.assertEqual(key[1], def_line(func))
            self.assertEqual((cc, nc), (0, 0))  # not known: never invented
            self.assertGreater(tt, 0)
            self.assertGreaterEqual(ct, tt)
        self.assertIn("worker", [c[2] for c in by_name["worker_spin"][1][4]])
        wkey, (cc, nc, tt, ct, callers) = by_name["write"]
        self.assertEqual(wkey, ("libc.so.6", 0, "write"))
        self.assertEqual((cc, nc), (200, 200))
        if not SAN:  # under ASan its interceptors are write's callers
            self.assertEqual({c[2]: v[0] for c, v in callers.items()}, {"write_lines": 200})
        out = io.StringIO()
        s.stream = out
        s.sort_stats("cumulative").print_stats()
        s.print_callers()
        text = out.getvalue()
        for name in ("main_spin", "worker_spin", "write", "write_lines"):
            self.assertIn("(%s)" % name, text)

    def test_pstats_with_python_m_pstats(self):
        # the command-line consumer too
        p = subprocess.run(["python3", "-m", "pstats", self.path("profile.pstats")],
                           input=b"sort tottime\nstats 5\nquit\n", capture_output=True,
                           env=base_env(), timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertIn(b"_spin)", p.stdout)

    def test_folded(self):
        total, lines = 0, {}
        with open(self.path("cpu.folded")) as f:
            for line in f:
                m = re.match(r"^(.*) (\d+)$", line.rstrip("\n"))  # speedscope's importer
                self.assertIsNotNone(m, line)
                self.assertNotIn(m.group(1), lines, "a stack printed twice")
                lines[m.group(1)] = int(m.group(2))
                total += int(m.group(2))
        self.assertTrue(any(k.endswith(";main;main_spin") for k in lines), lines)
        self.assertTrue(any(k.endswith(";worker;worker_spin") for k in lines), lines)
        with open(self.path("cpu.pb.gz"), "rb") as f:
            prof = pprofcheck.summary(pprofcheck.decode(f.read()))
        self.assertEqual(total, prof["total"])

    def test_flamegraph_xml_and_titles(self):
        svg = self.path("flamegraph.svg")
        p = subprocess.run(["xmllint", "--noout", svg], capture_output=True, env=base_env())
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(svg) as f:
            text = f.read()
        groups = re.findall(r"<g><title>([^<]*)</title><rect ", text)
        self.assertGreater(len(groups), 5)
        for t in groups:
            self.assertRegex(t, r"^.+ \(\d+ samples, \d+\.\d\d%\)$")
        self.assertRegex(groups[0], r"^all \(\d+ samples, 100\.00%\)$")
        self.assertTrue(any(t.startswith("main_spin (") for t in groups))
        self.assertTrue(any(t.startswith("worker_spin (") for t in groups))
        self.assertIn('width="1200"', text)

    @unittest.skipUnless(CHROMIUM, "chromium is not installed (scripts/install-deps)")
    def test_flamegraph_renders_zooms_and_searches(self):
        png = os.path.join(self.tmp, "fg.png")
        p = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                            "--screenshot=" + png, "--window-size=1200,400",
                            "file://" + self.path("flamegraph.svg")],
                           capture_output=True, timeout=120, env=base_env())
        self.assertTrue(os.path.exists(png), p.stderr)
        self.assertTrue(png_has_content(png), "the screenshot is blank")
        # drive the embedded script: zoom into worker_spin, search for _spin
        with open(self.path("flamegraph.svg")) as f:
            svg = f.read()
        probe = """<script type="text/ecmascript"><![CDATA[
window.addEventListener('load', function () {
  var z = null, out = {};
  for (var i = 0; i < frames.length; i++) if (frames[i].name === 'worker_spin') z = frames[i];
  zoom(z);
  out.zoomed = [z.r.getAttribute('x'), z.r.getAttribute('width')];
  for (var i = 0; i < frames.length; i++)
    if (frames[i].name === 'main_spin') out.main = frames[i].g.getAttribute('class');
  search('_spin$');
  out.matched = matchedtxt.firstChild.nodeValue;
  out.fill = z.r.getAttribute('fill');
  unzoom();
  out.after = z.r.getAttribute('width') === String(z.w.toFixed(2));
  document.documentElement.setAttribute('data-probe', JSON.stringify(out));
});
]]></script>
"""
        probe_svg = os.path.join(self.tmp, "probe.svg")
        with open(probe_svg, "w") as f:
            f.write(svg.replace("</svg>", probe + "</svg>"))
        p = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                            "--virtual-time-budget=3000", "--dump-dom", "file://" + probe_svg],
                           capture_output=True, timeout=120, env=base_env())
        m = re.search(rb'data-probe="([^"]*)"', p.stdout)
        self.assertIsNotNone(m, p.stdout[-2000:])
        out = json.loads(html.unescape(m.group(1).decode()))
        self.assertEqual(out["zoomed"], ["10.00", "1180.00"])
        self.assertEqual(out["main"], "hide")
        self.assertEqual(out["fill"], "rgb(230,0,230)")
        self.assertTrue(out["after"])
        pct = float(re.match(r"Matched: ([\d.]+)%", out["matched"]).group(1))
        self.assertGreater(pct, 50.0)  # both threads spin: most samples
        self.assertLessEqual(pct, 100.0)

    def test_speedscope(self):
        with open(self.path("profile.speedscope.json")) as f:
            j = json.load(f)
        self.assertEqual(j["$schema"], "https://www.speedscope.app/file-format-schema.json")
        frames = j["shared"]["frames"]
        names = [fr["name"] for fr in frames]
        byname = {}
        for prof in j["profiles"]:
            self.assertEqual(prof["type"], "sampled")
            self.assertEqual(len(prof["samples"]), len(prof["weights"]))
            self.assertEqual(prof["unit"], "nanoseconds")
            self.assertEqual(prof["endValue"] - prof["startValue"], sum(prof["weights"]))
            self.assertTrue(all(w > 0 for w in prof["weights"]))
            for stack in prof["samples"]:
                self.assertTrue(all(0 <= i < len(frames) for i in stack))
            leaves = {names[s[-1]] for s in prof["samples"]}
            byname[prof["name"]] = leaves
        self.assertIn("main_spin", byname["t_writers (tid %d)" % self.pid])
        worker = [k for k in byname if k.startswith("wr-worker (tid ")]
        self.assertEqual(len(worker), 1, list(byname))
        self.assertIn("worker_spin", byname[worker[0]])
        # root first: the main thread's stacks start at _start or main
        spin = frames[names.index("main_spin")]
        self.assertTrue(spin["file"].endswith("t_writers.c"))
        self.assertEqual(spin["line"], def_line("main_spin"))

    def test_pprof_decoded_by_hand(self):
        with open(self.path("cpu.pb.gz"), "rb") as f:
            p = pprofcheck.decode(f.read())
        s = pprofcheck.summary(p)
        self.assertEqual(p["sample_type"], [("samples", "count"), ("cpu", "nanoseconds")])
        self.assertEqual(p["period_type"], ("cpu", "nanoseconds"))
        self.assertGreater(p["period"], 0)
        self.assertGreater(p["time_nanos"], 0)
        self.assertGreater(p["duration_nanos"], 0)
        self.assertGreater(s["flat"].get("main_spin", 0), 0)
        self.assertGreater(s["flat"].get("worker_spin", 0), 0)
        self.assertEqual(len(s["threads"]), 2, s["threads"])
        self.assertIn(self.pid, s["threads"])
        first = p["mappings"][p["mapping_order"][0]]
        self.assertTrue(first["filename"].endswith("/t_writers"), first)
        self.assertTrue(first["has_functions"] and first["has_filenames"]
                        and first["has_line_numbers"])
        fn = [f for f in p["functions"].values() if f["name"] == "worker_spin"][0]
        self.assertTrue(fn["filename"].endswith("t_writers.c"))
        self.assertEqual(fn["start_line"], def_line("worker_spin"))
        for smp in p["samples"]:
            self.assertEqual(smp["values"][1] > 0, smp["values"][0] > 0)

    def test_go_tool_pprof(self):
        go = shutil.which("go")
        self.assertIsNotNone(go, "go is not installed (scripts/install-deps)")
        gz = self.path("cpu.pb.gz")
        env = base_env({"HOME": self.tmp, "GOCACHE": os.path.join(self.tmp, "gocache")})
        top = subprocess.run([go, "tool", "pprof", "-top", "-symbolize=none", gz],
                             capture_output=True, timeout=120, env=env)
        self.assertEqual(top.returncode, 0, top.stderr)
        text = top.stdout.decode()
        self.assertRegex(text, r"(?m)^\s+\S+\s+[\d.]+%.*\smain_spin$")
        self.assertRegex(text, r"(?m)^\s+\S+\s+[\d.]+%.*\sworker_spin$")
        self.assertIn("Type: cpu", text)
        tr = subprocess.run([go, "tool", "pprof", "-traces", "-symbolize=none", gz],
                            capture_output=True, timeout=120, env=env)
        self.assertEqual(tr.returncode, 0, tr.stderr)
        self.assertIn("thread id:  %d" % self.pid, tr.stdout.decode())
        self.assertIn("thread name:  wr-worker", tr.stdout.decode())

    def test_report(self):
        p = subprocess.run([SHIMMER, "report", self.dir, "--sort", "tottime", "--limit", "2"],
                           capture_output=True, timeout=60, env=base_env())
        self.assertEqual(p.returncode, 0, p.stderr)
        rows = [l for l in p.stdout.decode().splitlines()
                if re.match(r"^\s+(\?|\d+)\s+\d+\.\d{3}\s", l)]
        self.assertEqual(len(rows), 2, p.stdout)
        self.assertTrue(all(r.split()[0] == "?" for r in rows), rows)
        self.assertTrue(all("_spin)" in r for r in rows), rows)
        self.assertIn("Ordered by: internal time", p.stdout.decode())
        p = subprocess.run([SHIMMER, "report", self.out, "--sort", "ncalls", "--callers"],
                           capture_output=True, timeout=60, env=base_env())
        self.assertEqual(p.returncode, 0, p.stderr)
        text = p.stdout.decode()
        first = [l for l in text.splitlines() if re.match(r"^\s+(\?|\d+)\s+\d+\.\d{3}\s", l)][0]
        self.assertTrue(first.split()[0].isdigit() and first.endswith("(write)"), first)
        caller = r"__interceptor_write\S*" if SAN else r"write_lines"
        self.assertRegex(text, r"libc\.so\.6:0\(write\)\s+<-\s+200 .*\(%s\)" % caller)
        bad = subprocess.run([SHIMMER, "report", self.dir, "--sort", "bogus"],
                             capture_output=True, timeout=60, env=base_env())
        self.assertEqual(bad.returncode, 2)


class TestWriterSettings(WritersRun):
    def test_formats_selects(self):
        # no heap sampling: a sample (about 1 run in 60 here) would add
        # heap.pb.gz, the pprof format's heap file
        r, d = self.run_target({"SHIMMER_FORMATS": "pstats,pprof", "SHIMMER_HEAP_SAMPLE": "0"},
                               scale="0.1")
        self.assertEqual(set(os.listdir(d)), {"profile.pstats", "cpu.pb.gz"})

    def test_formats_bad_value(self):
        data = os.path.join(self.tmp, "lines.txt")
        r = self.run_shim([target("t_writers"), data, "0.05"], env={"SHIMMER_FORMATS": "pstats,svg"})
        self.assertEqual((r.rc, r.stdout), (0, b"ok\n"))
        lines = r.shimmer_lines()
        self.assertEqual(len(lines), 1, lines)
        self.assertIn("SHIMMER_FORMATS=pstats,svg", lines[0])
        self.assertIn("'svg'", lines[0])
        self.assertEqual(r.folders(), {})

    def test_sort(self):
        r, d = self.run_target({"SHIMMER_SORT": "ncalls"}, scale="0.1")
        with open(os.path.join(d, "profile.txt")) as f:
            text = f.read()
        self.assertIn("Ordered by: call count", text)
        rows = [l for l in text.splitlines() if re.match(r"^\s+(\?|\d+)\s+\d+\.\d{3}\s", l)]
        self.assertTrue(rows[0].endswith("libc.so.6:0(write)"), rows[0])
        self.assertEqual(rows[0].split()[0], "200")
        data = os.path.join(self.tmp, "lines.txt")
        bad = self.run_shim([target("t_writers"), data, "0.05"], env={"SHIMMER_SORT": "calls"})
        self.assertEqual(len(bad.shimmer_lines()), 1)
        self.assertIn("SHIMMER_SORT=calls", bad.shimmer_lines()[0])

    def test_sampling_off(self):
        r, d = self.run_target({"SHIMMER_HZ": "0"}, scale="0.05")
        st = pstats.Stats(os.path.join(d, "profile.pstats")).stats
        self.assertEqual(st[("libc.so.6", 0, "write")][1], 200)
        self.assertFalse(any(k[2].endswith("_spin") for k in st))
        # no samples: the CPU views are not written (a build's short processes
        # must not pay for four empty files); the table and pstats always are
        for name in ("cpu.folded", "flamegraph.svg", "cpu.pb.gz", "profile.speedscope.json"):
            self.assertFalse(os.path.exists(os.path.join(d, name)), name)
        self.assertTrue(os.path.isfile(os.path.join(d, "profile.txt")))

    @unittest.skipIf(SAN, "shimmer run puts libshimmer.so before the ASan runtime")
    def test_run_open_prints_the_svg(self):
        data = os.path.join(self.tmp, "lines.txt")
        p = subprocess.run([SHIMMER, "run", "--open", "--out", self.out, "--",
                            target("t_writers"), data, "0.05"],
                           capture_output=True, timeout=120, env=base_env())
        self.assertEqual((p.returncode, p.stdout), (0, b"ok\n"), p.stderr)
        paths = re.findall(r"^shimmer: flame graph: (.+)$", p.stderr.decode(), re.M)
        self.assertEqual(len(paths), 1, p.stderr)
        self.assertTrue(os.path.isfile(paths[0]))
        self.assertRegex(paths[0], r"/t_writers\.\d+/flamegraph\.svg$")


if __name__ == "__main__":
    unittest.main()
