#!/usr/bin/python3
"""A TCP listener for the budget tests: binds HOST:PORT, appends one line per
accepted connection to LOG and sends SIZE bytes, then closes; runs until
killed."""
import socket
import sys
import threading

host, port, log, size = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((host, port))
srv.listen(128)
open(log + ".ready", "w").close()


def serve(conn):
    try:
        conn.settimeout(30)
        chunk = b"x" * 65536
        left = size
        while left > 0:
            n = conn.send(chunk[: min(left, len(chunk))])
            left -= n
    except OSError:
        pass
    finally:
        conn.close()


while True:
    conn, peer = srv.accept()
    with open(log, "a") as f:
        f.write(f"connection from {peer[0]}\n")
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
