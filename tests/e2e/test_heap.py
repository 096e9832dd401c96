# SPDX-License-Identifier: MIT
"""Heap profiling by sampled allocations: a known leak found by go tool pprof
in heap.pb.gz (within 15 % at the default mean, exactly with
SHIMMER_HEAP_SAMPLE=1), known allocation totals from three functions (within
10 %), cross-thread frees, C++ names demangled, heap.folded,
heap-flamegraph.svg and the "In use at exit" section of profile.txt."""
import os
import re
import shutil
import subprocess
import sys
import unittest
import xml.etree.ElementTree as ET

from shimlib import SAN, ShimTest, folded, target

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pprofcheck  # noqa: E402

ROW = re.compile(r"^\s*(\d+)B?\s+[\d.]+%\s+[\d.]+%\s+(\d+)B?\s+[\d.]+%\s+(.+?)\s*$")
SAN_REASON = ("under ASan the sanitizer's allocator intercepts malloc before libshimmer: "
              "heap samples are checked in the plain build")


@unittest.skipIf(SAN, SAN_REASON)
class TestHeap(ShimTest):
    def folder(self, run, exe):
        self.assertEqual(run.rc, 0, run.stderr)
        self.assertEqual(run.shimmer_lines(), [])
        f = run.folders(exe)
        self.assertEqual(len(f), 1, "run folders: %s" % list(f))
        return next(iter(f.values()))

    def pprof_top(self, path, index):
        """{function: (flat, cum)} of `go tool pprof -top` for sample index."""
        out = subprocess.run(["go", "tool", "pprof", "-sample_index=" + index, "-unit=B",
                              "-nodefraction=0", "-nodecount=1000", "-top", path],
                             capture_output=True, text=True, timeout=120,
                             env=dict(os.environ, HOME=self.tmp,
                                      GOCACHE=os.path.join(self.tmp, "gocache")))
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("Type: %s" % index, out.stdout)
        res = {}
        for line in out.stdout.splitlines():
            m = ROW.match(line)
            if m:
                res[m.group(3)] = (int(m.group(1)), int(m.group(2)))
        self.assertTrue(res, out.stdout)
        return res

    def leak_run(self, env):
        bare, shim = self.assertTransparent([target("t_heap_leak")], env=env)
        leaked = int(re.match(rb"leaked (\d+)", bare.stdout).group(1))
        self.assertEqual(leaked, 128 * 1024 * 1024 + 2048 * 8192)
        return leaked, self.folder(shim, "t_heap_leak")

    @unittest.skipUnless(shutil.which("go"), "go tool pprof needed")
    def test_leak_at_default_mean(self):
        leaked, d = self.leak_run(None)
        heap = os.path.join(d, "heap.pb.gz")
        with open(heap, "rb") as f:
            p = pprofcheck.decode(f.read())  # raises on an invalid profile
        self.assertEqual(p["default_sample_type"], "inuse_space")
        self.assertEqual([tuple(t) for t in p["sample_type"]], [
            ("alloc_objects", "count"), ("alloc_space", "bytes"),
            ("inuse_objects", "count"), ("inuse_space", "bytes")])
        self.assertEqual(p["period_type"], ("space", "bytes"))
        self.assertEqual(p["period"], 524288)
        top = self.pprof_top(heap, "inuse_space")
        flat = top.get("leak_here", (0, 0))[0]
        self.assertAlmostEqual(flat, leaked, delta=0.15 * leaked,
                               msg="leak_here in use %d, leaked %d" % (flat, leaked))
        # churn freed everything it allocated: nothing of it is in use
        self.assertEqual(top.get("churn", (0, 0))[0], 0)
        self.assertGreater(self.pprof_top(heap, "alloc_space").get("churn", (0, 0))[0], 0)
        # the leak report in profile.txt: leak_here heads the list
        with open(os.path.join(d, "profile.txt")) as f:
            text = f.read()
        m = re.search(r"In use at exit .*\n\n.*allocated at.*\n\s+(\d+)\s+(\d+)\s+(\S+)", text)
        self.assertIsNotNone(m, text)
        self.assertEqual(m.group(3), "leak_here")

    @unittest.skipUnless(shutil.which("go"), "go tool pprof needed")
    def test_leak_exact_every_allocation(self):
        leaked, d = self.leak_run({"SHIMMER_HEAP_SAMPLE": "1"})
        heap = os.path.join(d, "heap.pb.gz")
        self.assertEqual(self.pprof_top(heap, "inuse_space")["leak_here"][0], leaked)
        self.assertEqual(self.pprof_top(heap, "inuse_objects")["leak_here"][0], 128 + 2048)
        allocs = self.pprof_top(heap, "alloc_objects")
        # two rounds of 200,000 calloc/realloc calls in churn
        self.assertEqual(allocs["churn"][0], 400000)
        self.assertEqual(allocs["leak_here"][0], 128 + 2048)
        stacks = folded(os.path.join(d, "heap.folded"))
        self.assertEqual(sum(v for k, v in stacks.items() if k.endswith(";main;leak_here")),
                         leaked)
        with open(os.path.join(d, "profile.txt")) as f:
            text = f.read()
        self.assertRegex(text, r"\n\s+%d\s+128\s+leak_here \(\S*t_heap_leak\.c:\d+\) <- main" %
                         (128 * 1024 * 1024))

    @unittest.skipUnless(shutil.which("go"), "go tool pprof needed")
    def test_alloc_space_three_functions(self):
        bare, shim = self.assertTransparent([target("t_heap_alloc")])
        truth = {k.decode(): int(v) for k, v in re.findall(rb"(\w+) (\d+)", bare.stdout)}
        self.assertEqual(set(truth), {"alloc_big", "alloc_mixed", "alloc_small"})
        top = self.pprof_top(os.path.join(self.folder(shim, "t_heap_alloc"), "heap.pb.gz"),
                             "alloc_space")
        for fn, want in truth.items():
            with self.subTest(fn=fn):
                got = top.get(fn, (0, 0))[0]
                self.assertAlmostEqual(got, want, delta=0.10 * want,
                                       msg="%s allocated %d, estimated %d" % (fn, want, got))

    @unittest.skipUnless(shutil.which("go"), "go tool pprof needed")
    def test_alloc_space_exact(self):
        run = self.run_shim([target("t_heap_alloc"), "64"], env={"SHIMMER_HEAP_SAMPLE": "1"})
        truth = {k.decode(): int(v) for k, v in re.findall(rb"(\w+) (\d+)", run.stdout)}
        d = self.folder(run, "t_heap_alloc")
        top = self.pprof_top(os.path.join(d, "heap.pb.gz"), "alloc_space")
        for fn, want in truth.items():
            self.assertEqual(top[fn][0], want, fn)
        # all freed: the three are not in use
        inuse = self.pprof_top(os.path.join(d, "heap.pb.gz"), "inuse_space")
        for fn in truth:
            self.assertEqual(inuse.get(fn, (0, 0))[0], 0, fn)

    @unittest.skipUnless(shutil.which("go"), "go tool pprof needed")
    def test_threads_cross_frees(self):
        run = self.run_shim([target("t_heap_threads")], env={"SHIMMER_HEAP_SAMPLE": "1"})
        leaked = int(re.match(rb"leaked (\d+)", run.stdout).group(1))
        heap = os.path.join(self.folder(run, "t_heap_threads"), "heap.pb.gz")
        inuse = self.pprof_top(heap, "inuse_space")
        self.assertEqual(inuse["leak_in_thread"][0], leaked)
        # every block of make_shared was freed by another thread
        self.assertEqual(inuse.get("make_shared", (0, 0))[0], 0)
        self.assertEqual(self.pprof_top(heap, "alloc_objects")["make_shared"][0], 4 * 20000)

    @unittest.skipUnless(shutil.which("go"), "go tool pprof needed")
    def test_cxx_names_demangled(self):
        bare, shim = self.assertTransparent([target("t_heap_cxx"), "1000"],
                                            env={"SHIMMER_HEAP_SAMPLE": "1"})
        d = self.folder(shim, "t_heap_cxx")
        top = self.pprof_top(os.path.join(d, "heap.pb.gz"), "inuse_space")
        # operator new is the allocator: the leak is the code that called it
        self.assertEqual(top["shapes::make_widget"][0], 1000 * 48)
        self.assertNotIn("operator new", " ".join(top))
        stacks = folded(os.path.join(d, "heap.folded"))
        self.assertEqual(stacks.get("_start;__libc_start_main;__libc_start_call_main;main;"
                                    "shapes::make_widget(int)"), 48000, list(stacks))
        self.assertTrue(any(";shapes::Grid<int>::grow(int);std::vector<int" in s
                            for s in stacks), list(stacks))
        self.assertFalse(any(re.search(r"_Z[NS]", s) for s in stacks), list(stacks))

    def test_flamegraph_and_folded(self):
        run = self.run_shim([target("t_heap_leak")], env={"SHIMMER_HEAP_SAMPLE": "4096"})
        d = self.folder(run, "t_heap_leak")
        svg = ET.parse(os.path.join(d, "heap-flamegraph.svg")).getroot()
        text = "".join(svg.itertext())
        self.assertIn("Heap flame graph (bytes allocated)", text)
        titles = [t.text for t in svg.iter("{http://www.w3.org/2000/svg}title")]
        self.assertTrue(any(t.startswith("leak_here (") and " bytes, " in t for t in titles),
                        titles[:20])
        stacks = folded(os.path.join(d, "heap.folded"))
        self.assertTrue(any(s.endswith(";main;churn") for s in stacks), list(stacks))

    def loaded(self, cmd, exe):
        """(objects the loader opened, the heap.folded stacks) of cmd run with
        a sample every 4 KiB on average (a few dozen: below the 100 that ask
        for debug files) and CPU sampling off."""
        dbg = os.path.join(self.tmp, "ld-debug")
        run = self.run_shim(cmd, env={"SHIMMER_HEAP_SAMPLE": "4096", "SHIMMER_HZ": "0",
                                      "LD_DEBUG": "files", "LD_DEBUG_OUTPUT": dbg})
        d = self.folder(run, exe)
        text = ""
        for f in os.listdir(self.tmp):
            if f.startswith("ld-debug."):
                with open(os.path.join(self.tmp, f), errors="replace") as fh:
                    text += fh.read()
        self.assertIn("libshimmer.so", text)  # the loader's trace works
        return text, folded(os.path.join(d, "heap.folded"))

    @unittest.skipIf(SAN, "under ASan its allocator answers malloc first: no heap samples")
    def test_stripped_short_process_never_loads_libdw(self):
        # cat is stripped and ends at once: its samples are named from the
        # dynamic symbols (all libdw would find in it and in libc at this
        # level), so libdw and its libraries are never opened
        text, stacks = self.loaded(["cat", "/etc/hostname"], "cat")
        self.assertNotIn("libdw", text)
        self.assertTrue(stacks)
        self.assertTrue(any("__libc_start_main" in s for s in stacks), stacks)

    @unittest.skipIf(SAN, "under ASan its allocator answers malloc first: no heap samples")
    def test_symbol_table_loads_libdw(self):
        # t_heap_alloc has a symbol table (static functions): libdw names them
        text, stacks = self.loaded([target("t_heap_alloc")], "t_heap_alloc")
        self.assertIn("libdw", text)
        self.assertTrue(any(";main;" in s for s in stacks), stacks)

    def test_off(self):
        run = self.run_shim([target("t_heap_leak"), "0"], env={"SHIMMER_HEAP_SAMPLE": "0"})
        d = self.folder(run, "t_heap_leak")
        for name in ("heap.pb.gz", "heap.folded", "heap-flamegraph.svg"):
            self.assertFalse(os.path.exists(os.path.join(d, name)), name)
        with open(os.path.join(d, "profile.txt")) as f:
            self.assertNotIn("In use at exit", f.read())
        # the exact allocation counts do not depend on heap sampling
        self.assertGreater(run.profile("t_heap_leak").calls("malloc"), 2176)

    def test_alloc_family_off(self):
        run = self.run_shim([target("t_heap_leak"), "0"], env={"SHIMMER_HOOKS": "file"})
        d = self.folder(run, "t_heap_leak")
        self.assertFalse(os.path.exists(os.path.join(d, "heap.pb.gz")))

    def test_bad_setting(self):
        for bad in ("abc", "-1", "1e6", "2000000000"):
            with self.subTest(value=bad):
                run = self.run_shim([target("t_heap_leak"), "0"],
                                    env={"SHIMMER_HEAP_SAMPLE": bad})
                self.assertEqual(run.rc, 0)
                self.assertEqual(run.stdout, b"leaked %d\n" % (128 * 1024 * 1024 + 2048 * 8192))
                lines = run.shimmer_lines()
                self.assertEqual(len(lines), 1, lines)
                self.assertTrue(lines[0].startswith("shimmer: SHIMMER_HEAP_SAMPLE=%s:" % bad),
                                lines)


if __name__ == "__main__":
    unittest.main()
