# SPDX-License-Identifier: MIT
"""Fault cases: bad settings, an unusable or full output folder, the library
preloaded twice. In every case the target's stdout, exit status and other
stderr are those of a bare run, and Shimmer says what went wrong in exactly
one "shimmer: " line."""
import os
import shutil
import subprocess
import tempfile
import unittest

import shimlib
from shimlib import ShimTest, target

SH = ["sh", "-c", "echo out; echo err >&2; exit 3"]


class FaultTest(ShimTest):
    def t_write(self):
        return [target("t_write"), os.path.join(self.tmp, "data.bin")]

    def assertPassThrough(self, cmd, env, line_prefix, folder_expected=False, **kw):
        """Bare and shimmed runs agree; one shimmer: line starting with line_prefix."""
        bare = self.run_bare(cmd, **kw)
        shim = self.run_shim(cmd, env=env, **kw)
        self.assertEqual(shim.stdout, bare.stdout, "stdout differs under the shim")
        self.assertEqual(shim.rc, bare.rc, "exit status differs under the shim")
        self.assertEqual(shim.other_stderr(), bare.other_stderr(), "stderr differs")
        lines = shim.shimmer_lines()
        self.assertEqual(len(lines), 1, "expected one shimmer: line, got %r" % lines)
        self.assertTrue(lines[0].startswith(line_prefix), "%r lacks %r" % (lines[0], line_prefix))
        if not folder_expected:
            self.assertFalse(os.path.exists(self.out), "an output folder was made")
        return bare, shim

    def assertDataIntact(self):
        self.assertEqual(os.path.getsize(os.path.join(self.tmp, "data.bin")), 100000)


class TestBadSettings(FaultTest):
    CASES = [
        ("SHIMMER_HOOKS", "bogus", "shimmer: SHIMMER_HOOKS=bogus: unknown family 'bogus'"),
        ("SHIMMER_HOOKS", "file,,net", "shimmer: SHIMMER_HOOKS=file,,net: "),
        ("SHIMMER_LOG", "loud", "shimmer: SHIMMER_LOG=loud: expected quiet, error, info or debug"),
        ("SHIMMER_DISABLE", "2", "shimmer: SHIMMER_DISABLE=2: expected 0 or 1"),
        ("SHIMMER_TSC", "auto", "shimmer: SHIMMER_TSC=auto: expected 0 or 1"),
        ("SHIMMER_OUT", "", "shimmer: SHIMMER_OUT=: empty path"),
    ]

    def test_each_bad_value(self):
        for name, value, prefix in self.CASES:
            for cmd in (self.t_write(), SH):
                with self.subTest(var=name, value=value, cmd=cmd[0]):
                    bare, shim = self.assertPassThrough(cmd, {name: value}, prefix, cwd=self.tmp)
                    self.assertIn("instrumentation is off", shim.shimmer_lines()[0])
                    # a relative default must not have made ./shimmer-out either
                    self.assertFalse(os.path.exists(os.path.join(self.tmp, "shimmer-out")))
        self.assertDataIntact()

    def test_disable(self):
        bare, shim = self.assertPassThrough(self.t_write(), {"SHIMMER_DISABLE": "1"},
                                            "shimmer: SHIMMER_DISABLE=1: instrumentation is off")
        self.assertEqual(shim.stdout, b"failed opens: 17\n")
        self.assertDataIntact()
        self.assertPassThrough(SH, {"SHIMMER_DISABLE": "1"}, "shimmer: SHIMMER_DISABLE=1")

    def test_disable_zero_is_on(self):
        bare, shim = self.assertTransparent(self.t_write(), env={"SHIMMER_DISABLE": "0"})
        self.assertEqual(shim.profile("t_write").calls("write"), 1000)


class TestUnusableOut(FaultTest):
    def check_out(self, out, why):
        for cmd in (self.t_write(), SH):
            with self.subTest(out=out, cmd=cmd[0]):
                bare, shim = self.assertPassThrough(
                    cmd, {"SHIMMER_OUT": out}, "shimmer: cannot create an output folder in ")
                self.assertIn(why, shim.shimmer_lines()[0])
        self.assertDataIntact()

    def test_under_a_regular_file(self):
        plain = os.path.join(self.tmp, "plain")
        with open(plain, "w") as f:
            f.write("x")
        self.check_out(os.path.join(plain, "out"), "Not a directory")
        self.check_out(plain, "Not a directory")
        with open(plain) as f:
            self.assertEqual(f.read(), "x")

    def test_dev_full(self):
        self.check_out("/dev/full", "/dev/full")

    def test_proc(self):
        self.check_out("/proc/self/shimmer-out", "/proc/self/shimmer-out")


def _can_mount():
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return "needs root and unshare(1) to mount a private tmpfs"
    p = subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=8k tmpfs /mnt"],
                       capture_output=True)
    if p.returncode != 0:
        return "cannot mount a tmpfs in a private mount namespace here: %s" % (
            p.stderr.decode(errors="replace").strip())
    return None


MOUNT_SKIP = _can_mount()

# Runs "$@" (the target) inside a private mount namespace, with a fresh tmpfs
# on $MNT prepared by $PREP; only the target itself gets the preload.
NS_SCRIPT = r'''
set -e
mount -t tmpfs -o "$OPTS" tmpfs "$MNT"
mkdir -p "$MNT/out"
eval "$PREP"
set +e
if [ -n "$PRE" ]; then LD_PRELOAD="$PRE" SHIMMER_OUT="$MNT/out" "$@"; else "$@"; fi
rc=$?
ls -A "$MNT/out" "$MNT/out"/* > "$LISTING" 2>&1
exit $rc
'''


@unittest.skipIf(MOUNT_SKIP, MOUNT_SKIP)
class TestMountedOut(FaultTest):
    """A full disk and a read-only folder, made real with a private tmpfs."""

    def ns_run(self, cmd, opts, prep, shim):
        mnt = os.path.join(self.tmp, "mnt")
        os.makedirs(mnt, exist_ok=True)
        env = shimlib.base_env({
            "MNT": mnt, "OPTS": opts, "PREP": prep, "PRE": shimlib.preload() if shim else "",
            "LISTING": os.path.join(self.tmp, "listing")})
        p = subprocess.run(["unshare", "-m", "sh", "-c", NS_SCRIPT, "sh"] + cmd, env=env,
                           capture_output=True, timeout=120)
        with open(os.path.join(self.tmp, "listing")) as f:
            listing = f.read()
        return shimlib.Run(p, None), listing

    def check(self, opts, prep, why):
        for cmd in (self.t_write(), SH):
            with self.subTest(cmd=cmd[0]):
                bare, _ = self.ns_run(cmd, opts, prep, shim=False)
                shim, listing = self.ns_run(cmd, opts, prep, shim=True)
                self.assertEqual(shim.stdout, bare.stdout, "stdout differs under the shim")
                self.assertEqual(shim.rc, bare.rc, "exit status differs under the shim")
                self.assertEqual(shim.other_stderr(), bare.other_stderr(), "stderr differs")
                lines = shim.shimmer_lines()
                self.assertEqual(len(lines), 1, "expected one shimmer: line, got %r" % lines)
                self.assertIn(why, lines[0])
                # nothing half-written is left behind
                self.assertNotIn("profile.txt", listing)
                self.assertNotIn(".tmp", listing)
        self.assertDataIntact()

    def test_full_disk(self):
        # fill every block; the folder itself still fits (tmpfs directories
        # take no blocks), the file's bytes do not
        self.check("size=16k", 'dd if=/dev/zero of="$MNT/fill" bs=4k count=64 2>/dev/null || true',
                   "No space left on device")

    def test_read_only_folder(self):
        # root ignores permission bits, not a read-only mount
        self.check("size=16k", 'mount -o remount,ro "$MNT"', "Read-only file system")


class TestPreloadTwice(FaultTest):
    def check_once(self, value):
        shutil.rmtree(self.out, ignore_errors=True)
        bare = self.run_bare(self.t_write())
        shim = self.run_shim(self.t_write(), preload_value=value)
        self.assertEqual(shim.stdout, bare.stdout)
        self.assertEqual(shim.rc, bare.rc)
        self.assertEqual(shim.other_stderr(), bare.other_stderr())
        self.assertEqual(shim.shimmer_lines(), [])
        self.assertEqual(len(shim.folders("t_write")), 1, shim.folders())
        p = shim.profile("t_write")
        self.assertEqual(p.calls("write"), 1000)
        self.assertEqual(p.calls("open"), 18)
        if not shimlib.SAN:  # under ASan its interceptor is write's caller
            self.assertEqual(p.caller_calls("write", "do_writes"), 1000)
        self.assertDataIntact()

    def san(self):
        return " ".join(shimlib._san_runtime() + [""]).lstrip()

    def test_same_path_twice(self):
        self.check_once(self.san() + "%s %s" % (shimlib.LIB, shimlib.LIB))

    def test_copy_at_another_path(self):
        d = os.path.join(self.tmp, "copy")
        os.makedirs(d)
        copy = os.path.join(d, "libshimmer.so")
        shutil.copy(shimlib.LIB, copy)
        self.check_once(self.san() + "%s %s" % (shimlib.LIB, copy))
        self.check_once(self.san() + "%s %s" % (copy, shimlib.LIB))

    def test_renamed_copy(self):
        # a path with no "shimmer" in it at all
        d = tempfile.mkdtemp(prefix="probe-")
        self.addCleanup(shutil.rmtree, d, True)
        copy = os.path.join(d, "libprobe.so")
        shutil.copy(shimlib.LIB, copy)
        self.check_once(self.san() + "%s %s" % (shimlib.LIB, copy))
        self.check_once(self.san() + "%s:%s" % (copy, shimlib.LIB))
