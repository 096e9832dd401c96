# SPDX-License-Identifier: MIT
"""Helpers for end-to-end tests: run a real program bare and under the shim,
find each process's run folder and parse profile.txt back into numbers."""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

BUILD = os.environ.get("SHIMMER_BUILD") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", "build"))
LIB = os.path.join(BUILD, "libshimmer.so")
TARGETS = os.path.join(BUILD, "targets")
SHIMMER = os.path.join(BUILD, "shimmer")
SAN = os.environ.get("SHIMMER_SAN") == "1"


# Under make asan, allocator_may_return_null=1 still has ASan note each failed
# huge allocation on stderr: the sanitizer's voice, not the target's.
_SAN_NOTE = re.compile(r"^==\d+==WARNING: AddressSanitizer failed to allocate ") if SAN else \
    re.compile(r"(?!)")


def _san_runtime():
    if not SAN:
        return []
    out = subprocess.run(["cc", "-print-file-name=libasan.so"], capture_output=True, text=True)
    return [out.stdout.strip()]


def preload():
    """LD_PRELOAD value: the sanitizer runtime (under make asan) before us."""
    return " ".join(_san_runtime() + [LIB])


def base_env(extra=None):
    env = dict(os.environ)
    # the machine's own settings never leak into a run: each test sets what
    # it means (OTLP endpoints, trace context, debuginfod servers)
    for k in list(env):
        if (k.startswith(("SHIMMER_", "OTEL_")) and k not in ("SHIMMER_BUILD", "SHIMMER_SAN")) \
                or k in ("TRACEPARENT", "TRACESTATE", "DEBUGINFOD_URLS"):
            del env[k]
    env.pop("LD_PRELOAD", None)
    if SAN:
        env["ASAN_OPTIONS"] = ("detect_leaks=0:verify_asan_link_order=0:abort_on_error=0:"
                               "allocator_may_return_null=1")
        env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
    if extra:
        env.update(extra)
    return env


class Run:
    def __init__(self, proc, out_dir):
        self.rc = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.out_dir = out_dir

    def shimmer_lines(self):
        text = self.stderr.decode(errors="replace") if isinstance(self.stderr, bytes) else self.stderr
        return [l for l in text.splitlines() if l.startswith("shimmer: ")]

    def other_stderr(self):
        text = self.stderr.decode(errors="replace") if isinstance(self.stderr, bytes) else self.stderr
        return "\n".join(l for l in text.splitlines()
                         if not l.startswith("shimmer: ") and not _SAN_NOTE.match(l))

    def folders(self, prefix=None):
        """Run folders, one per process image: name -> path."""
        if not self.out_dir or not os.path.isdir(self.out_dir):
            return {}
        res = {}
        for name in sorted(os.listdir(self.out_dir)):
            if prefix is None or name.startswith(prefix + "."):
                res[name] = os.path.join(self.out_dir, name)
        return res

    def profile(self, prefix):
        """The parsed profile.txt of the only folder whose exe is `prefix`."""
        f = self.folders(prefix)
        if len(f) != 1:
            raise AssertionError("expected one folder for %s, got %s" % (prefix, list(f)))
        return parse_profile(os.path.join(next(iter(f.values())), "profile.txt"))


def run(cmd, shim=True, env=None, out_dir=None, timeout=120, cwd=None, stdin=None,
        preload_value=None):
    """Run cmd (a list) bare (shim=False) or under the shim with SHIMMER_OUT=out_dir."""
    e = base_env(env)
    if shim:
        if out_dir is None:
            out_dir = tempfile.mkdtemp(prefix="shimmer-e2e-")
        e.setdefault("SHIMMER_OUT", out_dir)
        e["LD_PRELOAD"] = preload_value if preload_value is not None else preload()
    p = subprocess.Popen(cmd, env=e, stdin=subprocess.PIPE if stdin is not None else None,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd)
    try:
        out, err = p.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        report_hang(p.pid)
        p.kill()
        p.communicate()
        raise
    return Run(subprocess.CompletedProcess(cmd, p.returncode, out, err), out_dir if shim else None)


def process_tree(pid):
    """pid and its descendants, parents first."""
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                kids.setdefault(ppid, []).append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    tree, todo = [], [pid]
    while todo:
        p = todo.pop(0)
        tree.append(p)
        todo.extend(sorted(kids.get(p, [])))
    return tree


def report_hang(pid):
    """A run that timed out: say where every process of its tree waits (state,
    kernel wait channel, every thread's stack through gdb when there is one),
    on stderr, so a hang seen once in CI can be read off its log."""
    lines = ["=== timed out: process tree of pid %d ===" % pid]
    for p in process_tree(pid):
        try:
            with open("/proc/%d/cmdline" % p, "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            tasks = sorted(os.listdir("/proc/%d/task" % p), key=int)
        except OSError:
            continue
        lines.append("--- pid %d: %s" % (p, cmd))
        for t in tasks:
            base = "/proc/%d/task/%s/" % (p, t)
            try:
                with open(base + "stat") as f:
                    state = f.read().rsplit(")", 1)[1].split()[0]
                with open(base + "wchan") as f:
                    wchan = f.read()
            except OSError:
                continue
            lines.append("    tid %s state %s wchan %s" % (t, state, wchan))
        if shutil.which("gdb"):
            try:
                bt = subprocess.run(["gdb", "-p", str(p), "-batch", "-nx",
                                     "-ex", "thread apply all bt 30"],
                                    capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
                lines.extend("    " + l for l in bt.stdout.decode(errors="replace").splitlines()
                             if l.startswith(("#", "Thread")))
            except (OSError, subprocess.TimeoutExpired):
                lines.append("    (gdb did not answer)")
    sys.stderr.write("\n".join(lines) + "\n")
    sys.stderr.flush()


def folded(path):
    """A folded-stacks file as {stack: count} (repeated stacks summed)."""
    res = {}
    with open(path) as f:
        for line in f:
            stack, count = line.rstrip("\n").rsplit(" ", 1)
            res[stack] = res.get(stack, 0) + int(count)
    return res


def target(name):
    return os.path.join(TARGETS, name)


ROW = re.compile(r"^\s*(\d+)(?:/(\d+))?\s+([\d.]+)\s+([\d.]+|\s{8})\s+([\d.]+)\s+([\d.]+|\s{8})\s(.+)$")


class Profile:
    def __init__(self):
        self.header = ""
        self.total_calls = None
        self.total_seconds = None
        self.rows = {}      # "libc.so.6:0(write)" -> dict(ncalls, tottime, cumtime)
        self.callers = {}   # function -> {caller: ncalls}
        self.functions = {} # "write" -> dict(family, calls, errors, bytes, seconds)
        self.errors = []    # (count, errno name, function)
        self.resources = {} # name -> dict(ops, errors, read, written, seconds, kind)
        self.text = ""

    def calls(self, fn):
        return self.functions.get(fn, {}).get("calls", 0)

    def caller_calls(self, fn, caller_func):
        """Calls of libc function fn made from the function named caller_func."""
        if SAN:
            for key, callers in self.callers.items():
                if key.endswith("(%s)" % fn) and any(c.startswith("libasan") for c in callers):
                    # libasan is first in LD_PRELOAD: its interceptor calls our hook
                    raise unittest.SkipTest(
                        "under ASan the sanitizer's %s interceptor is the caller of our hook; "
                        "caller attribution is checked in the plain build" % fn)
        total = 0
        for key, callers in self.callers.items():
            if key.endswith("(%s)" % fn):
                for c, n in callers.items():
                    if c.endswith("(%s)" % caller_func):
                        total += n
        return total

    def errno_count(self, fn, errname):
        return sum(c for c, e, f in self.errors if f == fn and e == errname)


def parse_profile(path):
    p = Profile()
    with open(path) as f:
        p.text = f.read()
    lines = p.text.splitlines()
    section = None
    current = None
    for line in lines:
        m = re.match(r"^\s+(\d+) function calls(?: \((\d+) primitive calls\))? in ([\d.]+) seconds", line)
        if m:
            p.total_calls = int(m.group(1))
            p.total_seconds = float(m.group(3))
            continue
        if line.startswith("   ncalls  tottime"):
            section = "rows"
            continue
        if line.startswith("Function ") and "was called by" in line:
            section = "callers"
            continue
        if line.startswith("   Calls by function"):
            section = "functions"
            continue
        if line.startswith("   Errors"):
            section = "errors"
            continue
        m = re.match(r"^   (Files|Peers|Pipes and other fds|DNS names) \(", line)
        if m:
            section = "res"
            continue
        if not line.strip():
            if section == "rows":
                section = None
            continue
        if section == "rows":
            m = ROW.match(line)
            if m:
                p.rows[m.group(7)] = dict(ncalls=int(m.group(1)), tottime=float(m.group(3)),
                                          cumtime=float(m.group(5)))
        elif section == "callers":
            if "ncalls  tottime  cumtime" in line:
                continue
            m = re.match(r"^(\S.*?)\s*<-\s*(?:(\d+)\s+([\d.]+)\s+([\d.]+)\s\s(.+))?$", line)
            if m:
                current = m.group(1)
                p.callers[current] = {}
                if m.group(2):
                    p.callers[current][m.group(5)] = int(m.group(2))
                continue
            m = re.match(r"^\s+(\d+)\s+([\d.]+)\s+([\d.]+)\s\s(.+)$", line)
            if m and current:
                p.callers[current][m.group(4)] = int(m.group(1))
        elif section == "functions":
            m = re.match(r"^\s+(\w+)\s+(\d+)\s+(\d+)\s+(\d+)\s+([\d.]+)\s+\S+:\d+\((.+)\)$", line)
            if m:
                p.functions[m.group(6)] = dict(family=m.group(1), calls=int(m.group(2)),
                                               errors=int(m.group(3)), bytes=int(m.group(4)),
                                               seconds=float(m.group(5)))
        elif section == "errors":
            m = re.match(r"^\s+(\d+)\s+(\S+)\s+(\S+)$", line)
            if m:
                p.errors.append((int(m.group(1)), m.group(2), m.group(3)))
        elif section == "res":
            m = re.match(r"^\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+([\d.]+)\s+(\S+)\s+(.+)$", line)
            if m:
                p.resources[m.group(7)] = dict(ops=int(m.group(1)), errors=int(m.group(2)),
                                               read=int(m.group(3)), written=int(m.group(4)),
                                               seconds=float(m.group(5)), kind=m.group(6))
    return p


class ShimTest(unittest.TestCase):
    """Base class: a fresh output folder per test, removed afterwards."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="shimmer-e2e-")
        self.out = os.path.join(self.tmp, "out")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run_shim(self, cmd, env=None, **kw):
        return run(cmd, shim=True, env=env, out_dir=self.out, **kw)

    def run_bare(self, cmd, env=None, **kw):
        return run(cmd, shim=False, env=env, **kw)

    def assertTransparent(self, cmd, env=None, **kw):
        """Same stdout, exit status and stderr (less shimmer: lines) as bare."""
        bare = self.run_bare(cmd, env=env, **kw)
        shim = self.run_shim(cmd, env=env, **kw)
        self.assertEqual(shim.stdout, bare.stdout, "stdout differs under the shim")
        self.assertEqual(shim.rc, bare.rc, "exit status differs under the shim")
        self.assertEqual(shim.other_stderr(), bare.other_stderr(), "stderr differs")
        self.assertEqual(shim.shimmer_lines(), [], "unexpected shimmer: lines")
        return bare, shim
