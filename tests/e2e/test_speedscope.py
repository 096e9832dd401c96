# SPDX-License-Identifier: MIT
"""speedscope (npm, pinned, its built app in Debian's headless Chromium driven by
playwright-core; tests/speedscope/check.mjs) imports the profiles of real sampled
runs: cpu.folded, profile.speedscope.json and cpu.pb.gz of t_writers, heap.pb.gz
and heap.folded of t_heap_leak. Each import must pick the right importer, raise
no dialog, page or console error, draw the flame chart, name the profile, and
show in its sandwich table exactly the numbers the file holds."""
import gzip
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import unittest

import pprofcheck
from shimlib import SAN, run, target

HERE = os.path.dirname(os.path.abspath(__file__))
DIR = os.path.abspath(os.path.join(HERE, "..", "speedscope"))
CHROMIUM = "/usr/bin/chromium"
NODE = shutil.which("node") or shutil.which("nodejs")
HEAP_SKIP = ("under ASan the sanitizer's allocator intercepts malloc before libshimmer: "
             "no heap profile to import (see test_heap.py)")
FOLDED, JSON, PPROF = ("collapsed stack format", "speedscope json file",
                       "protobuf encoded pprof file")
# speedscope's value formatters: time units, bytes (1024-based), raw counts
UNITS = {"ns": 1, "µs": 1e3, "us": 1e3, "ms": 1e6, "s": 1e9, "min": 60e9, "h": 3600e9,
         "B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3, "TB": 1024 ** 4, "": 1}
RES = {}  # file name -> what speedscope showed
SRC = {}  # file name -> path of the file imported
TMP = None


def helper_env():
    return {k: v for k, v in os.environ.items()
            if not k.startswith("SHIMMER_") and k not in ("LD_PRELOAD", "ASAN_OPTIONS")}


def ensure_deps():
    p = subprocess.run([os.path.join(DIR, "ensure-deps")], capture_output=True, text=True,
                       timeout=600)
    if p.returncode != 0:
        raise AssertionError("tests/speedscope/ensure-deps failed:\n" + p.stderr)


def speedscope_import(paths, shots):
    """check.mjs on paths: its JSON. Node, its server and Chromium run in a
    session of their own, killed by its id if they outlive the time limit."""
    proc = subprocess.Popen([NODE, os.path.join(DIR, "check.mjs"), "--shots", shots] + paths,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=helper_env(), start_new_session=True)
    try:
        out, err = proc.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise AssertionError("speedscope check timed out")
    if proc.returncode != 0:
        raise AssertionError("speedscope check failed (%d): %s" % (proc.returncode, err))
    return json.loads(out)


def one_folder(r, exe):
    assert r.rc == 0, r.stderr
    folders = r.folders(exe)
    assert len(folders) == 1, folders
    return next(iter(folders.values()))


def setUpModule():
    global TMP
    if not NODE or not os.access(CHROMIUM, os.X_OK):
        return
    TMP = tempfile.mkdtemp(prefix="shimmer-speedscope-")
    ensure_deps()
    out = os.path.join(TMP, "out")
    r = run([target("t_writers"), os.path.join(TMP, "lines.txt"), "1"], out_dir=out)
    assert r.stdout == b"ok\n", r.stdout
    d = one_folder(r, "t_writers")
    for name in ("cpu.folded", "profile.speedscope.json", "cpu.pb.gz"):
        SRC[name] = os.path.join(d, name)
    if not SAN:
        r = run([target("t_heap_leak")], out_dir=out)
        d = one_folder(r, "t_heap_leak")
        for name in ("heap.pb.gz", "heap.folded"):
            SRC[name] = os.path.join(d, name)
    # controls, which the check must catch: a gzipped file that is not a
    # profile, and a speedscope file cut in half (as a killed writer leaves it)
    bad = os.path.join(TMP, "bad")
    os.mkdir(bad)
    SRC["bad/cpu.pb.gz"] = os.path.join(bad, "cpu.pb.gz")
    with open(SRC["bad/cpu.pb.gz"], "wb") as f:
        f.write(gzip.compress(b"this is not a profile\n", mtime=0))
    with open(SRC["profile.speedscope.json"], "rb") as f:
        data = f.read()
    SRC["bad/profile.speedscope.json"] = os.path.join(bad, "profile.speedscope.json")
    with open(SRC["bad/profile.speedscope.json"], "wb") as f:
        f.write(data[:len(data) // 2])
    keys = sorted(SRC)
    res = speedscope_import([SRC[k] for k in keys], TMP)
    for k, v in zip(keys, res["results"]):
        RES[k] = v
    RES["_version"] = res["speedscope"]


def tearDownModule():
    if TMP:
        shutil.rmtree(TMP, ignore_errors=True)


def value(text):
    """A value as speedscope prints it ("244.38ms (96%)", "1,024", "138.96 MB"):
    (value in the base unit, half of the last printed digit in that unit)."""
    m = re.match(r"^([\d,]+)(?:\.(\d+))?\s*([a-zµ]*|[KMGT]?B)(?: \([<\d.]+%\))?$", text)
    if not m:
        raise AssertionError("not a speedscope value: %r" % text)
    mult = UNITS[m.group(3)]
    frac = m.group(2) or ""
    v = float(m.group(1).replace(",", "") + "." + (frac or "0"))
    return v * mult, 0.5 * 10 ** -len(frac) * mult


def self_total(stacks):
    """{name: [self, total]} of [(frames root first, weight)], speedscope's way:
    total counts a stack once however often a name recurs in it; a stack of
    weight 0 (freed memory in inuse_space) adds no row."""
    out = {}
    for frames, w in stacks:
        if not frames or not w:
            continue
        for name in set(frames):
            out.setdefault(name, [0, 0])[1] += w
        out[frames[-1]][0] += w
    return out


@unittest.skipUnless(NODE, "node is missing: scripts/install-deps installs it")
@unittest.skipUnless(os.access(CHROMIUM, os.X_OK), "chromium is missing: scripts/install-deps")
class SpeedscopeCase(unittest.TestCase):
    def assertImported(self, key, importer, title):
        """speedscope took the file: right importer, no error anywhere, the
        profile named in the title, the flame chart drawn."""
        r = RES[key]
        what = "%s (%s)" % (key, "\n".join(r["console"]))
        self.assertEqual(r["dialogs"], [], what)
        self.assertEqual(r["pageErrors"], [], what)
        self.assertEqual(r["consoleErrors"], [], what)
        self.assertEqual(r["badResponses"], [], what)
        self.assertEqual(r["offsite"], [], what)
        self.assertFalse(r["first"]["wentWrong"], what)
        self.assertNotIn("Unrecognized format", r["first"]["text"], what)
        self.assertEqual(r["importedAs"], [importer], what)
        self.assertEqual(r["first"]["title"], title + " - speedscope", what)
        # frames drawn below the minimap: a 20 px row across is 24,000 pixels
        self.assertGreater(r.get("flameColoured", 0), 20000, what)
        self.assertTrue(r["profiles"], what)
        return r

    def assertRows(self, rows, expect, exact):
        """The sandwich table: one row per function, self and total as expected
        (exactly for counts, within the printed precision for units)."""
        names = [row[2] for row in rows]
        self.assertEqual(len(names), len(set(names)), names)
        self.assertEqual(set(names), set(expect), rows)
        for total, self_, name in rows:
            for text, want in ((self_, expect[name][0]), (total, expect[name][1])):
                got, tol = value(text)
                if exact:
                    self.assertEqual(got, want, (name, text, want))
                else:
                    self.assertLessEqual(abs(got - want), tol * 1.01 + 1e-9, (name, text, want))

    def assertLeaves(self, rows, *names):
        """The target's leaf functions as speedscope reads the stacks: all their
        time is self time (the stacks are root first, as speedscope wants)."""
        by_name = {row[2]: row for row in rows}
        for name in names:
            self.assertIn(name, by_name, rows)
            total, self_, _ = by_name[name]
            self.assertGreater(value(self_)[0], 0, by_name[name])
            self.assertEqual(value(self_)[0], value(total)[0], by_name[name])

class TestSpeedscopeCpu(SpeedscopeCase):
    def test_folded(self):
        r = self.assertImported("cpu.folded", FOLDED, "cpu.folded")
        stacks = []
        with open(SRC["cpu.folded"]) as f:
            for line in f:
                stack, n = line.rstrip("\n").rsplit(" ", 1)
                stacks.append((stack.split(";"), int(n)))
        (p,) = r["profiles"]
        self.assertEqual(p["toolbar"], "cpu.folded")
        self.assertRows(p["rows"], self_total(stacks), exact=True)
        self.assertLeaves(p["rows"], "main_spin", "worker_spin")

    def test_speedscope_json_one_profile_per_thread(self):
        with open(SRC["profile.speedscope.json"]) as f:
            doc = json.load(f)
        r = self.assertImported("profile.speedscope.json", JSON, doc["name"])
        frames = [fr["name"] for fr in doc["shared"]["frames"]]
        n = len(doc["profiles"])
        self.assertGreaterEqual(n, 2)  # the main thread and wr-worker
        self.assertEqual(len(r["profiles"]), n)
        # it opens with the profile the file names (the busiest thread)
        active = doc["profiles"][doc["activeProfileIndex"]]["name"]
        self.assertEqual(r["first"]["toolbar"], "%s (%d/%d)" % (active, doc["activeProfileIndex"] + 1, n))
        for i, (prof, shown) in enumerate(zip(doc["profiles"], r["profiles"])):
            self.assertEqual(shown["toolbar"], "%s (%d/%d)" % (prof["name"], i + 1, n))
            self.assertEqual(prof["unit"], "nanoseconds")
            stacks = [([frames[x] for x in s], w) for s, w in zip(prof["samples"], prof["weights"])]
            self.assertRows(shown["rows"], self_total(stacks), exact=False)
            self.assertEqual([row[1] for row in shown["list"]], [p["name"] for p in doc["profiles"]])
        self.assertLeaves(r["profiles"][0]["rows"], "main_spin")
        workers = [p for p in r["profiles"] if p["toolbar"].startswith("wr-worker (tid ")]
        self.assertEqual(len(workers), 1, r["profiles"])
        self.assertLeaves(workers[0]["rows"], "worker_spin")

    def test_pprof(self):
        r = self.assertImported("cpu.pb.gz", PPROF, "cpu.pb.gz")
        (p,) = r["profiles"]
        self.assertEqual(p["toolbar"], "cpu.pb.gz")
        self.assertRows(p["rows"], pprof_expect(SRC["cpu.pb.gz"], "cpu"), exact=False)
        self.assertLeaves(p["rows"], "main_spin", "worker_spin")

    def test_bad_files_are_caught(self):
        # the same check fails on files speedscope cannot take
        self.assertEqual(RES["bad/cpu.pb.gz"]["dialogs"],
                         ["Unrecognized format! See documentation about supported formats."])
        self.assertTrue(RES["bad/profile.speedscope.json"]["first"]["wentWrong"])
        for key in ("bad/cpu.pb.gz", "bad/profile.speedscope.json"):
            self.assertEqual(RES[key]["profiles"], [])
            self.assertNotIn("flameColoured", RES[key])


def pprof_expect(path, sample_type):
    """{name: [self, total]} in the sample type speedscope shows (the default
    one, else the last), each location named by its last line, as it does."""
    with open(path, "rb") as f:
        data = f.read()
    prof = pprofcheck.decode(data)  # gzipped, else ValueError
    types = [t for t, _ in prof["sample_type"]]
    idx = types.index(prof["default_sample_type"]) if prof["default_sample_type"] in types \
        else len(types) - 1
    assert types[idx] == sample_type, (types, prof["default_sample_type"])
    stacks = []
    for smp in prof["samples"]:
        frames = [prof["functions"][prof["locations"][lid]["lines"][-1][0]]["name"]
                  for lid in smp["locations"] if prof["locations"][lid]["lines"]]
        stacks.append((frames[::-1], smp["values"][idx]))
    return self_total(stacks)


@unittest.skipIf(SAN, HEAP_SKIP)
class TestSpeedscopeHeap(SpeedscopeCase):
    def test_heap_pprof(self):
        r = self.assertImported("heap.pb.gz", PPROF, "heap.pb.gz")
        (p,) = r["profiles"]
        self.assertRows(p["rows"], pprof_expect(SRC["heap.pb.gz"], "inuse_space"), exact=False)
        self.assertEqual(p["rows"][0][2], "leak_here")  # what is still in use
        self.assertLeaves(p["rows"], "leak_here")

    def test_heap_folded(self):
        r = self.assertImported("heap.folded", FOLDED, "heap.folded")
        stacks = []
        with open(SRC["heap.folded"]) as f:
            for line in f:
                stack, n = line.rstrip("\n").rsplit(" ", 1)
                stacks.append((stack.split(";"), int(n)))
        (p,) = r["profiles"]
        self.assertRows(p["rows"], self_total(stacks), exact=True)
        self.assertLeaves(p["rows"], "leak_here", "churn")


if __name__ == "__main__":
    unittest.main()
