#!/usr/bin/env python3
"""A small forwarding and CONNECT proxy that counts what went through it (stdlib only).

blobferry's tests point HTTP_PROXY / HTTPS_PROXY at it and check from the counts that each
service's traffic went through it, or, for a host in NO_PROXY, did not.

  GET|PUT|POST|HEAD|DELETE http://HOST:PORT/...   forwarded (one upstream connection each)
  CONNECT HOST:PORT                               tunnelled (HTTPS)
  GET /stats                                      JSON: {"HOST:PORT": requests forwarded,
                                                  "METHOD HOST:PORT": by method, with GETs
                                                  split into "GET-list" (a listing query:
                                                  list-type= or comp=list) and "GET",
                                                  "CONNECT HOST:PORT": tunnels opened}

Only loopback targets are forwarded (127.0.0.0/8, localhost); anything else gets 403.
--port N (0: any) and --port-file FILE as in http_echo_server.py; exits with its parent.
"""
import argparse
import http.client
import http.server
import json
import select
import socket
import threading
import urllib.parse

import local_serving

_lock = threading.Lock()
_stats = {}
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authorization", "te", "trailer",
              "transfer-encoding", "upgrade", "expect"}


def count(name):
    with _lock:
        _stats[name] = _stats.get(name, 0) + 1


def loopback(host):
    return host == "localhost" or host.startswith("127.")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        print("%s %s" % (self.address_string(), format % args), flush=True)

    def reply(self, status, body, content_type="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_CONNECT(self):
        host, _, port = self.path.rpartition(":")
        if not loopback(host) or not port.isdigit():
            return self.reply(403, b'{"error": "only loopback targets"}')
        try:
            upstream = socket.create_connection((host, int(port)), timeout=10)
        except OSError as error:
            return self.reply(502, json.dumps({"error": str(error)}).encode())
        count(f"CONNECT {host}:{port}")
        self.send_response(200, "Connection Established")
        self.end_headers()
        self.wfile.flush()
        client = self.connection
        upstream.settimeout(None)
        sockets = [client, upstream]
        try:
            while True:
                readable, _, broken = select.select(sockets, [], sockets, 60)
                if broken or not readable:
                    break
                for source in readable:
                    data = source.recv(65536)
                    if not data:
                        return
                    (upstream if source is client else client).sendall(data)
        except OSError:
            pass
        finally:
            upstream.close()
            self.close_connection = True

    def forward(self):
        if self.path == "/stats":
            with _lock:
                return self.reply(200, json.dumps(_stats).encode())
        target = urllib.parse.urlsplit(self.path)
        if target.scheme != "http" or not target.hostname or not loopback(target.hostname):
            return self.reply(403, b'{"error": "only http:// loopback targets"}')
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        path = target.path or "/"
        if target.query:
            path += "?" + target.query
        headers = [(name, value) for name, value in self.headers.items() if name.lower() not in HOP_BY_HOP]
        port = target.port or 80
        count(f"{target.hostname}:{port}")
        listing = "list-type=" in target.query or "comp=list" in target.query
        count(f"{'GET-list' if self.command == 'GET' and listing else self.command} {target.hostname}:{port}")
        upstream = http.client.HTTPConnection(target.hostname, port, timeout=60)
        try:
            upstream.putrequest(self.command, path, skip_host=True, skip_accept_encoding=True)
            for name, value in headers:
                upstream.putheader(name, value)
            upstream.endheaders(body)
            response = upstream.getresponse()
            data = response.read()
        except OSError as error:
            upstream.close()
            return self.reply(502, json.dumps({"error": str(error)}).encode())
        upstream.close()
        self.send_response(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                self.send_header(name, value)
        declared = response.getheader("Content-Length")
        self.send_header("Content-Length", declared if self.command == "HEAD" and declared else str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = forward



def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file")
    args = parser.parse_args()
    local_serving.take_signals()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.request_queue_size = 128
    local_serving.serve(server, args.port_file)


if __name__ == "__main__":
    main()
