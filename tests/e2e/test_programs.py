# SPDX-License-Identifier: MIT
"""Real Debian programs under the shim: byte-identical output and exit status,
and every process of the tree (children and exec'd images) leaves its own
folder with a profile.txt, linked to its parent by pid."""
import collections
import os
import platform
import re
import shutil
import subprocess

from shimlib import ShimTest, parse_profile

FOLDER = re.compile(r"^(.+)\.(\d+)(?:\.(\d+))?$")
HEADER = re.compile(r"^Shimmer profile of (.*) \(pid (\d+), parent (\d+)\)")
EXECS = ("execve", "execv", "execvp", "execvpe", "execl", "execlp", "execle")


class Image:
    def __init__(self, name, path):
        m = FOLDER.match(name)
        self.exe, self.pid = m.group(1), int(m.group(2))
        self.profile = parse_profile(os.path.join(path, "profile.txt"))
        h = HEADER.match(self.profile.text)
        if not h:
            raise AssertionError("%s: no header in profile.txt" % name)
        self.header_pid, self.ppid = int(h.group(2)), int(h.group(3))
        # successful execs: each one ended this image
        self.execs = sum(self.profile.calls(f) - self.profile.functions.get(f, {}).get(
            "errors", 0) for f in EXECS)


class TestPrograms(ShimTest):
    def images(self, run):
        return [Image(n, p) for n, p in run.folders().items()]

    def check_tree(self, run, expect, exact=True):
        """expect: {exe: number of folders} (at least that many unless exact).
        Every folder holds a parsable profile.txt of its own pid; the images of
        one pid are linked by execs (all but one ended in a successful exec);
        every process's parent is this test or another process of the tree."""
        images = self.images(run)
        names = sorted(run.folders())
        got = collections.Counter(i.exe for i in images)
        for exe, n in expect.items():
            if exact:
                self.assertEqual(got[exe], n, "%s folders: %s" % (exe, names))
            else:
                self.assertGreaterEqual(got[exe], n, "%s folders: %s" % (exe, names))
        if exact:
            self.assertEqual(set(got), set(expect), names)
        by_pid = collections.defaultdict(list)
        for i in images:
            self.assertEqual(i.header_pid, i.pid, "folder name and pid differ")
            by_pid[i.pid].append(i)
        for pid, imgs in by_pid.items():
            self.assertEqual(sum(1 for i in imgs if i.execs), len(imgs) - 1,
                             "pid %d: %s" % (pid, [i.exe for i in imgs]))
            self.assertEqual(len({i.ppid for i in imgs}), 1)
        roots = [pid for pid, imgs in by_pid.items() if imgs[0].ppid == os.getpid()]
        self.assertEqual(len(roots), 1, "roots of %s" % names)
        for pid, imgs in by_pid.items():
            if pid != roots[0]:
                self.assertIn(imgs[0].ppid, by_pid, "parent of %d has no folder" % pid)
        return images

    def test_sort(self):
        data = b"".join(b"%d line\n" % ((i * 7919) % 1000) for i in range(1000))
        bare, shim = self.assertTransparent(["sort", "-n"], stdin=data)
        self.assertEqual(shim.stdout, b"".join(sorted(data.splitlines(True),
                                                       key=lambda l: int(l.split()[0]))))
        self.check_tree(shim, {"sort": 1})

    def test_cp(self):
        src = os.path.join(self.tmp, "src.bin")
        dst = os.path.join(self.tmp, "dst.bin")
        with open(src, "wb") as f:
            f.write(os.urandom(300000))
        bare, shim = self.assertTransparent(["cp", src, dst])
        with open(src, "rb") as a, open(dst, "rb") as b:
            self.assertEqual(a.read(), b.read())
        self.check_tree(shim, {"cp": 1})

    def test_gzip_decompress(self):
        path = os.path.join(self.tmp, "data.txt")
        with open(path, "wb") as f:
            f.write(b"shimmer gzip test line\n" * 5000)
        subprocess.run(["gzip", "-k", path], check=True)
        bare, shim = self.assertTransparent(["gzip", "-dc", path + ".gz"])
        self.assertEqual(len(shim.stdout), 23 * 5000)
        self.check_tree(shim, {"gzip": 1})

    def make_tree(self):
        root = os.path.join(self.tmp, "tree")
        os.makedirs(os.path.join(root, "sub", "deeper"))
        for i, rel in enumerate(["a.txt", "sub/b.txt", "sub/deeper/c.txt"]):
            with open(os.path.join(root, rel), "w") as f:
                f.write("file %d\n" % i * (i + 1))
        return root

    def test_tar_create_and_list(self):
        self.make_tree()
        ball = os.path.join(self.tmp, "t.tar")
        cmd = ["tar", "--sort=name", "-cf", ball, "tree"]
        self.run_bare(cmd, cwd=self.tmp)
        with open(ball, "rb") as f:
            want = f.read()
        bare, shim = self.assertTransparent(cmd, cwd=self.tmp)
        with open(ball, "rb") as f:
            self.assertEqual(f.read(), want, "the archive differs under the shim")
        self.check_tree(shim, {"tar": 1})
        shutil.rmtree(self.out)
        bare, shim = self.assertTransparent(["tar", "-tvf", ball])
        self.assertIn(b"tree/sub/deeper/c.txt", shim.stdout)
        self.check_tree(shim, {"tar": 1})

    def test_tar_gzip_children(self):
        # tar -z forks a child that execs sh -c gzip (dash may vfork for
        # gzip): the tar, its child before the exec, sh and gzip at least
        self.make_tree()
        ball = os.path.join(self.tmp, "t.tgz")
        bare, shim = self.assertTransparent(["tar", "--sort=name", "-czf", ball, "tree"],
                                            cwd=self.tmp)
        self.check_tree(shim, {"tar": 2, "gzip": 1}, exact=False)
        shutil.rmtree(self.out)
        bare, shim = self.assertTransparent(["tar", "-tzf", ball])
        self.assertEqual(shim.stdout, b"tree/\ntree/a.txt\ntree/sub/\ntree/sub/b.txt\n"
                         b"tree/sub/deeper/\ntree/sub/deeper/c.txt\n")
        images = self.check_tree(shim, {"tar": 2, "gzip": 1}, exact=False)
        self.assertGreaterEqual(len(images), 3)

    def test_python_subprocess(self):
        code = ("import subprocess, sys\n"
                "r = subprocess.run(['/bin/true'])\n"
                "out = subprocess.run(['/bin/echo', 'child'], capture_output=True).stdout\n"
                "print(r.returncode, out.decode().strip(), sum(range(1000)))\n"
                "sys.exit(3)\n")
        bare, shim = self.assertTransparent(["/usr/bin/python3", "-c", code])
        self.assertEqual(shim.stdout, b"0 child 499500\n")
        self.assertEqual(shim.rc, 3)
        images = self.check_tree(shim, {"python3": 1, "true": 1, "echo": 1}, exact=False)
        py = [i for i in images if i.exe == "python3"]
        # _posixsubprocess starts children with vfork (or fork): two of them.
        # A real vfork child leaves no folder before its exec; a fork child
        # (and vfork served by fork off x86_64) leaves one each
        real_vfork = py[0].profile.calls("vfork") == 2 and platform.machine() == "x86_64"
        self.assertEqual(len(py), 1 if real_vfork else 3)
        self.assertEqual(py[0].profile.calls("vfork") + py[0].profile.calls("fork"), 2)

    def git_env(self):
        home = os.path.join(self.tmp, "home")
        os.makedirs(home, exist_ok=True)
        env = {"HOME": home, "GIT_CONFIG_NOSYSTEM": "1", "LC_ALL": "C"}
        for who in ("AUTHOR", "COMMITTER"):
            env["GIT_%s_NAME" % who] = "Shimmer Test"
            env["GIT_%s_EMAIL" % who] = "test@example.invalid"
            env["GIT_%s_DATE" % who] = "2024-01-02T03:04:05Z"
        return env

    def git_session(self, shim):
        """git init/add/commit/log in a fresh repo; (runs, commit id)."""
        repo = os.path.join(self.tmp, "repo")
        shutil.rmtree(repo, ignore_errors=True)
        os.makedirs(os.path.join(repo, "src"))
        for name in ("README", "src/main.c"):
            with open(os.path.join(repo, name), "w") as f:
                f.write("content of %s\n" % name)
        env = self.git_env()
        runs = []
        for args in (["init", "-q", "-b", "main"], ["add", "."],
                     ["commit", "-q", "-m", "first commit"], ["log", "--format=%H %s"]):
            fn = self.run_shim if shim else self.run_bare
            if shim:
                shutil.rmtree(self.out, ignore_errors=True)
            r = fn(["git"] + args, env=env, cwd=repo)
            runs.append((args[0], r, self.images(r) if shim else None))
        return runs

    def test_git_init_add_commit(self):
        bare = self.git_session(shim=False)
        shim = self.git_session(shim=True)
        for (name, b, _), (_, s, images) in zip(bare, shim):
            self.assertEqual(s.stdout, b.stdout, "git %s stdout" % name)
            self.assertEqual(s.rc, b.rc, "git %s status" % name)
            self.assertEqual(s.rc, 0, "git %s failed: %s" % (name, s.stderr))
            self.assertEqual(s.other_stderr(), b.other_stderr())
            self.assertEqual(s.shimmer_lines(), [])
            self.assertGreaterEqual(len(images), 1, "git %s left no folder" % name)
        self.assertRegex(shim[-1][1].stdout, rb"^[0-9a-f]{40} first commit\n$")
        # git commit runs `git maintenance run --auto` in a fork+exec child
        commit = shim[2][1]
        self.check_tree(commit, {"git": 1}, exact=False)

    def test_sqlite3(self):
        db = os.path.join(self.tmp, "t.db")
        script = ["create table t(id integer primary key, name text, n integer);", "begin;"]
        script += ["insert into t(name, n) values('row%d', %d);" % (i, i * i) for i in range(200)]
        script += ["commit;", "select count(*), sum(n) from t;",
                   "select name from t where n between 100 and 200 order by id;"]
        stdin = "\n".join(script).encode() + b"\n"
        bare = self.run_bare(["sqlite3", db], stdin=stdin)
        os.unlink(db)
        shim = self.run_shim(["sqlite3", db], stdin=stdin)
        self.assertEqual(shim.stdout, bare.stdout)
        self.assertEqual(shim.rc, bare.rc)
        self.assertEqual(shim.other_stderr(), bare.other_stderr())
        self.assertEqual(shim.stdout, b"200|2646700\nrow10\nrow11\nrow12\nrow13\nrow14\n")
        images = self.check_tree(shim, {"sqlite3": 1})
        self.assertIn(db, images[0].profile.resources)

    def test_bash_pipeline_with_subshells(self):
        script = "(echo a; echo b) | sort -r | (cat; echo c); x=$(echo sub); echo $x"
        bare, shim = self.assertTransparent(["bash", "-c", script])
        self.assertEqual(shim.stdout, b"b\na\nc\nsub\n")
        # main bash, the (echo; echo) subshell, the fork before sort's exec,
        # the (cat; echo) subshell, the fork before cat's exec, $(...)
        images = self.check_tree(shim, {"bash": 6, "sort": 1, "cat": 1})
        main = [i for i in images if i.ppid == os.getpid()][0]
        self.assertEqual(main.profile.calls("fork"), 4)
