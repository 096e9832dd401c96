# SPDX-License-Identifier: MIT
"""Core counting: exact calls, bytes and errors attributed to their callers."""
import os

from shimlib import ShimTest, target


class TestCounts(ShimTest):
    def test_writes_and_failed_opens(self):
        path = os.path.join(self.tmp, "data.bin")
        bare, shim = self.assertTransparent([target("t_write"), path])
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
