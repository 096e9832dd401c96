# SPDX-License-Identifier: MIT
"""Process tree: one complete folder per process image (fork children, exec'd
images), exact counts in each, vfork children transparent and silent."""
import os
import platform

from shimlib import SAN, ShimTest, parse_profile, target

THREADS = 16
THREAD_WRITES = 25

EXPECTED_STDOUT = (b"exit 0\n_exit 3\nexec_self 0\nexec_fails 4\nexeclp 0\nexecle 0\n"
                   b"vfork_true 0\nvfork_fails 126\nspawn 0\n")


def callers(p, fn, func):
    """Calls of fn from func; None under ASan, whose interceptors (write,
    pthread_create, fork, ...) stand between the program and us: the caller
    we see is libasan."""
    return None if SAN else p.caller_calls(fn, func)


class ProcTest(ShimTest):
    def assertCallers(self, p, fn, func, n):
        got = callers(p, fn, func)
        if got is not None:
            self.assertEqual(got, n, "%s from %s" % (fn, func))


class TestProcessTree(ProcTest):
    def run_tree(self, mallocs=100, env=None):
        pids = os.path.join(self.tmp, "pids")
        bare, shim = self.assertTransparent([target("t_proc"), pids, str(mallocs)], env=env)
        with open(pids) as f:
            roles = dict((l.split()[0], int(l.split()[1])) for l in f)
        return shim, roles

    def folder(self, shim, exe, pid):
        path = os.path.join(shim.out_dir, "%s.%d" % (exe, pid))
        self.assertTrue(os.path.isfile(os.path.join(path, "profile.txt")),
                        "no profile.txt in %s (have %s)" % (path, sorted(shim.folders())))
        return parse_profile(os.path.join(path, "profile.txt"))

    def expected_folders(self, r):
        return sorted(["t_proc.%d" % r[k] for k in
                       ("parent", "exit", "_exit", "exec_self", "exec_fails", "execlp",
                        "execle")] +
                      ["t_proc_img.%d" % r["exec_self"]] +
                      ["true.%d" % r[k] for k in ("execlp", "execle", "vfork_true", "spawn")] +
                      # vfork is served by fork off x86_64: a child of its own
                      ([] if platform.machine() == "x86_64" else
                       ["t_proc.%d" % r[k] for k in ("vfork_true", "vfork_fails")]))

    def test_one_folder_per_process_with_exact_counts(self):
        shim, r = self.run_tree()
        self.assertEqual(shim.stdout, EXPECTED_STDOUT)
        # every process image left its own folder, and nothing else did: not
        # the vfork children before their exec, not the failed vfork child
        self.assertEqual(sorted(shim.folders()), self.expected_folders(r))

        parent = self.folder(shim, "t_proc", r["parent"])
        self.assertCallers(parent, "write", "thread_body", THREADS * THREAD_WRITES)
        self.assertCallers(parent, "write", "parent_writes", 3)
        self.assertCallers(parent, "write", "note", 10)
        self.assertEqual(parent.calls("write"), THREADS * THREAD_WRITES + 3 + 10)
        self.assertCallers(parent, "write", "child_writes", 0)
        self.assertEqual(parent.calls("pthread_create"), THREADS)
        self.assertCallers(parent, "pthread_create", "main", THREADS)
        self.assertEqual(parent.calls("fork"), 6)
        self.assertCallers(parent, "fork", "forked", 6)
        self.assertEqual(parent.calls("vfork"), 2)
        self.assertCallers(parent, "vfork", "vforked", 2)
        self.assertEqual(parent.calls("posix_spawn"), 1)
        # the vfork children's exec and _exit are theirs, never the parent's
        for fn in ("execve", "execv", "_exit", "execl", "execle", "execlp"):
            self.assertEqual(parent.calls(fn), 0, fn)

        # a fork child counts only its own calls from the fork on
        ex = self.folder(shim, "t_proc", r["exit"])
        self.assertEqual(ex.calls("write"), 7)
        self.assertCallers(ex, "write", "child_writes", 7)
        for fn in ("fork", "pthread_create", "open", "vfork", "malloc"):
            self.assertEqual(ex.calls(fn), 0, fn)

        uex = self.folder(shim, "t_proc", r["_exit"])
        self.assertEqual(uex.calls("write"), 11)
        self.assertEqual(uex.calls("_exit"), 1)
        self.assertCallers(uex, "_exit", "child_underscore_exit", 1)

        # the image before a successful exec: the exec is in its table
        pre = self.folder(shim, "t_proc", r["exec_self"])
        self.assertEqual(pre.calls("execv"), 1)
        self.assertEqual(pre.functions["execv"]["errors"], 0)
        self.assertCallers(pre, "execv", "child_exec_self", 1)
        self.assertEqual(pre.calls("write"), 0)
        img = self.folder(shim, "t_proc_img", r["exec_self"])
        self.assertEqual(img.calls("write"), 13)
        self.assertCallers(img, "write", "image_writes", 13)
        self.assertEqual(img.calls("execv"), 0)

        # a failed exec: the image lives on and its folder is rewritten at exit
        # with the exec counted as an error and what came after it
        fail = self.folder(shim, "t_proc", r["exec_fails"])
        self.assertEqual(fail.calls("execv"), 1)
        self.assertEqual(fail.functions["execv"]["errors"], 1)
        self.assertEqual(fail.errno_count("execv", "ENOENT"), 1)
        self.assertCallers(fail, "execv", "child_exec_fails", 1)
        self.assertEqual(fail.calls("write"), 5)
        leftovers = [n for n in os.listdir(os.path.join(shim.out_dir, "t_proc.%d"
                                                        % r["exec_fails"]))
                     if n.startswith(".")]  # temp files of the flush before the exec
        self.assertEqual(leftovers, [])

        # the variadic execs went through
        lp = self.folder(shim, "t_proc", r["execlp"])
        self.assertEqual(lp.calls("execlp"), 1)
        self.assertEqual(lp.calls("execvp"), 0)
        le = self.folder(shim, "t_proc", r["execle"])
        self.assertEqual(le.calls("execle"), 1)
        self.assertEqual(le.calls("execve"), 0)

    def test_thread_mallocs_exact_by_delta(self):
        if SAN:
            self.skipTest("ASan's allocator replaces malloc: our hook never sees it")
        # other code mallocs too; the threads' own share is the difference
        # between the same tree with 100 and with 0 mallocs per thread
        shim100, r100 = self.run_tree(mallocs=100)
        many = self.folder(shim100, "t_proc", r100["parent"])
        self.tearDown()
        self.setUp()
        shim0, r0 = self.run_tree(mallocs=0)
        none = self.folder(shim0, "t_proc", r0["parent"])
        self.assertEqual(many.calls("malloc") - none.calls("malloc"), THREADS * 100)
        self.assertEqual(many.calls("free") - none.calls("free"), THREADS * 100)
        self.assertEqual(many.functions["malloc"]["bytes"] - none.functions["malloc"]["bytes"],
                         THREADS * 100 * 32)

    def test_outputs_written_with_proc_family_off(self):
        # _exit and exec still end the image: it must write even when the
        # process hooks do not count
        shim, r = self.run_tree(env={"SHIMMER_HOOKS": "file,alloc"})
        self.assertEqual(sorted(shim.folders()), self.expected_folders(r))
        uex = self.folder(shim, "t_proc", r["_exit"])
        self.assertEqual(uex.calls("write"), 11)
        self.assertEqual(uex.calls("_exit"), 0)
        fail = self.folder(shim, "t_proc", r["exec_fails"])
        self.assertEqual(fail.calls("write"), 5)
        self.assertEqual(fail.calls("execv"), 0)
        parent = self.folder(shim, "t_proc", r["parent"])
        self.assertEqual(parent.calls("fork"), 0)
        self.assertCallers(parent, "write", "thread_body", THREADS * THREAD_WRITES)


class TestExitPaths(ProcTest):
    def test_exit_from_signal_handler_inside_hooked_call(self):
        # the handler's _exit interrupts a hooked read(): the process exits at
        # once with the handler's status; writing outputs from there is not
        # safe, so only the child (which _exits normally) leaves a folder
        bare, shim = self.assertTransparent([target("t_proc_signal")], timeout=60)
        self.assertEqual(shim.rc, 5)
        self.assertEqual(shim.stdout, b"child 1\nsignal\n")
        f = shim.folders("t_proc_signal")
        self.assertEqual(len(f), 1, f)
        p = shim.profile("t_proc_signal")
        self.assertEqual(p.calls("_exit"), 1)
        self.assertCallers(p, "_exit", "child_main", 1)
