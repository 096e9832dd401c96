# SPDX-License-Identifier: MIT
"""The sampling CPU profiler: known CPU splits in every build of t_cpu (pstats
and pprof read by their real consumers), threads, the program's own SIGPROF
handler, stripped code, wall-clock mode and a fork+exec stress run."""
import glob
import json
import os
import pstats
import re
import shutil
import subprocess
import unittest

from shimlib import SAN, ShimTest, folded, target

SRC = os.path.join(os.path.dirname(__file__), "..", "targets", "t_cpu.c")
TRUTH = {"func_a": 0.60, "func_b": 0.30, "func_c": 0.10}
YIELD_LINE = "shimmer: the program handles SIGPROF: CPU sampling is off"


def decl_line(func):
    with open(SRC) as f:
        for n, line in enumerate(f, 1):
            if re.match(r".*\bvoid %s\(" % func, line):
                return n
    raise AssertionError("no definition of %s in t_cpu.c" % func)


class TestProfiler(ShimTest):
    def one_folder(self, run, exe):
        f = run.folders(exe)
        self.assertEqual(len(f), 1, "run folders: %s" % list(f))
        return next(iter(f.values()))

    def check_split(self, exe):
        run = self.run_shim([target(exe)], env={"SHIMMER_HZ": "200"})
        self.assertEqual(run.rc, 0, run.stderr)
        self.assertEqual(run.stdout, b"done 1\n")
        self.assertEqual(run.shimmer_lines(), [])
        d = self.one_folder(run, exe)

        st = pstats.Stats(os.path.join(d, "profile.pstats"))
        total = sum(v[2] for v in st.stats.values())
        self.assertGreater(total, 0.5, "too little sampled time")
        for func, share in TRUTH.items():
            keys = [k for k in st.stats if k[2] == func]
            self.assertEqual(len(keys), 1, "%s in %s" % (func, list(st.stats)))
            fname, line, _ = keys[0]
            got = st.stats[keys[0]][2] / total
            self.assertAlmostEqual(got, share, delta=0.05, msg="%s share %.3f" % (func, got))
            self.assertEqual(os.path.basename(fname), "t_cpu.c")
            self.assertEqual(line, decl_line(func))

        # pprof, read by go's own pprof without re-symbolizing
        out = subprocess.run(["go", "tool", "pprof", "-top", "-symbolize=none",
                              os.path.join(d, "cpu.pb.gz")], capture_output=True, text=True,
                             timeout=120, env=dict(os.environ, HOME=self.tmp,
                                                   GOCACHE=os.path.join(self.tmp, "gocache")))
        self.assertEqual(out.returncode, 0, out.stderr)
        flat = {}
        for line in out.stdout.splitlines():
            m = re.match(r"^\s*\S+\s+([\d.]+)%\s+[\d.]+%\s+\S+\s+[\d.]+%\s+(\S+)$", line)
            if m:
                flat[m.group(2)] = float(m.group(1)) / 100
        for func, share in TRUTH.items():
            self.assertAlmostEqual(flat.get(func, 0), share, delta=0.05,
                                   msg="pprof %s: %s" % (func, out.stdout))

        # folded: the split functions sit under work()/main() (a tail call
        # at -O2 may skip work for func_c)
        stacks = folded(os.path.join(d, "cpu.folded"))
        self.assertTrue(any(s.endswith("main;work;func_a") for s in stacks), stacks)

    @unittest.skipUnless(shutil.which("go"), "go tool pprof needed")
    def test_split_O0_fp(self):
        self.check_split("t_cpu")

    @unittest.skipUnless(shutil.which("go"), "go tool pprof needed")
    def test_split_O0_nofp(self):
        self.check_split("t_cpu_O0_nofp")

    @unittest.skipUnless(shutil.which("go"), "go tool pprof needed")
    def test_split_O2_nofp(self):
        self.check_split("t_cpu_O2")

    @unittest.skipUnless(shutil.which("go"), "go tool pprof needed")
    def test_split_O2_fp(self):
        self.check_split("t_cpu_O2_fp")

    def test_threads_all_sampled(self):
        run = self.run_shim([target("t_cpu_threads")])
        self.assertEqual(run.rc, 0, run.stderr)
        cpu_s = int(re.match(rb"cpu_us (\d+)", run.stdout).group(1)) / 1e6
        d = self.one_folder(run, "t_cpu_threads")
        with open(os.path.join(d, "profile.speedscope.json")) as f:
            ss = json.load(f)
        names = {p["name"].split(" ")[0]: p for p in ss["profiles"]}
        for i in range(4):
            p = names.get("worker%d" % i)
            self.assertIsNotNone(p, "no samples from worker%d: %s" % (i, list(names)))
            # each worker burns a quarter of the process's CPU time
            self.assertGreater(sum(p["weights"]) / 1e9, 0.15 * cpu_s)
        self.assertEqual(ss["profiles"][0]["unit"], "nanoseconds")
        sampled = sum(sum(p["weights"]) for p in ss["profiles"]) / 1e9
        self.assertAlmostEqual(sampled, cpu_s, delta=0.10 * cpu_s,
                               msg="sampled %.3f s, getrusage %.3f s" % (sampled, cpu_s))
        stacks = folded(os.path.join(d, "cpu.folded"))
        self.assertTrue(any(s.endswith("worker;spin") for s in stacks), stacks)

    def test_wall_clock_shows_blocked_time(self):
        run = self.run_shim([target("t_cpu_threads"), "0.5"], env={"SHIMMER_CLOCK": "wall"})
        self.assertEqual(run.rc, 0, run.stderr)
        d = self.one_folder(run, "t_cpu_threads")
        stacks = folded(os.path.join(d, "cpu.folded"))
        # the main thread only waits in pthread_join: CPU sampling cannot see it
        blocked = sum(n for s, n in stacks.items() if re.search(r";main;[^;]*join", s))
        self.assertGreater(blocked, 0, stacks)

    def test_program_sigprof_handler_kept(self):
        for how in ("sigaction", "signal"):
            bare = self.run_bare([target("t_cpu_sigprof"), how])
            run = self.run_shim([target("t_cpu_sigprof"), how])
            self.assertEqual(bare.stdout, b"own SIGPROF handler ran: yes\n")
            self.assertEqual(run.stdout, bare.stdout)
            self.assertEqual(run.rc, 0)
            self.assertEqual(run.shimmer_lines(), [YIELD_LINE])
            shutil.rmtree(self.out, ignore_errors=True)

    def test_stripped_gives_module_offsets(self):
        exe = "t_cpu_stripped"
        run = self.run_shim([target(exe)], env={"SHIMMER_HZ": "200"})
        self.assertEqual(run.rc, 0, run.stderr)
        d = self.one_folder(run, exe)
        stacks = folded(os.path.join(d, "cpu.folded"))
        leaves = {}
        for s, n in stacks.items():
            frames = s.split(";")
            for fr in frames:
                self.assertNotIn(fr, ("func_a", "func_b", "func_c", "work", "main"))
                if fr.startswith(exe):
                    self.assertRegex(fr, r"^%s\+0x[0-9a-f]+$" % exe)
            leaves[frames[-1]] = leaves.get(frames[-1], 0) + n
        # the hottest addresses lie inside func_a of the unstripped twin
        syms = {}
        nm = subprocess.run(["nm", "-S", target(exe) + ".full"], capture_output=True,
                            text=True, check=True).stdout
        for line in nm.splitlines():
            parts = line.split()
            if len(parts) == 4 and parts[3] in TRUTH:
                syms[parts[3]] = (int(parts[0], 16), int(parts[1], 16))
        # leaves outside the binary (libc, or the sanitizer runtime under
        # make asan) are few; the split is measured over the binary's own
        ours = {l: n for l, n in leaves.items() if l.startswith(exe + "+0x")}
        self.assertGreater(sum(ours.values()), 0.9 * sum(leaves.values()))
        in_a = 0
        for leaf, n in ours.items():
            off = int(leaf.split("+0x")[1], 16)
            lo, size = syms["func_a"]
            if lo <= off < lo + size:
                in_a += n
        self.assertAlmostEqual(in_a / sum(ours.values()), 0.60, delta=0.05)

    def test_stress_threads_fork_exec_1000hz(self):
        args = [target("t_cpu_stress"), "5"]
        if SAN:
            # GCC 12's ASan allocator takes no locks around fork (LLVM added
            # that in 18): a thread inside malloc at the fork leaves its lock
            # held in the child, and the child's exec-time flush (which
            # allocates, as glibc's fork-safe malloc allows) waits forever.
            # "calm": the threads are running and sampled at the fork but
            # none is inside the allocator; they allocate after it.
            args.append("calm")
        bare = self.run_bare(args, timeout=120)
        run = self.run_shim(args, env={"SHIMMER_HZ": "1000"}, timeout=120)
        self.assertEqual(bare.rc, 0)
        self.assertEqual(run.rc, 0, run.stderr)
        self.assertEqual(run.stdout, bare.stdout)
        self.assertIn(b"surprises 0 child 0", run.stdout)
        self.assertEqual(run.shimmer_lines(), [])
        folders = run.folders("t_cpu_stress")
        self.assertEqual(len(folders), 3, list(folders))  # parent, forked child, exec'd child
        parent = min(folders.values(), key=lambda p: int(os.path.basename(p).split(".")[1]))
        stacks = folded(os.path.join(parent, "cpu.folded"))
        self.assertTrue(any(";worker;" in s for s in stacks), stacks)

    def test_settings(self):
        run = self.run_shim([target("t_cpu"), "0.05"], env={"SHIMMER_HZ": "0"})
        self.assertEqual(run.stdout, b"done 1\n")
        d = self.one_folder(run, "t_cpu")
        path = os.path.join(d, "cpu.folded")
        self.assertTrue(not os.path.exists(path) or not folded(path))
        shutil.rmtree(self.out, ignore_errors=True)
        for k, v in (("SHIMMER_HZ", "fast"), ("SHIMMER_HZ", "10001"), ("SHIMMER_CLOCK", "cycles"),
                     ("SHIMMER_STACK_DEPTH", "0")):
            run = self.run_shim([target("t_cpu"), "0.05"], env={k: v})
            self.assertEqual(run.stdout, b"done 1\n")
            self.assertEqual(run.rc, 0)
            lines = run.shimmer_lines()
            self.assertEqual(len(lines), 1, lines)
            self.assertIn("%s=%s" % (k, v), lines[0])


if __name__ == "__main__":
    unittest.main()
