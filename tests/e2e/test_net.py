# SPDX-License-Identifier: MIT
"""Network and DNS families: exact connects, bytes by peer, batched datagrams,
MSG_PEEK, resolver lookups by name, and curl against a local http.server."""
import os
import re
import socket
import subprocess
import sys
import unittest

from shimlib import SAN, ShimTest, target

# Resolver lookups of a .invalid name go to the configured nameserver when
# /etc/hosts does not know it: bound the wait so a machine without a network
# answers EAI_AGAIN quickly instead of hanging (the same bound bare and shimmed).
DNS_ENV = {"RES_OPTIONS": "timeout:2 attempts:1"}


def read_ports(path):
    with open(path) as f:
        return [int(x) for x in f.read().split()]


class NetTest(ShimTest):
    def assertCallerCalls(self, p, fn, caller, n):
        """Calls of fn from caller. Under ASan its interceptors (recv, getaddrinfo...)
        are the shim's callers, so only the total is checked there."""
        if SAN:
            self.assertGreaterEqual(p.calls(fn), n)
        else:
            self.assertEqual(p.caller_calls(fn, caller), n)


class TestNet(NetTest):
    def test_connect_refused(self):
        bare, shim = self.assertTransparent([target("t_net_refused")])
        self.assertEqual(shim.stdout, b"refused: 3\n")
        p = shim.profile("t_net_refused")
        self.assertEqual(p.calls("connect"), 3)
        self.assertEqual(p.functions["connect"]["errors"], 3)
        self.assertEqual(p.errno_count("connect", "ECONNREFUSED"), 3)
        self.assertCallerCalls(p, "connect", "connect_closed", 3)
        self.assertEqual(p.calls("socket"), 4)
        # the refusals are counted against the refusing peer
        peers = {n: r for n, r in p.resources.items()
                 if re.match(r"^tcp 127\.0\.0\.1:\d+$", n)}
        self.assertEqual(len(peers), 1, p.resources)
        r = next(iter(peers.values()))
        self.assertEqual((r["kind"], r["ops"], r["errors"]), ("socket", 3, 3))

    def test_tcp_loopback_bytes(self):
        self.check_tcp_loopback({})

    def test_tcp_loopback_bytes_clock_gettime(self):
        """send, recv and __recv_chk timed by clock_gettime: their
        out-of-line way keeps the caller, the peek and the bytes."""
        self.check_tcp_loopback({"SHIMMER_TSC": "0"})

    def check_tcp_loopback(self, env):
        pf = os.path.join(self.tmp, "port")
        bare = self.run_bare([target("t_net_tcp"), pf], env=env)
        shim = self.run_shim([target("t_net_tcp"), pf], env=env)
        self.assertEqual((bare.rc, shim.rc), (0, 0))
        self.assertEqual(shim.stdout, bare.stdout)
        self.assertEqual(shim.stdout, b"sent 3000 received 5000\n")
        self.assertEqual(shim.shimmer_lines(), [])
        port, = read_ports(pf)
        p = shim.profile("t_net_tcp")
        # client side: the peer it connected to
        peer = p.resources["tcp 127.0.0.1:%d" % port]
        self.assertEqual((peer["kind"], peer["read"], peer["written"]), ("socket", 5000, 3000))
        # server side: the accepted connection, named by the client's address
        served = [r for n, r in p.resources.items()
                  if n.startswith("tcp 127.0.0.1:") and n != "tcp 127.0.0.1:%d" % port]
        self.assertEqual([(r["read"], r["written"]) for r in served], [(3000, 5000)])
        self.assertIn("tcp listen 127.0.0.1:%d" % port, p.resources)
        self.assertEqual(p.functions["send"]["bytes"], 8000)
        self.assertEqual(p.calls("send"), 8)
        self.assertEqual(p.functions["__recv_chk"]["bytes"], 3000)
        # the client's recv bytes are exactly 5000: the MSG_PEEK read is a call
        # from peek_once, but its bytes are not counted
        self.assertEqual(p.functions["recv"]["bytes"], 5000)
        self.assertCallerCalls(p, "recv", "peek_once", 1)
        self.assertEqual(p.calls("connect"), 1)
        self.assertEqual(p.calls("accept"), 1)
        self.assertEqual(p.calls("listen"), 1)
        self.assertCallerCalls(p, "send", "send_chunks", 8)

    def test_udp_mmsg_bytes(self):
        pf = os.path.join(self.tmp, "ports")
        shim = self.run_shim([target("t_net_udp"), pf])
        self.assertEqual(shim.rc, 0, shim.stderr)
        self.assertEqual(shim.stdout, b"batch 1000 single 50 peeked 50\n")
        rport, sport = read_ports(pf)
        p = shim.profile("t_net_udp")
        self.assertEqual((p.calls("sendmmsg"), p.functions["sendmmsg"]["bytes"]), (1, 1000))
        self.assertEqual((p.calls("recvmmsg"), p.functions["recvmmsg"]["bytes"]), (1, 1000))
        self.assertCallerCalls(p, "sendmmsg", "send_batch", 1)
        self.assertCallerCalls(p, "recvmmsg", "recv_batch", 1)
        # the peeked datagram is counted once, by recvfrom
        self.assertEqual((p.calls("recv"), p.functions["recv"]["bytes"]), (1, 0))
        self.assertEqual(p.functions["recvfrom"]["bytes"], 50)
        # the connected socket's 1000 and the unconnected sendto's 50 both go
        # to the receiver's address
        self.assertEqual(p.resources["udp 127.0.0.1:%d" % rport]["written"], 1050)
        self.assertEqual(p.resources["udp bound 127.0.0.1:%d" % rport]["read"], 1000)
        self.assertEqual(p.resources["udp 127.0.0.1:%d" % sport]["read"], 50)
        self.assertEqual(self.run_bare([target("t_net_udp"), pf]).stdout, shim.stdout)

    def test_unix_sockets(self):
        path = os.path.join(self.tmp, "s.sock")
        bare, shim = self.assertTransparent([target("t_net_unix"), path])
        self.assertEqual(shim.stdout, b"pair 7 path 5\n")
        p = shim.profile("t_net_unix")
        r = p.resources
        self.assertEqual((r["unix socketpair"]["read"], r["unix socketpair"]["written"]), (7, 7))
        self.assertIn("unix listen " + path, r)
        self.assertEqual((r["unix " + path]["written"], r["unix " + path]["read"]), (5, 0))
        # the accepted end of an unnamed client is named by the path it came in on
        acc = r["unix accepted " + path]
        self.assertEqual((acc["kind"], acc["read"], acc["written"]), ("socket", 5, 0))
        self.assertEqual(p.calls("socketpair"), 1)
        self.assertEqual(p.functions["send"]["bytes"], 12)


class TestDns(NetTest):
    def test_lookups(self):
        # the timeout is the "does not hang" check: subprocess raises past it
        bare, shim = self.assertTransparent([target("t_dns")], env=DNS_ENV, timeout=30)
        out = shim.stdout.decode()
        self.assertIn("getaddrinfo localhost: rc=0", out)
        self.assertIn("first=127.0.0.1", out)
        # the failing lookup: same EAI code and errno with and without the shim
        # (compared as whole lines by assertTransparent); it does fail
        m = re.search(r"getaddrinfo \S+\.invalid: rc=(-?\d+)", out)
        self.assertTrue(m and int(m.group(1)) != 0, out)
        p = shim.profile("t_dns")
        self.assertEqual(p.calls("getaddrinfo"), 2)
        self.assertEqual(p.functions["getaddrinfo"]["errors"], 1)
        self.assertCallerCalls(p, "getaddrinfo", "lookup_localhost", 1)
        self.assertCallerCalls(p, "getaddrinfo", "lookup_invalid", 1)
        self.assertEqual(p.calls("freeaddrinfo"), 1)
        self.assertEqual(p.calls("gethostbyname"), 2)
        self.assertEqual(p.calls("gethostbyname_r"), 1)
        self.assertEqual(p.calls("getnameinfo"), 1)
        loc = p.resources["localhost"]
        self.assertEqual((loc["kind"], loc["ops"], loc["errors"]), ("dns", 3, 0))
        bad = p.resources["shimmer-e2e-nonexistent.invalid"]
        self.assertEqual((bad["kind"], bad["ops"], bad["errors"]), ("dns", 2, 2))
        self.assertEqual(p.resources["127.0.0.1"]["kind"], "dns")
        # the Errors section names the EAI code getaddrinfo returned
        # (EAI_SYSTEM is recorded as the errno it stands for)
        eai = {getattr(socket, n): n for n in dir(socket) if n.startswith("EAI_")}
        if int(m.group(1)) != socket.EAI_SYSTEM:
            self.assertEqual(p.errno_count("getaddrinfo", eai[int(m.group(1))]), 1)
        self.assertEqual(sum(c for c, e, f in p.errors if f == "gethostbyname"), 1)


class HttpServer:
    """python3 -m http.server on 127.0.0.1, a free port, stopped by pid."""

    def __init__(self, root):
        self.proc = subprocess.Popen(
            [sys.executable, "-u", "-m", "http.server", "0", "--bind", "127.0.0.1",
             "--directory", root],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"port (\d+)", line)
        if not m:
            self.stop()
            raise AssertionError("http.server did not start: %r" % line)
        self.port = int(m.group(1))

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, 15)
            self.proc.wait(timeout=10)
        self.proc.stdout.close()


@unittest.skipIf(SAN, "curl hangs here under the ASan runtime alone, without the shim")
class TestCurl(ShimTest):
    def test_curl_get(self):
        root = os.path.join(self.tmp, "www")
        os.mkdir(root)
        data = bytes((i * 7 + 3) % 256 for i in range(200000))
        with open(os.path.join(root, "file"), "wb") as f:
            f.write(data)
        srv = HttpServer(root)
        try:
            url = "http://127.0.0.1:%d/file" % srv.port
            bare, shim = self.assertTransparent(["curl", "-s", url], timeout=60)
        finally:
            srv.stop()
        self.assertEqual(bare.rc, 0)
        self.assertEqual(shim.stdout, data)
        p = shim.profile("curl")
        peer = p.resources["tcp 127.0.0.1:%d" % srv.port]
        self.assertEqual(peer["kind"], "socket")
        self.assertGreaterEqual(peer["read"], len(data))
        self.assertGreater(peer["written"], 0)
        self.assertGreaterEqual(p.calls("connect"), 1)

    def test_curl_closed_port(self):
        # a bound, never-listening socket: its port refuses connections
        hold = socket.socket()
        hold.bind(("127.0.0.1", 0))
        try:
            port = hold.getsockname()[1]
            url = "http://127.0.0.1:%d/" % port
            bare, shim = self.assertTransparent(["curl", "-s", url], timeout=60)
        finally:
            hold.close()
        self.assertEqual((bare.rc, shim.rc), (7, 7))
        # curl connects non-blocking: connect fails EINPROGRESS and the refusal
        # arrives later through SO_ERROR; the attempt is counted against the peer
        p = shim.profile("curl")
        self.assertGreaterEqual(p.calls("connect"), 1)
        peer = p.resources["tcp 127.0.0.1:%d" % port]
        self.assertGreaterEqual(peer["ops"], 1)
