# SPDX-License-Identifier: MIT
"""libunwind is loaded only by a process that may walk stacks: with CPU
sampling on, at start (the signal handler never loads anything, and a compute
loop that makes no call must get DWARF stacks from its first sample); with
heap sampling alone, at the first heap sample, from the allocation hook. A
process with CPU sampling off that takes no heap sample never maps it."""
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

    def test_cpu_sampling_loads_it(self):
        run = self.run_shim([target("t_start"), "0.3"], env={"SHIMMER_HEAP_SAMPLE": "0"})
        self.assertEqual(run.rc, 0, run.stderr)
        self.assertEqual(run.stdout, MAPPED)
        self.assertEqual(run.shimmer_lines(), [])
        stacks = folded(os.path.join(self.folder(run, "t_start"), "cpu.folded"))
        self.assertTrue(any(s.endswith("main;spin") for s in stacks), stacks)

    def test_first_samples_unwound_without_frame_pointers(self):
        # -O2 -fomit-frame-pointer: a frame-pointer walk cannot reach main
        # from func_a; libunwind is loaded before the first sample, so no
        # sample of the split functions lacks main
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
