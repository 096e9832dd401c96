# SPDX-License-Identifier: MIT
"""Long-running processes and unloaded code: SHIMMER_FLUSH_SECS writes every
output while the target runs and leaves them behind a kill -9; `shimmer dump
PID` (control.sock) writes them on demand, in a fork child too; a library
dlclose'd before exit keeps its function names; pprof mappings carry the
objects' build IDs (checked against readelf, read back by go tool pprof)."""
import json
import os
import pstats
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
import unittest

from shimlib import SAN, ShimTest, base_env, parse_profile, preload, target, SHIMMER

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import pprofcheck  # noqa: E402

LIB_SRC = os.path.join(HERE, "..", "targets", "libdlwork.c")
OUTPUTS = ["profile.txt", "profile.pstats", "cpu.folded", "flamegraph.svg",
           "profile.speedscope.json", "cpu.pb.gz"]
WAIT = 60  # seconds a condition may take on a loaded machine; never asserted


def wait_for(cond, what, timeout=WAIT):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("gave up waiting for %s" % what)


def build_id(path):
    out = subprocess.run(["readelf", "-n", path], capture_output=True, text=True, check=True)
    m = re.search(r"Build ID: ([0-9a-f]+)", out.stdout)
    return m.group(1) if m else None


def decl_line(src, func):
    with open(src) as f:
        for n, line in enumerate(f, 1):
            if re.match(r".*\bvoid %s\(" % func, line):
                return n
    raise AssertionError("no %s in %s" % (func, src))


def self_seconds(stats, func):
    return sum(v[2] for k, v in stats.stats.items() if k[2] == func)


class Target:
    """t_long running under the shim in the background, stopped by its pid."""

    def __init__(self, test, args=(), env=None):
        e = base_env(dict({"SHIMMER_OUT": test.out, "SHIMMER_HZ": "200"}, **(env or {})))
        e["LD_PRELOAD"] = preload()
        self.proc = subprocess.Popen([target("t_long")] + list(args), env=e,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        test.addCleanup(self.kill)
        line = self.proc.stdout.readline().decode()
        test.assertTrue(line.startswith("pid "), line)
        self.pid = int(line.split()[1])
        self.child = None
        if "fork" in args:
            line = self.proc.stdout.readline().decode()
            test.assertTrue(line.startswith("child "), line)
            self.child = int(line.split()[1])
        self.out = test.out

    def folder(self, pid=None):
        return os.path.join(self.out, "t_long.%d" % (pid or self.pid))

    def stop(self):
        """Close stdin: t_long (and its fork child) end normally."""
        self.proc.stdin.close()
        rc = self.proc.wait(timeout=WAIT)
        return rc, self.proc.stderr.read().decode(errors="replace")

    def kill(self):
        for pid in (self.child, self.pid):
            if pid and self.proc.returncode is None:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if self.proc.returncode is None:
            self.proc.wait(timeout=WAIT)
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if f and not f.closed:
                f.close()


class TestFlush(ShimTest):
    def dump(self, pid, *extra):
        return subprocess.run([SHIMMER, "dump", "--out", self.out] + list(extra) + [str(pid)],
                              capture_output=True, text=True, timeout=WAIT + 30,
                              env=base_env())

    def check_outputs(self, folder, func, absent=None, call="write"):
        """Every output is there and complete: pstats loads and names func,
        pprof decodes, the table parses, the SVG and JSON are whole."""
        for name in OUTPUTS:
            self.assertTrue(os.path.isfile(os.path.join(folder, name)), name)
        st = pstats.Stats(os.path.join(folder, "profile.pstats"))
        self.assertGreater(self_seconds(st, func), 0, "%s in %s" % (func, list(st.stats)))
        if absent:
            self.assertEqual(self_seconds(st, absent), 0, "%s sampled here" % absent)
        with open(os.path.join(folder, "cpu.pb.gz"), "rb") as f:
            prof = pprofcheck.decode(f.read())
        self.assertTrue(any(fn["name"] == func for fn in prof["functions"].values()))
        self.assertGreater(parse_profile(os.path.join(folder, "profile.txt")).calls(call), 0)
        with open(os.path.join(folder, "profile.speedscope.json")) as f:
            json.load(f)
        with open(os.path.join(folder, "flamegraph.svg")) as f:
            self.assertTrue(f.read().rstrip().endswith("</svg>"))
        return st

    def test_periodic_flush_while_running_and_after_kill9(self):
        t = Target(self, env={"SHIMMER_FLUSH_SECS": "1"})
        d = t.folder()
        pst = os.path.join(d, "profile.pstats")
        # every file of the first flush (each appears whole, by rename): the
        # first flush also opens libdw, before the first file appears
        wait_for(lambda: all(os.path.exists(os.path.join(d, n)) for n in OUTPUTS),
                 "the first periodic flush")
        self.assertIsNone(t.proc.poll(), "t_long ended on its own")
        first = self.check_outputs(d, "long_spin")
        sock = os.path.join(d, "control.sock")
        self.assertTrue(stat.S_ISSOCK(os.stat(sock).st_mode))
        self.assertEqual(stat.S_IMODE(os.stat(sock).st_mode), 0o600)
        self.assertEqual(stat.S_IMODE(os.stat(d).st_mode), 0o700)
        # rotated in place: a later flush replaces the file (a new inode) with
        # more samples in it
        ino = os.stat(pst).st_ino
        wait_for(lambda: os.stat(pst).st_ino != ino, "a second periodic flush")
        later = pstats.Stats(pst)
        self.assertGreater(self_seconds(later, "long_spin"), self_seconds(first, "long_spin"))
        self.assertIsNone(t.proc.poll(), "t_long ended on its own")

        os.kill(t.pid, signal.SIGKILL)
        self.assertEqual(t.proc.wait(timeout=WAIT), -signal.SIGKILL)
        # what the last periodic flush wrote is still there, whole
        self.check_outputs(d, "long_spin")
        # the dead image's socket is stale: dump says so and fails
        r = self.dump(t.pid)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("not running", r.stderr)

    def test_dump_on_demand(self):
        t = Target(self, env={"SHIMMER_CONTROL": "1"})
        d = t.folder()
        wait_for(lambda: os.path.exists(os.path.join(d, "control.sock")), "control.sock")
        # no periodic flush asked for: nothing is written until the dump
        self.assertFalse(os.path.exists(os.path.join(d, "profile.pstats")))
        # some samples first, so the CPU views are written too
        time.sleep(0.5)
        r = self.dump(t.pid)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, d + "\n")
        self.assertIsNone(t.proc.poll(), "the dump stopped t_long")
        self.check_outputs(d, "long_spin")
        ino = os.stat(os.path.join(d, "profile.pstats")).st_ino
        r = self.dump(t.pid)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotEqual(os.stat(os.path.join(d, "profile.pstats")).st_ino, ino)

        rc, err = t.stop()
        self.assertEqual(rc, 0, err)
        self.assertEqual([l for l in err.splitlines() if l.startswith("shimmer: ")], [])
        # the image ended: its socket is gone, its final outputs are in place
        self.assertFalse(os.path.exists(os.path.join(d, "control.sock")))
        self.check_outputs(d, "long_spin")
        r = self.dump(t.pid)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no control.sock", r.stderr)

    @unittest.skipIf(SAN, "GCC 12's ASan is not fork-safe: a fork while the parent's worker "
                          "holds the sanitizer's allocator lock deadlocks the child at its "
                          "first allocation (fixed in LLVM 18); glibc's malloc is fork-safe")
    def test_dump_fork_child(self):
        t = Target(self, ["fork"], env={"SHIMMER_CONTROL": "1"})
        parent, child = t.folder(), t.folder(t.child)
        for d in (parent, child):
            wait_for(lambda: os.path.exists(os.path.join(d, "control.sock")),
                     "control.sock in %s" % d)
        time.sleep(0.5)
        # each process answers for itself, in its own folder
        r = self.dump(t.child)
        self.assertEqual((r.returncode, r.stdout), (0, child + "\n"), r.stderr)
        self.check_outputs(child, "child_spin", absent="long_spin")
        r = self.dump(t.pid)
        self.assertEqual((r.returncode, r.stdout), (0, parent + "\n"), r.stderr)
        self.check_outputs(parent, "long_spin", absent="child_spin")

        rc, err = t.stop()
        self.assertEqual(rc, 0, err)
        for d in (parent, child):
            self.assertFalse(os.path.exists(os.path.join(d, "control.sock")), d)
        self.check_outputs(child, "child_spin", absent="long_spin")
        self.check_outputs(parent, "long_spin", absent="child_spin")

    def test_flush_never_takes_the_programs_fd_numbers(self):
        # t_long_fds closes its lowest fd and opens again, expecting the same
        # number, for 3 s: the flushes in between (files, /proc, libdw, the
        # control socket) must not take that number from it
        r = self.run_shim([target("t_long_fds"), "3"],
                          env={"SHIMMER_FLUSH_SECS": "1", "SHIMMER_HZ": "200"})
        self.assertEqual(r.rc, 0, r.stderr)
        self.assertEqual(r.stdout, b"moved 0\nstdout ok\n")
        self.assertEqual(r.shimmer_lines(), [])
        f = r.folders("t_long_fds")
        self.assertEqual(len(f), 1, list(f))
        self.check_outputs(next(iter(f.values())), "fds_spin", call="open")

    def test_dump_needs_a_control_socket(self):
        r = self.dump(os.getpid())
        self.assertNotEqual(r.returncode, 0)
        self.assertTrue(r.stderr.startswith("shimmer: "), r.stderr)
        r = self.dump("notapid")
        self.assertEqual(r.returncode, 2)


class TestDlclose(ShimTest):
    def setUp(self):
        super().setUp()
        self.exe = target("t_dl")
        self.lib = target("libdlwork.so")
        bare, self.r = self.assertTransparent([self.exe], env={"SHIMMER_HZ": "200"})
        self.assertEqual(bare.stdout, b"unloaded 1\n")  # really unmapped before exit
        f = self.r.folders("t_dl")
        self.assertEqual(len(f), 1, list(f))
        self.d = next(iter(f.values()))

    def test_unloaded_library_functions_are_named(self):
        st = pstats.Stats(os.path.join(self.d, "profile.pstats"))
        total = sum(v[2] for v in st.stats.values())
        keys = [k for k in st.stats if k[2] == "dl_spin"]
        self.assertEqual(len(keys), 1, list(st.stats))
        fname, line, _ = keys[0]
        self.assertEqual(os.path.basename(fname), "libdlwork.c")
        self.assertEqual(line, decl_line(LIB_SRC, "dl_spin"))
        # t_dl spends about 10/11 of its CPU in the library
        self.assertGreater(st.stats[keys[0]][2] / total, 0.7)
        self.assertTrue(any(k[2] == "dl_work" for k in st.stats))
        self.assertFalse([k for k in st.stats if "libdlwork.so+0x" in k[2]], list(st.stats))
        with open(os.path.join(self.d, "cpu.folded")) as f:
            self.assertIn(";main;dl_work;dl_spin ", f.read())
        # the dlclose hook counted the call
        self.assertEqual(parse_profile(os.path.join(self.d, "profile.txt")).calls("dlclose"), 1)

    def test_pprof_mappings_carry_build_ids(self):
        gz = os.path.join(self.d, "cpu.pb.gz")
        with open(gz, "rb") as f:
            prof = pprofcheck.decode(f.read())
        maps = {m["filename"]: m for m in prof["mappings"].values()}
        libc = [p for p in maps if os.path.basename(p).startswith("libc.so")]
        self.assertEqual(len(libc), 1, list(maps))
        for path in (self.exe, self.lib, libc[0]):
            want = build_id(path)
            self.assertTrue(want, "readelf found no build ID in %s" % path)
            self.assertEqual(maps[os.path.realpath(path)]["build_id"], want, path)
        # the unloaded library's code points at its mapping
        lib_map = [i for i, m in prof["mappings"].items()
                   if m["filename"] == os.path.realpath(self.lib)]
        self.assertEqual(len(lib_map), 1)
        spin = [fid for fid, fn in prof["functions"].items() if fn["name"] == "dl_spin"]
        self.assertEqual({loc["mapping"] for loc in prof["locations"].values()
                          if any(fid in spin for fid, _ in loc["lines"])}, set(lib_map))

        go = shutil.which("go")
        self.assertIsNotNone(go, "go is not installed (scripts/install-deps)")
        env = dict(os.environ, HOME=self.tmp, GOCACHE=os.path.join(self.tmp, "gocache"))
        env.pop("LD_PRELOAD", None)
        raw = subprocess.run([go, "tool", "pprof", "-raw", "-symbolize=none", gz],
                             capture_output=True, text=True, timeout=120, env=env)
        self.assertEqual(raw.returncode, 0, raw.stderr)
        mappings = raw.stdout.split("Mappings", 1)[1]
        self.assertRegex(mappings, r"%s %s" % (re.escape(os.path.realpath(self.lib)),
                                               build_id(self.lib)))
        top = subprocess.run([go, "tool", "pprof", "-top", "-symbolize=none", gz],
                             capture_output=True, text=True, timeout=120, env=env)
        self.assertEqual(top.returncode, 0, top.stderr)
        self.assertRegex(top.stdout, r"\bdl_spin\b")


if __name__ == "__main__":
    unittest.main()
