#!/usr/bin/env python3
"""Local HTTP/1.1 test server for blobferry's HTTP engine tests (stdlib only).

Keep-alive HTTP/1.1, one thread per connection. Endpoints (any method unless noted):
  /echo/...          JSON: method, path (raw, exactly as received), headers (ordered
                     [name, value] pairs as received), body_length, chunked
  /raw/...           the request body back, verbatim (application/octet-stream)
  /bytes/N           N deterministic bytes: byte i is i % 251
  /status/N          status N with a short text body
  /slow/MS           waits MS milliseconds, then 200 "slow"
  /headers?k=v&...   200 with each query pair as a response header (repeats kept)
  /interim           a 103 Early Hints interim response, then 200 with X-Final: yes
  /stats             JSON: connections accepted, requests served, and with TLS the
                     handshakes completed and how many of them resumed a session
  /close/...         200 "closing", then the server closes the connection
HEAD gets the headers of the GET response without the body.

--tls-cert FILE --tls-key FILE serve HTTPS instead (TLS 1.2 and 1.3, session tickets on),
for the engine's certificate verification and TLS cost tests.

--port N (0: any free port) and --port-file FILE (the bound port is written there once
the socket listens). Exits when its parent process goes away, so a crashed test run
leaves nothing behind.
"""
import argparse
import http
import http.server
import json
import os
import signal
import ssl
import socket
import sys
import threading
import time
import urllib.parse

PATTERN = bytes(range(251))
_lock = threading.Lock()
_stats = {"connections": 0, "requests": 0, "tls_handshakes": 0, "tls_resumed": 0}


def pattern_bytes(n):
    reps = n // len(PATTERN) + 1
    return (PATTERN * reps)[:n]


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "blobferry-echo"
    sys_version = ""

    def setup(self):
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with _lock:
            _stats["connections"] += 1
        if isinstance(self.request, ssl.SSLSocket):
            # The handshake runs here, on this connection's thread, not in accept().
            self.request.do_handshake()
            with _lock:
                _stats["tls_handshakes"] += 1
                _stats["tls_resumed"] += bool(self.request.session_reused)
        super().setup()

    def log_message(self, format, *args):
        pass

    def __getattr__(self, name):
        # Every method (GET, PUT, DELETE, custom ones) goes to the same dispatcher.
        if name.startswith("do_"):
            return self.dispatch
        raise AttributeError(name)

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            parts = []
            while True:
                size_line = self.rfile.readline()
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts), True
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length", "0") or "0")
        return (self.rfile.read(length) if length > 0 else b""), False

    def respond(self, status, body=b"", headers=(), content_type="text/plain"):
        try:
            reason = http.HTTPStatus(status).phrase
        except ValueError:
            reason = "Unknown"
        lines = [f"HTTP/1.1 {status} {reason}"]
        for name, value in headers:
            lines.append(f"{name}: {value}")
        no_body = status in (204, 304) or 100 <= status < 200
        if not no_body:
            lines.append(f"Content-Type: {content_type}")
            lines.append(f"Content-Length: {len(body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        if self.command == "HEAD" or no_body:
            self.wfile.write(head)
        elif len(body) < 65536:
            self.wfile.write(head + body)
        else:
            self.wfile.write(head)
            self.wfile.write(body)

    def dispatch(self):
        with _lock:
            _stats["requests"] += 1
        body, chunked = self.read_body()
        raw_path = self.path
        path, _, query = raw_path.partition("?")
        parts = path.split("/")
        top = parts[1] if len(parts) > 1 else ""
        arg = parts[2] if len(parts) > 2 else ""
        if top == "echo":
            doc = {
                "method": self.command,
                "path": raw_path,
                "headers": [[k, v] for k, v in self.headers.items()],
                "body_length": len(body),
                "chunked": chunked,
            }
            self.respond(200, json.dumps(doc).encode(), content_type="application/json")
        elif top == "raw":
            self.respond(200, body, headers=[("X-Request-Method", self.command)],
                         content_type="application/octet-stream")
        elif top == "bytes":
            self.respond(200, pattern_bytes(int(arg)), content_type="application/octet-stream")
        elif top == "status":
            code = int(arg)
            self.respond(code, f"status {code}\n".encode())
        elif top == "slow":
            time.sleep(int(arg) / 1000.0)
            self.respond(200, b"slow")
        elif top == "headers":
            pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
            self.respond(200, b"headers", headers=pairs)
        elif top == "interim":
            self.wfile.write(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")
            self.wfile.flush()
            self.respond(200, b"final", headers=[("X-Final", "yes")])
        elif top == "close":
            self.close_connection = True
            self.respond(200, b"closing", headers=[("Connection", "close")])
        elif top == "stats":
            with _lock:
                doc = dict(_stats)
            self.respond(200, json.dumps(doc).encode(), content_type="application/json")
        else:
            self.respond(404, b"no such endpoint\n")


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024

    tls_context = None

    def get_request(self):
        sock, address = super().get_request()
        if self.tls_context is not None:
            sock = self.tls_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def handle_error(self, request, client_address):
        # Clients that time out or cancel close their connection mid-response, and clients
        # that reject the certificate abort the handshake: expected.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError, ssl.SSLError)):
            return
        super().handle_error(request, client_address)


def watch_parent(parent):
    while True:
        if os.getppid() != parent:
            os._exit(0)
        time.sleep(0.5)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file")
    parser.add_argument("--tls-cert", help="serve HTTPS with this certificate (PEM, chain allowed)")
    parser.add_argument("--tls-key", help="the certificate's private key (PEM)")
    args = parser.parse_args()
    # A parent that spawns us from a thread with signals blocked (Swift's Process from a
    # dispatch worker) passes that mask on: unblock everything so SIGTERM stops us, and
    # exit cleanly on it.
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    signal.signal(signal.SIGTERM, lambda signum, frame: os._exit(0))
    server = Server((args.host, args.port), Handler)
    if args.tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        server.tls_context = context
    port = server.server_address[1]
    if args.port_file:
        temporary = args.port_file + ".tmp"
        with open(temporary, "w") as f:
            f.write(f"{port}\n")
        os.replace(temporary, args.port_file)
    threading.Thread(target=watch_parent, args=(os.getppid(),), daemon=True).start()
    print(f"listening on {args.host}:{port}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
