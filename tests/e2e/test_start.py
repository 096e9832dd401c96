# SPDX-License-Identifier: MIT
"""libunwind is loaded only by a process that walks stacks, and never at
start or in a signal handler: CPU samples taken before it is loaded are
copied (registers and stack) and unwound from a normal context later (the
thread's next allocation, its end, the process's exit); with heap sampling, at
the first heap sample, from the allocation hook. A process that takes no
sample never maps it, with CPU sampling on or off."""
import os
import re
import unittest

from shimlib import SAN, ShimTest, folded, target

MAPPED = b"libunwind: mapped\n"
NOT_MAPPED = b"libunwind: not mapped\n"


class TestStart(ShimTest):
    def folder(self, run, exe):
        f = run.folders(exe)
        self.assertEqual(len(f), 1, "run folders: %s" % list(f))
        return next(iter(f.values()))

    def test_short_process_does_not_map_libunwind(self):
        # t_start allocates nothing: heap sampling (on by default) takes no
        # sample, and with CPU sampling off nothing else wants the unwinder
        bare, shim = self.assertTransparent([target("t_start")], env={"SHIMMER_HZ": "0"})
        self.assertEqual(bare.stdout, NOT_MAPPED)
        prof = shim.profile("t_start")  # the profile is still written
        self.assertGreater(prof.calls("read"), 0)

    def test_nothing_wants_it_when_sampling_is_off(self):
        run = self.run_shim([target("t_start"), "0.3", "16384"],
                            env={"SHIMMER_HZ": "0", "SHIMMER_HEAP_SAMPLE": "0"})
        self.assertEqual(run.rc, 0, run.stderr)
        self.assertEqual(run.stdout, NOT_MAPPED)

    def test_short_process_with_cpu_sampling_does_not_map_it(self):
        # the defaults: CPU sampling on; no sample in so short a run
        run = self.run_shim([target("t_start")])
        self.assertEqual(run.rc, 0, run.stderr)
        self.assertEqual(run.stdout, NOT_MAPPED)
        self.assertEqual(run.shimmer_lines(), [])

    def test_early_samples_unwound_at_exit(self):
        # spin() makes no call that could load it: its samples wait, copied,
        # and are unwound at exit, each to main
        run = self.run_shim([target("t_start"), "0.3"], env={"SHIMMER_HEAP_SAMPLE": "0"})
        self.assertEqual(run.rc, 0, run.stderr)
        self.assertEqual(run.stdout, NOT_MAPPED)
        self.assertEqual(run.shimmer_lines(), [])
        stacks = folded(os.path.join(self.folder(run, "t_start"), "cpu.folded"))
        spin = {s: n for s, n in stacks.items() if s.endswith(";spin")}
        self.assertGreater(sum(spin.values()), 10, stacks)
        self.assertTrue(all(s.endswith("main;spin") for s in spin), stacks)

    @unittest.skipIf(SAN, "under ASan its allocator answers malloc first: no allocation hook")
    def test_next_allocation_loads_it(self):
        # heap sampling off: the allocation after the first CPU sample
        # replays the waiting samples, so libunwind is mapped before the
        # program reads its maps
        run = self.run_shim([target("t_start"), "0.3", "16"], env={"SHIMMER_HEAP_SAMPLE": "0"})
        self.assertEqual(run.rc, 0, run.stderr)
        self.assertEqual(run.stdout, MAPPED)
        stacks = folded(os.path.join(self.folder(run, "t_start"), "cpu.folded"))
        self.assertTrue(any(s.endswith("main;spin") for s in stacks), stacks)

    def test_first_samples_unwound_without_frame_pointers(self):
        # -O2 -fomit-frame-pointer: a frame-pointer walk cannot reach main
        # from func_a; the loop makes no call until it ends, so every sample
        # is an early one, copied and unwound by DWARF at exit: none lacks
        # main
        run = self.run_shim([target("t_cpu_O2"), "0.3"], env={"SHIMMER_HZ": "200"})
        self.assertEqual(run.rc, 0, run.stderr)
        stacks = folded(os.path.join(self.folder(run, "t_cpu_O2"), "cpu.folded"))
        leaves = {s: n for s, n in stacks.items() if re.search(r"(^|;)func_[abc]$", s)}
        self.assertGreater(sum(leaves.values()), 20, stacks)
        bad = {s: n for s, n in leaves.items() if ";main;" not in s}
        self.assertEqual(bad, {}, "samples not unwound to main: %s" % stacks)

    @unittest.skipIf(SAN, "under ASan its allocator answers malloc first: no heap samples")
    def test_first_heap_sample_loads_it(self):
        # 16 MiB in 1 KiB blocks at the default mean (512 KiB): ~32 samples
        run = self.run_shim([target("t_start"), "0", "16384"], env={"SHIMMER_HZ": "0"})
        self.assertEqual(run.rc, 0, run.stderr)
        self.assertEqual(run.stdout, MAPPED)
        stacks = folded(os.path.join(self.folder(run, "t_start"), "heap.folded"))
        self.assertTrue(any(s.endswith("main;churn") for s in stacks), stacks)
        # the first sample's stack too: every sampled block came from churn
        self.assertTrue(all(s.endswith("main;churn") for s in stacks), stacks)


if __name__ == "__main__":
    unittest.main()
