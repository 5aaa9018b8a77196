#!/usr/bin/python3
"""10,000 idle connections: Sluice's memory, and how fast a normal client is still served.

Starts the Release binary on a loopback port, opens N connections that read the greeting and then
say nothing, measures the server's RSS, then times a complete SMTP transaction from one more client
(connect to 250 after DATA), several times. Loopback only; every socket is closed at the end.

Usage: bench/idle.py [--connections 10000] [--binary build-release/apps/sluice/sluice]
"""
import argparse
import json
import os
import pathlib
import resource
import shutil
import signal
import smtplib
import socket
import statistics
import subprocess
import time

REPO = pathlib.Path(__file__).resolve().parents[1]


def rss_kb(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--connections", type=int, default=10000)
    ap.add_argument("--binary", default=str(REPO / "build-release" / "apps" / "sluice" / "sluice"))
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    work = pathlib.Path("/tmp/sluice-bench-idle")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (work / "sluice.toml").write_text(f"""
data_dir = "{work}/data"
[[listener]]
address = "127.0.0.1:{port}"
[limits]
connections = {args.connections + 100}
connections_per_ip = {args.connections + 100}
[log]
level = "warn"
[[domain]]
name = "bench.test"
any_user = true
""")
    proc = subprocess.Popen([args.binary, "serve", "--config", str(work / "sluice.toml")])
    socks = []
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        base_kb = rss_kb(proc.pid)
        t0 = time.monotonic()
        for i in range(args.connections):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            socks.append(s)
        for s in socks:  # every one of them got its greeting
            assert s.recv(64).startswith(b"220 ")
        opened = time.monotonic() - t0
        time.sleep(1)
        idle_kb = rss_kb(proc.pid)
        times = []
        for _ in range(20):
            t = time.monotonic()
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as c:
                c.sendmail("a@client.test", ["user@bench.test"], b"Subject: idle\r\n\r\nx\r\n")
            times.append((time.monotonic() - t) * 1000)
        print(json.dumps({
            "connections": len(socks),
            "open_and_greet_s": round(opened, 2),
            "rss_base_mb": round(base_kb / 1024, 1),
            "rss_idle_mb": round(idle_kb / 1024, 1),
            "per_connection_kb": round((idle_kb - base_kb) / len(socks), 2),
            "client_ms_median": round(statistics.median(times), 2),
            "client_ms_max": round(max(times), 2),
        }))
    finally:
        for s in socks:
            s.close()
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


if __name__ == "__main__":
    main()
