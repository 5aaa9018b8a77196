#!/usr/bin/python3
"""Memory per connection while a message is being received: N connections each send a message of
a given size except its final ".", and stay; the server's RSS growth divided by N is what one such
connection costs. Run for 1 KiB, 1 MiB and 25 MiB messages, for this build and optionally an older
one (side by side, one run), and print a Markdown table for docs/benchmarks.md.

Usage: bench/memory_per_connection.py BINARY [OLD_BINARY] [--connections 20]
Loopback only; each server runs on a temporary data directory and is stopped at the end.
"""
import argparse
import os
import pathlib
import socket
import subprocess
import sys
import tempfile
import time

CONFIG = """
hostname = "mx.bench"
data_dir = "{data}"
workers = 2
[[listener]]
name = "bench"
address = "127.0.0.1:{port}"
[limits]
message_size = "32M"
connections = 2000
connections_per_ip = 2000
connections_per_network = 2000
[timeouts]
command = "5m"
data_block = "5m"
[log]
level = "warn"
file = "{data}/sluice.log"
[[domain]]
name = "example.org"
mailboxes = ["alice"]
"""
# The old build does not know the newer keys.
OLD_CONFIG = CONFIG.replace("connections_per_network = 2000\n", "")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def settle(pid, timeout=60):
    """Waits until the RSS stops changing (the server has read what was sent)."""
    last, deadline = rss_kb(pid), time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = rss_kb(pid)
        if abs(now - last) < 256:
            return now
        last = now
    return last


def expect(sock, code):
    buf = b""
    while not buf.endswith(b"\r\n") or buf.split(b"\r\n")[-2][3:4] == b"-":
        chunk = sock.recv(4096)
        if not chunk:
            raise RuntimeError("closed")
        buf += chunk
    if not buf.startswith(code):
        raise RuntimeError("expected %r, got %r" % (code, buf))


def measure(binary, config, size, n):
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        cfg = pathlib.Path(tmp) / "sluice.toml"
        cfg.write_text(config.format(data=tmp + "/data", port=port))
        proc = subprocess.Popen([binary, "serve", "--config", str(cfg)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(100):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.1)
            time.sleep(0.5)
            base = settle(proc.pid)
            body = b"Subject: held\r\n\r\n" + (b"x" * 998 + b"\r\n") * (size // 1000 + 1)
            body = body[:size]
            if not body.endswith(b"\r\n"):
                body = body[:-2] + b"\r\n"
            socks = []
            for _ in range(n):
                s = socket.create_connection(("127.0.0.1", port), timeout=60)
                expect(s, b"220")
                s.sendall(b"EHLO bench\r\n")
                expect(s, b"250")
                s.sendall(b"MAIL FROM:<a@b.test>\r\nRCPT TO:<alice@example.org>\r\n")
                expect(s, b"250")
                s.sendall(b"DATA\r\n")
                expect(s, b"354")
                s.sendall(body)
                socks.append(s)
            grown = settle(proc.pid) - base
            for s in socks:
                s.close()
            return grown / n
        finally:
            proc.terminate()
            proc.wait(30)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("binary")
    ap.add_argument("old_binary", nargs="?")
    ap.add_argument("--connections", type=int, default=20)
    args = ap.parse_args()
    sizes = [("1 KiB", 1024), ("1 MiB", 1024 * 1024), ("25 MiB", 25 * 1024 * 1024)]
    rows = []
    for label, size in sizes:
        n = args.connections if size < 8 * 1024 * 1024 else max(4, args.connections // 4)
        new = measure(args.binary, CONFIG, size, n)
        old = measure(args.old_binary, OLD_CONFIG, size, n) if args.old_binary else None
        rows.append((label, n, new, old))
        print(label, n, new, old, file=sys.stderr)
    print("| message being received | connections | KiB per connection (this build) |" +
          (" KiB per connection (old build) |" if args.old_binary else ""))
    print("|---|---|---|" + ("---|" if args.old_binary else ""))
    for label, n, new, old in rows:
        print("| %s | %d | %.0f |" % (label, n, new) + (" %.0f |" % old if old is not None else ""))


if __name__ == "__main__":
    main()
