#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The bench's OTLP/HTTP receiver: answers 200 {} to POST /v1/traces on
127.0.0.1 (HTTP/1.1, keep-alive), counts requests, bytes and spans (spanId
keys in the JSON, gzip undone), and GET /stats returns the counts as JSON.
Prints its port on the first line of stdout. argv[1], when given: answer each
POST that many milliseconds late (an exporter stuck on a slow collector). No
decoding checks: that is tests/otlp/receiver.js's job."""
import gzip
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

STATS = {"requests": 0, "bytes": 0, "spans": 0}
DELAY = float(sys.argv[1]) / 1000 if len(sys.argv) > 1 else 0.0
LOCK = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def reply(self, code, body):
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        try:
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the exporter gave up waiting (the slow receiver)

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        with LOCK:
            STATS["requests"] += 1
            STATS["bytes"] += len(body)
            STATS["spans"] += body.count(b'"spanId"')
        if DELAY:
            time.sleep(DELAY)
        self.reply(200 if self.path == "/v1/traces" else 404, b"{}")

    def do_GET(self):
        with LOCK:
            body = json.dumps(STATS).encode()
        self.reply(200, body)

    def log_message(self, *args):
        pass


def main():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    print(srv.server_address[1], flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
