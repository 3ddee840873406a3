#!/usr/bin/python3
"""A shared front end for the name-bound egress tests: on HOST it serves
HTTPS on TLS_PORT (one certificate for every name it serves) and plain HTTP
on HTTP_PORT, answers every GET with "hello from NAME", and appends one line
per request to LOG: "https SNI HOST PATH" or "http - HOST PATH".  Runs until
killed; LOG.ready appears once both ports listen."""
import http.server
import ssl
import sys
import threading

host, tls_port, http_port, cert, key, log = (sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4],
                                             sys.argv[5], sys.argv[6])
lock = threading.Lock()


def handler(scheme):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        timeout = 10

        def do_GET(self):
            sni = getattr(self.connection, "corral_sni", None) or "-"
            name = self.headers.get("Host", "-")
            with lock, open(log, "a") as f:
                f.write(f"{scheme} {sni} {name} {self.path}\n")
            body = f"hello from {name}\n".encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    return Handler


def remember_sni(sock, name, ctx):
    sock.corral_sni = name


ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
ctx.sni_callback = remember_sni
tls = http.server.ThreadingHTTPServer((host, tls_port), handler("https"))
# The handshake in each connection's own thread, not in accept(): a client
# whose ClientHello never completes (the check reset it) must not hold up
# the others.
tls.socket = ctx.wrap_socket(tls.socket, server_side=True, do_handshake_on_connect=False)
plain = http.server.ThreadingHTTPServer((host, http_port), handler("http"))
threading.Thread(target=plain.serve_forever, daemon=True).start()
open(log + ".ready", "w").close()
tls.serve_forever()
