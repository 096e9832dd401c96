# SPDX-License-Identifier: MIT
"""errno transparency: tests/targets/t_errno prints the return value and errno
of failing calls and checks that successful ones leave errno alone; its
stdout must be identical with and without the shim, with every family on and
with each family alone, and the failures must be counted under their errno."""
import unittest

import shimlib
from shimlib import ShimTest, target

T = target("t_errno")

EXPECTED = [
    "open /dev/null: ok=1 errno=MARK",
    "write 1 byte: ok=1 errno=MARK",
    "openat /dev/zero: ok=1 errno=MARK",
    "read 16 bytes: ok=1 errno=MARK",
    "lseek: ok=1 errno=MARK",
    "malloc 16: ok=1 errno=MARK",
    "calloc 4x8: ok=1 errno=MARK",
    "realloc 4096: ok=1 errno=MARK",
    "free: ok=1 errno=MARK",
    "close: ok=1 errno=MARK",
    "socket: ok=1 errno=MARK",
    "open missing: ret=-1 errno=ENOENT",
    "read closed fd: ret=-1 errno=EBADF",
    "write closed fd: ret=-1 errno=EBADF",
    "close closed fd: ret=-1 errno=EBADF",
    "read bad fd -1: ret=-1 errno=EBADF",
    "connect refused: ret=-1 errno=ECONNREFUSED",
    "getaddrinfo numeric: rc=0",
    "freeaddrinfo: ok=1 errno=MARK",
    "malloc huge: ret=-1 errno=ENOMEM",
    "calloc overflow: ret=-1 errno=ENOMEM",
    "realloc huge: ret=-1 errno=ENOMEM",
]


class TestErrno(ShimTest):
    def bare_lines(self):
        """The bare run's lines; a line that differs between two bare runs (a
        resolver that answers differently from one moment to the next) is the
        environment's, not ours, and is left out of the comparison."""
        a = self.run_bare([T])
        b = self.run_bare([T])
        self.assertEqual(a.rc, 0, a.stderr)
        la, lb = a.stdout.decode().splitlines(), b.stdout.decode().splitlines()
        self.assertEqual(len(la), len(lb))
        unstable = {i for i, (x, y) in enumerate(zip(la, lb)) if x != y}
        return a, la, unstable

    def test_bare_target_is_right(self):
        """The target itself: glibc's behaviour the shim must reproduce."""
        _, lines, _ = self.bare_lines()
        for want in EXPECTED:
            self.assertIn(want, lines)
        gai = [l for l in lines if l.startswith("getaddrinfo .invalid:")]
        self.assertEqual(len(gai), 1)
        self.assertNotIn("rc=0 ", gai[0])

    def check_same(self, env=None):
        bare, lines, unstable = self.bare_lines()
        shim = self.run_shim([T], env=env)
        got = shim.stdout.decode().splitlines()
        self.assertEqual(shim.rc, bare.rc)
        self.assertEqual(shim.shimmer_lines(), [])
        self.assertEqual(shim.other_stderr(), bare.other_stderr())
        self.assertEqual(len(got), len(lines), shim.stdout.decode())
        for i, (g, w) in enumerate(zip(got, lines)):
            if i not in unstable:
                self.assertEqual(g, w, "line %d differs under the shim (env %r)" % (i, env))
        return shim

    def test_same_output_under_shim(self):
        self.check_same()

    def test_same_output_each_family_alone(self):
        for fam in ("file", "net", "dns", "alloc", "stdio", "proc", "none"):
            with self.subTest(family=fam):
                self.tearDown()
                self.setUp()
                self.check_same({"SHIMMER_HOOKS": fam})

    def test_failures_counted_by_errno(self):
        p = self.check_same().profile("t_errno")
        self.assertEqual(p.errno_count("open", "ENOENT"), 1)
        self.assertEqual(p.errno_count("read", "EBADF"), 2)
        self.assertEqual(p.errno_count("write", "EBADF"), 1)
        self.assertEqual(p.errno_count("close", "EBADF"), 1)
        self.assertEqual(p.functions["read"]["errors"], 2)
        self.assertEqual(p.calls("read"), 3)

    def test_net_and_dns_counted(self):
        p = self.check_same().profile("t_errno")
        self.assertEqual(p.calls("connect"), 1)
        self.assertEqual(p.errno_count("connect", "ECONNREFUSED"), 1)
        self.assertEqual(p.calls("getaddrinfo"), 2)
        self.assertEqual(p.functions["getaddrinfo"]["errors"], 1)
        self.assertEqual(p.calls("freeaddrinfo"), 1)

    @unittest.skipIf(shimlib.SAN, "under ASan its own malloc is first in the preload, "
                                  "so the alloc hooks never see the target's calls")
    def test_failed_allocations_counted(self):
        p = self.check_same().profile("t_errno")
        self.assertGreaterEqual(p.functions["malloc"]["errors"], 1)
        self.assertGreaterEqual(p.functions["calloc"]["errors"], 1)
        self.assertGreaterEqual(p.functions["realloc"]["errors"], 1)
