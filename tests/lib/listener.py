#!/usr/bin/python3
"""A TCP listener for the egress tests: binds HOST:PORT, appends one line
per accepted connection to LOG, answers "hello", runs until killed."""
import socket
import sys

host, port, log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
family = socket.AF_INET6 if ":" in host else socket.AF_INET
srv = socket.socket(family, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((host, port))
srv.listen(16)
open(log + ".ready", "w").close()
while True:
    conn, peer = srv.accept()
    with open(log, "a") as f:
        f.write(f"connection from {peer[0]}\n")
    try:
        conn.sendall(b"hello\n")
    finally:
        conn.close()
