# SPDX-License-Identifier: MIT
"""Core counting: exact calls, bytes and errors attributed to their callers."""
import glob
import os
import re
import subprocess

from shimlib import SHIMMER, ShimTest, target

SRC = os.path.join(os.path.dirname(__file__), "..", "..")


class TestCounts(ShimTest):
    ENV = {}

    def test_writes_and_failed_opens(self):
        path = os.path.join(self.tmp, "data.bin")
        bare, shim = self.assertTransparent([target("t_write"), path], env=self.ENV)
        self.assertEqual(shim.stdout, b"failed opens: 17\n")
        p = shim.profile("t_write")
        self.assertEqual(p.calls("write"), 1000)
        self.assertEqual(p.functions["write"]["bytes"], 100000)
        self.assertEqual(p.caller_calls("write", "do_writes"), 1000)
        self.assertEqual(p.caller_calls("open", "fail_opens"), 17)
        self.assertEqual(p.errno_count("open", "ENOENT"), 17)
        self.assertEqual(p.functions["open"]["errors"], 17)
        self.assertEqual(p.resources[path]["written"], 100000)
        self.assertEqual(p.resources[path]["kind"], "file")
        self.assertEqual(os.stat(path).st_size, 100000)
        self.assertGreater(p.functions["write"]["seconds"], 0)
        self.assertGreater(p.resources[path]["seconds"], 0)


class TestCountsClockGettime(TestCounts):
    """The same counts, callers and times with the calls timed by
    clock_gettime (the hooks' out-of-line way, taken where the CPU has no
    invariant TSC)."""
    ENV = {"SHIMMER_TSC": "0"}


class TestSettingsDocumented(ShimTest):
    def test_every_setting_in_help_and_readme(self):
        """Each SHIMMER_* the library reads is in `shimmer --help` and in the
        README, each with a default in the help."""
        names = set()
        for f in glob.glob(os.path.join(SRC, "shim", "*.c")):
            with open(f) as fh:
                names.update(re.findall(r'getenv\("(SHIMMER_[A-Z_]+)"\)', fh.read()))
        self.assertIn("SHIMMER_TSC", names)
        self.assertGreater(len(names), 15)
        out = subprocess.run([SHIMMER, "--help"], capture_output=True, text=True)
        self.assertEqual(out.returncode, 0)
        help_text = out.stdout
        with open(os.path.join(SRC, "README.md")) as fh:
            readme = fh.read()
        for name in sorted(names):
            with self.subTest(setting=name):
                self.assertIn(name, readme)
                at = help_text.find("  " + name + "=")
                self.assertGreaterEqual(at, 0, "not in shimmer --help")
                nxt = re.search(r"\n  [A-Z_]+[=,]", help_text[at + 2:])
                entry = help_text[at:at + 2 + nxt.start()] if nxt else help_text[at:]
                self.assertRegex(entry, r"default ", "no default in shimmer --help")


class TestOwnFds(ShimTest):
    def test_first_fds_are_the_programs(self):
        """Shimmer's own fds (libunwind's probe pipe, the worker's) stay far
        above the numbers the program's first open and pipe get."""
        for env in ({}, {"SHIMMER_HZ": "1000", "SHIMMER_HEAP_SAMPLE": "1"},
                    {"SHIMMER_FLUSH_SECS": "1"}):
            bare, shim = self.assertTransparent([target("t_firstfd")], env=env)
            self.assertEqual(shim.stdout, b"open 3 pipe 4 5\n", env)


class TestWorkerFds(ShimTest):
    def test_reader_sees_eof_with_the_worker_running(self):
        """The worker keeps no copy of the program's fds: a pipe the program
        closes reaches EOF although the worker started while it was open."""
        for env in ({"SHIMMER_FLUSH_SECS": "1"}, {"SHIMMER_CONTROL": "1"}):
            bare, shim = self.assertTransparent([target("t_pipe_eof")], env=env, timeout=30)
            self.assertEqual(shim.rc, 0)
