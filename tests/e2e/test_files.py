# SPDX-License-Identifier: MIT
"""File and stdio families: exact counts, bytes, errors and callers from the
deterministic targets t_files and t_stdio, fd bookkeeping across dup2, dup,
F_DUPFD_CLOEXEC and pipes, errno transparency, and real programs (cp, sort,
gzip) under the shim."""
import gzip
import os
import shutil

from shimlib import ShimTest, target


class TestFileCalls(ShimTest):
    ENV = {}

    def setUp(self):
        super().setUp()
        self.bare_dir = os.path.join(self.tmp, "bare")
        self.dir = os.path.join(self.tmp, "shim")
        os.mkdir(self.bare_dir)
        os.mkdir(self.dir)
        bare = self.run_bare([target("t_files"), self.bare_dir], env=self.ENV)
        self.res = self.run_shim([target("t_files"), self.dir], env=self.ENV)
        # same output (errno texts included), same exit status, no complaints
        self.assertEqual(self.res.stdout, bare.stdout)
        self.assertEqual(self.res.rc, 0)
        self.assertEqual(bare.rc, 0)
        self.assertEqual(self.res.shimmer_lines(), [])
        self.p = self.res.profile("t_files")

    def path(self, name):
        return os.path.join(self.dir, name)

    def test_positioned_and_vectored_io(self):
        p = self.p
        self.assertEqual(p.calls("pwrite"), 10)
        self.assertEqual(p.functions["pwrite"]["bytes"], 1000)
        self.assertEqual(p.caller_calls("pwrite", "do_pwrites"), 10)
        self.assertEqual(p.calls("pread"), 20)
        self.assertEqual(p.functions["pread"]["bytes"], 1000)
        self.assertEqual(p.caller_calls("pread", "do_preads"), 20)
        self.assertEqual(p.calls("writev"), 5)
        self.assertEqual(p.functions["writev"]["bytes"], 500)
        self.assertEqual(p.calls("readv"), 5)
        self.assertEqual(p.functions["readv"]["bytes"], 500)
        self.assertEqual(p.caller_calls("readv", "do_vectors"), 5)
        self.assertEqual(p.calls("lseek"), 9)
        self.assertEqual(p.caller_calls("lseek", "do_seeks"), 7)
        self.assertEqual(p.caller_calls("lseek", "do_vectors"), 2)
        for fn in ("fsync", "fdatasync", "ftruncate"):
            self.assertEqual(p.calls(fn), 1, fn)
        self.assertEqual(p.calls("__read_chk"), 3)
        self.assertEqual(p.functions["__read_chk"]["bytes"], 30)
        self.assertEqual(p.caller_calls("__open_2", "do_fortified"), 1)
        a = p.resources[self.path("a.bin")]
        self.assertEqual(a["kind"], "file")
        # pwrite 1000 + writev 500; pread 1000 + readv 500 + sendfile's 1000 + __read_chk 30
        self.assertEqual(a["written"], 1500)
        self.assertEqual(a["read"], 2530)
        self.assertEqual(a["errors"], 0)

    def test_sendfile(self):
        p = self.p
        self.assertEqual(p.caller_calls("sendfile", "do_sendfile"), 1)
        self.assertEqual(p.functions["sendfile"]["bytes"], 1000)
        self.assertEqual(p.resources[self.path("copy.bin")]["written"], 1000)
        self.assertEqual(os.path.getsize(self.path("copy.bin")), 1000)

    def test_duplicated_fds_keep_their_file(self):
        p = self.p
        self.assertEqual(p.caller_calls("dup2", "write_dup2"), 2)
        self.assertEqual(p.caller_calls("write", "write_dup2"), 3)
        self.assertEqual(p.resources[self.path("dup2.txt")]["written"], 192)
        self.assertEqual(p.caller_calls("fcntl", "write_dupfd"), 1)
        self.assertEqual(p.caller_calls("write", "write_dupfd"), 4)
        self.assertEqual(p.resources[self.path("dupfd.txt")]["written"], 100)
        self.assertEqual(p.caller_calls("dup", "write_dup"), 1)
        self.assertEqual(p.resources[self.path("dup.txt")]["written"], 20)
        # each new fd held a stale entry for another file (dup2 closes silently;
        # make_stale closes by raw syscall): nothing may land there
        self.assertEqual(p.resources[self.path("over.txt")]["written"], 0)
        self.assertEqual(p.resources[self.path("stale.txt")]["written"], 0)
        self.assertEqual(os.path.getsize(self.path("dup2.txt")), 192)
        self.assertEqual(os.path.getsize(self.path("dupfd.txt")), 100)

    def test_pipe_resource(self):
        p = self.p
        self.assertEqual(p.caller_calls("pipe", "pipe_io"), 1)
        self.assertEqual(p.caller_calls("write", "pipe_io"), 5)
        pipes = {n: r for n, r in p.resources.items() if r["kind"] == "pipe"}
        self.assertEqual(len(pipes), 1, p.resources)
        name, r = next(iter(pipes.items()))
        self.assertRegex(name, r"^pipe:\[\d+\]$")
        self.assertEqual(r["written"], 50)
        self.assertEqual(r["read"], 50)

    def test_stat_family_and_errors(self):
        p = self.p
        self.assertEqual(p.calls("stat"), 9)
        self.assertEqual(p.functions["stat"]["errors"], 3)
        self.assertEqual(p.errno_count("stat", "ENOENT"), 3)
        self.assertEqual(p.caller_calls("lstat", "do_stats"), 2)
        self.assertEqual(p.caller_calls("fstat", "do_stats"), 4)
        self.assertEqual(p.caller_calls("fstat", "fstat_fd"), 5)
        self.assertEqual(p.caller_calls("fstatat", "do_stats"), 1)
        self.assertEqual(p.errno_count("read", "EBADF"), 1)
        self.assertEqual(p.errno_count("open", "EISDIR"), 1)
        self.assertEqual(p.errno_count("open", "ENOTDIR"), 1)
        self.assertEqual(p.functions["open"]["errors"], 2)
        self.assertEqual(p.errno_count("access", "ENOENT"), 1)
        self.assertEqual(p.calls("access"), 2)
        self.assertIn(b"errno after success: 12345\n", self.res.stdout)
        self.assertIn(b"read(-1): -1 Bad file descriptor\n", self.res.stdout)
        for fn in ("mkdir", "rename", "unlink", "rmdir"):
            self.assertEqual(p.caller_calls(fn, "do_namespace"), 1, fn)
        self.assertEqual(p.calls("creat"), 2)
        self.assertEqual(p.errno_count("creat", "ENOENT"), 1)


class TestFileCallsClockGettime(TestFileCalls):
    """Every check above with the calls timed by clock_gettime: the hooks'
    out-of-line way keeps the caller, the bytes and errno."""
    ENV = {"SHIMMER_TSC": "0"}


class TestStdio(ShimTest):
    def test_stdio_counts(self):
        bare_dir = os.path.join(self.tmp, "bare")
        d = os.path.join(self.tmp, "shim")
        os.mkdir(bare_dir)
        os.mkdir(d)
        bare = self.run_bare([target("t_stdio"), bare_dir])
        run = self.run_shim([target("t_stdio"), d])
        self.assertEqual(run.stdout, bare.stdout)
        self.assertEqual(run.rc, 0)
        self.assertEqual(run.shimmer_lines(), [])
        self.assertEqual(run.stdout, b"bad freads: 3\nfgets lines: 40\ngetline lines: 40\n"
                         b"fread items: 100\ngetdelim fields: 3\nfailed fopens: 4\n")
        p = run.profile("t_stdio")
        self.assertEqual(p.caller_calls("fwrite", "write_records"), 200)
        self.assertEqual(p.functions["fwrite"]["bytes"], 10000)
        self.assertEqual(p.caller_calls("fputs", "write_lines"), 40)
        self.assertEqual(p.functions["fputs"]["bytes"], 442)  # 40 lines, "a,bb,ccc,", 33
        self.assertEqual(p.caller_calls("fgets", "read_fgets"), 41)
        self.assertEqual(p.functions["fgets"]["bytes"], 400)
        self.assertEqual(p.functions["fgets"]["errors"], 0)
        self.assertEqual(p.caller_calls("getline", "read_getline"), 41)
        self.assertEqual(p.functions["getline"]["bytes"], 400)
        self.assertEqual(p.functions["getline"]["errors"], 0)
        self.assertEqual(p.caller_calls("getdelim", "read_fields"), 4)
        self.assertEqual(p.functions["getdelim"]["bytes"], 9)
        self.assertEqual(p.caller_calls("fread", "read_blocks"), 5)
        self.assertEqual(p.caller_calls("fread", "bad_freads"), 3)
        self.assertEqual(p.functions["fread"]["bytes"], 10000)
        # EOF is not an error; a read on a write-only stream is, each time
        self.assertEqual(p.functions["fread"]["errors"], 3)
        self.assertEqual(p.errno_count("fread", "EBADF"), 3)
        self.assertEqual(p.caller_calls("__fgets_chk", "do_fortified"), 2)
        self.assertEqual(p.functions["__fgets_chk"]["bytes"], 20)
        self.assertEqual(p.functions["__fread_chk"]["bytes"], 20)
        self.assertEqual(p.caller_calls("fopen", "fail_fopens"), 4)
        self.assertEqual(p.caller_calls("fopen", "open_or_die"), 7)
        self.assertEqual(p.errno_count("fopen", "ENOENT"), 4)
        self.assertEqual(p.calls("fclose"), 7)
        self.assertEqual(p.calls("fflush"), 2)
        # stdout (a pipe, seen by the fflush) reopened onto a file by freopen
        self.assertEqual(p.caller_calls("freopen", "redirect_stdout"), 1)
        self.assertEqual(p.caller_calls("fputs", "redirect_stdout"), 3)
        red = os.path.join(d, "redirected.txt")
        self.assertEqual(p.resources[red]["written"], 33)
        with open(red, "rb") as f:
            self.assertEqual(f.read(), b"0123456789\n" * 3)
        rec = p.resources[os.path.join(d, "records.bin")]
        self.assertEqual((rec["written"], rec["read"], rec["errors"]), (10000, 10000, 3))
        lines = p.resources[os.path.join(d, "lines.txt")]
        self.assertEqual(lines["written"], 400)
        self.assertEqual(lines["read"], 400 + 400 + 40)  # fgets, getline, fortified

    def test_families_switch_independently(self):
        d = os.path.join(self.tmp, "only")
        os.mkdir(d)
        run = self.run_shim([target("t_stdio"), d], env={"SHIMMER_HOOKS": "file"})
        self.assertEqual(run.rc, 0)
        self.assertEqual(run.shimmer_lines(), [])
        p = run.profile("t_stdio")
        for fn in ("fopen", "fwrite", "fgets", "getline", "fread", "fclose"):
            self.assertEqual(p.calls(fn), 0, fn)
        shutil.rmtree(self.out)
        run = self.run_shim([target("t_files"), d], env={"SHIMMER_HOOKS": "stdio"})
        self.assertEqual(run.rc, 0)
        p = run.profile("t_files")
        for fn in ("open", "pwrite", "write", "stat", "dup2", "close"):
            self.assertEqual(p.calls(fn), 0, fn)


class TestRealPrograms(ShimTest):
    def test_cp_one_mib(self):
        src = os.path.join(self.tmp, "src.bin")
        dst = os.path.join(self.tmp, "dst.bin")
        with open(src, "wb") as f:
            f.write(os.urandom(1 << 20))
        _, shim = self.assertTransparent(["cp", src, dst])
        with open(src, "rb") as a, open(dst, "rb") as b:
            self.assertEqual(a.read(), b.read())
        p = shim.profile("cp")
        self.assertGreaterEqual(p.resources[src]["read"], 1 << 20)
        self.assertGreaterEqual(p.resources[dst]["written"], 1 << 20)

    def test_sort_reads_its_input(self):
        path = os.path.join(self.tmp, "words.txt")
        words = ["w%05d" % ((i * 7919) % 5000) for i in range(5000)]
        with open(path, "w") as f:
            f.write("\n".join(words) + "\n")
        bare, shim = self.assertTransparent(["sort", path], env={"LC_ALL": "C"})
        self.assertEqual(shim.stdout.decode().split(), sorted(words))
        p = shim.profile("sort")
        self.assertEqual(p.resources[path]["read"], os.path.getsize(path))

    def test_gzip_decompress(self):
        data = b"".join(b"line %06d of the shimmer gzip test\n" % i for i in range(20000))
        gz = os.path.join(self.tmp, "data.gz")
        with open(gz, "wb") as f:
            f.write(gzip.compress(data, mtime=0))
        bare, shim = self.assertTransparent(["gzip", "-dc", gz])
        self.assertEqual(shim.stdout, data)
        p = shim.profile("gzip")
        # gzip opens the file relative to its directory's fd: the name is as given
        named = [r for n, r in p.resources.items()
                 if r["kind"] == "file" and os.path.basename(n) == "data.gz"]
        self.assertEqual(len(named), 1, p.resources)
        self.assertEqual(named[0]["read"], os.path.getsize(gz))
        self.assertGreater(p.calls("read"), 0)
        self.assertEqual(sum(r["written"] for r in p.resources.values()), len(data))


if __name__ == "__main__":
    import unittest
    unittest.main()
