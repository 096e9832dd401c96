#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The bench's OTLP/HTTP receiver: answers POST /v1/traces with 200 and an
empty ExportTraceServiceResponse ({} in JSON, no bytes in protobuf) on
127.0.0.1 (HTTP/1.1, keep-alive), counts requests, bytes and spans (spanId
keys in the JSON, gzip undone), and GET /stats returns the counts as JSON.
Prints its port on the first line of stdout. argv[1], when given: answer each
POST that many milliseconds late (an exporter stuck on a slow collector).

One thread, one selectors loop, minimal parsing: a receiver that takes
milliseconds to answer (http.server starts a thread and parses headers with
the email package for every connection) would be charged to the exporter
that waits for it. No decoding checks: that is tests/otlp/receiver.js's job."""
import gzip
import heapq
import json
import selectors
import socket
import sys
import time

STATS = {"requests": 0, "bytes": 0, "spans": 0}
DELAY = float(sys.argv[1]) / 1000 if len(sys.argv) > 1 else 0.0
MAX_HEAD = 64 * 1024
MAX_BODY = 64 * 1024 * 1024


def response(code, ctype, body, close):
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found", 413: "Payload Too Large"}[code]
    return ("HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s\r\n" % (
        code, reason, ctype, len(body), "Connection: close\r\n" if close else "")
    ).encode() + body


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.out = b""
        self.close_after = False
        self.busy = False  # a delayed answer is pending: no new request yet

    def next_request(self):
        """(method, path, headers, body) of the first complete request in buf,
        removed from it; None when incomplete; raises ValueError when bad."""
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self.buf) > MAX_HEAD:
                raise ValueError("header too long")
            return None
        lines = self.buf[:end].decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length") or 0)
        if n < 0 or n > MAX_BODY or "chunked" in headers.get("transfer-encoding", ""):
            raise ValueError("unsupported body")
        if len(self.buf) < end + 4 + n:
            return None
        body = self.buf[end + 4:end + 4 + n]
        self.buf = self.buf[end + 4 + n:]
        return method, path, headers, body


def answer(method, path, headers, body):
    """(status, content type, body) for one request; counts it."""
    if method == "GET" and path == "/stats":
        return 200, "application/json", json.dumps(STATS).encode()
    if method != "POST" or path != "/v1/traces":
        return 404, "text/plain", b"not found\n"
    if headers.get("content-encoding") == "gzip":
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError):
            return 400, "text/plain", b"bad gzip\n"
    STATS["requests"] += 1
    STATS["bytes"] += len(body)
    if headers.get("content-type", "").startswith("application/x-protobuf"):
        return 200, "application/x-protobuf", b""
    STATS["spans"] += body.count(b'"spanId"')
    return 200, "application/json", b"{}"


def main():
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(512)
    lsock.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(lsock, selectors.EVENT_READ, None)
    later = []  # (due, seq, conn, bytes): delayed answers
    seq = 0
    print(lsock.getsockname()[1], flush=True)

    def drop(c):
        try:
            sel.unregister(c.sock)
        except (KeyError, ValueError):
            pass
        c.sock.close()

    def send(c, data):
        c.out += data
        try:
            n = c.sock.send(c.out)
            c.out = c.out[n:]
        except BlockingIOError:
            pass
        except OSError:
            drop(c)
            return
        if c.out:
            sel.modify(c.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
        elif c.close_after:
            drop(c)

    def serve(c):
        nonlocal seq
        while not c.busy:
            try:
                req = c.next_request()
            except ValueError:
                c.close_after = True
                send(c, response(400, "text/plain", b"bad request\n", True))
                return
            if req is None:
                return
            code, ctype, body = answer(*req)
            c.close_after = req[2].get("connection", "").lower() == "close"
            data = response(code, ctype, body, c.close_after)
            if DELAY and req[0] == "POST":
                c.busy = True
                seq += 1
                heapq.heappush(later, (time.monotonic() + DELAY, seq, c, data))
                return
            send(c, data)

    while True:
        timeout = None
        if later:
            timeout = max(0.0, later[0][0] - time.monotonic())
        for key, ev in sel.select(timeout):
            if key.data is None:
                while True:
                    try:
                        s, _ = lsock.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    s.setblocking(False)
                    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    sel.register(s, selectors.EVENT_READ, Conn(s))
                continue
            c = key.data
            if ev & selectors.EVENT_WRITE and c.out:
                send(c, b"")
                if c.sock.fileno() < 0:
                    continue
                if not c.out:
                    sel.modify(c.sock, selectors.EVENT_READ, c)
            if ev & selectors.EVENT_READ:
                try:
                    data = c.sock.recv(1 << 20)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if not data:
                    drop(c)
                    continue
                c.buf += data
                serve(c)
        now = time.monotonic()
        while later and later[0][0] <= now:
            _, _, c, data = heapq.heappop(later)
            c.busy = False
            if c.sock.fileno() >= 0:
                send(c, data)
                if c.sock.fileno() >= 0:
                    serve(c)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        pass
