#!/usr/bin/python3
"""An HTTPS server for the agent workload tests: binds HOST:PORT with CERT
and KEY, answers every GET with "hello over https", appends one line per
request ("GET /path") to LOG, runs until killed."""
import http.server
import ssl
import sys

host, port, cert, key, log = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open(log, "a") as f:
            f.write(f"GET {self.path}\n")
        body = b"hello over https\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


srv = http.server.ThreadingHTTPServer((host, port), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
open(log + ".ready", "w").close()
srv.serve_forever()
