# SPDX-License-Identifier: MIT
"""The OTLP push of short-lived processes (issue 4's shell-loop figure): a
traced parent takes its children's last spans at their exit and pushes them
with its own, so a `true` never waits on the collector. Seen from the strict
receiver: every process of a shell loop arrives exactly once and valid, in
far fewer requests than processes; a child that outlives its parent still
arrives; an unreachable endpoint is one line for the whole tree, with every
process's spans counted."""
import json
import os
import re
import unittest

from otlplib import Receiver, free_port, spans
from shimlib import ShimTest

LOOP_N = 20


def roots(all_spans):
    """[(pid, exe)] of the process root spans, one entry per span."""
    return [(s.attrs["process.pid"], s.attrs["process.executable.name"]) for s in all_spans
            if "process.pid" in s.attrs and "process.executable.name" in s.attrs]


class TestRelay(ShimTest):
    def assertStrict(self, recs):
        self.assertTrue(recs, "the receiver got nothing")
        for r in recs:
            self.assertEqual((r["status"], r["errors"], r["warnings"]), (200, [], []), r)

    def test_shell_loop_every_process_once(self):
        rx = Receiver(self.tmp)
        try:
            script = "for i in $(seq %d); do /bin/true; cat /dev/null; done; echo done" % LOOP_N
            _, shim = self.assertTransparent(["sh", "-c", script],
                                             env={"OTEL_EXPORTER_OTLP_ENDPOINT": rx.endpoint})
            recs = rx.records()
        finally:
            rx.stop()
        self.assertEqual(shim.stdout, b"done\n")
        self.assertStrict(recs)
        got = roots(spans(recs))
        exes = sorted(exe for _, exe in got)
        # sh, the seq of $(...), and each true and cat: once each
        self.assertEqual(exes.count("true"), LOOP_N, exes)
        self.assertEqual(exes.count("cat"), LOOP_N, exes)
        self.assertEqual(exes.count("seq"), 1, exes)
        self.assertGreaterEqual(exes.count("sh"), 1, exes)
        self.assertEqual(len(set(pid for pid, _ in got if _ in ("true", "cat"))), 2 * LOOP_N)
        # the same as the run folders say: one folder per image, one root each
        self.assertEqual(len(got), len(shim.folders()), (got, list(shim.folders())))
        # batched through the shell, not one request a process
        self.assertLess(len(recs), LOOP_N, [len(r["request"]["resourceSpans"]) for r in recs])
        ids = [s.span_id for s in spans(recs)]
        self.assertEqual(len(ids), len(set(ids)), "a span delivered twice")

    def test_child_outlives_its_parent(self):
        rx = Receiver(self.tmp)
        try:
            shim = self.run_shim(["sh", "-c", "(sleep 0.3; exec /bin/true) & echo started"],
                                 env={"OTEL_EXPORTER_OTLP_ENDPOINT": rx.endpoint})
            recs = rx.wait_for(lambda rs: "true" in [e for _, e in roots(spans(rs))], 15.0)
        finally:
            rx.stop()
        self.assertEqual((shim.stdout, shim.rc), (b"started\n", 0))
        self.assertEqual(shim.shimmer_lines(), [])
        self.assertStrict(recs)
        exes = [e for _, e in roots(spans(recs))]
        for want in ("sh", "sleep", "true"):
            self.assertIn(want, exes)
        ids = [s.span_id for s in spans(recs)]
        self.assertEqual(len(ids), len(set(ids)), "a span delivered twice")

    def test_listens_once_it_starts_a_child(self):
        # a process that starts no child never makes the relay's socket (a
        # shell loop's `true` pays nothing for it); its first child makes it,
        # before the child can exit, and the child's spans come through it.
        # The shell counts its own socket in /proc/net/unix with builtins
        # only (no fork before the first count).
        count = ('n=0; while read -r l; do case "$l" in *"@shimmer-otlp.$U.$$."*) '
                 'n=$((n+1));; esac; done < /proc/net/unix; echo $n')
        rx = Receiver(self.tmp)
        try:
            shim = self.run_shim(["sh", "-c", "%s; /bin/true; %s" % (count, count)],
                                 env={"OTEL_EXPORTER_OTLP_ENDPOINT": rx.endpoint,
                                      "OTEL_BSP_SCHEDULE_DELAY": "60000",
                                      "U": str(os.getuid())})
            recs = rx.records()
        finally:
            rx.stop()
        # after: the listener, and the child's connection queued on it
        before, after = shim.stdout.split()
        self.assertEqual((before, shim.rc), (b"0", 0), shim.stderr)
        self.assertGreaterEqual(int(after), 1)
        self.assertStrict(recs)
        exes = [e for _, e in roots(spans(recs))]
        self.assertEqual(sorted(exes), ["sh", "true"])
        # the child's request came with its parent's: one request for both
        self.assertEqual(len(recs), 1, [len(r["request"]["resourceSpans"]) for r in recs])

    def test_unreachable_one_line_for_the_tree(self):
        hold, port = free_port()  # bound, never listening: connections are refused
        try:
            shim = self.run_shim(["sh", "-c", "/bin/true; cat /dev/null; echo out; exit 3"],
                                 env={"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:%d" % port})
        finally:
            hold.close()
        self.assertEqual((shim.stdout, shim.rc), (b"out\n", 3))
        lines = shim.shimmer_lines()
        self.assertEqual(len(lines), 1, lines)
        m = re.search(r"(\d+) spans? (?:were )?(?:not delivered|dropped|lost)", lines[0])
        self.assertTrue(m, lines[0])
        n = int(m.group(1))
        # every span of the three processes: at least their three root spans
        total = 0
        for path in shim.folders().values():
            with open(os.path.join(path, "traces.otlp.json")) as f:
                total += sum(len(ss["spans"]) for l in f if l.strip()
                             for rs in json.loads(l)["resourceSpans"] for ss in rs["scopeSpans"])
        self.assertGreaterEqual(n, 3)
        self.assertEqual(n, total)
        (sh,) = shim.folders("sh").values()
        with open(os.path.join(sh, "events.ndjson")) as f:
            evs = [json.loads(l) for l in f]
        counts = [v for e in evs for k, v in (e.get("attributes") or {}).items()
                  if "drop" in k and isinstance(v, int) and v > 0]
        self.assertEqual(counts, [n], "the drop count in the shell's events.ndjson")


if __name__ == "__main__":
    unittest.main()
