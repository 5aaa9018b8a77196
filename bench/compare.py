#!/usr/bin/python3
"""Side-by-side benchmark: Sluice vs Postfix (and smtp-sink as the protocol ceiling), in one run.

Builds Sluice in Release, sets up a private Postfix instance (its own config, queue and Maildir
directories under the work dir, loopback ports only), and drives each server in turns (A B C A B C)
with Postfix's smtp-source. For each workload and server it reports: accepted messages/s,
end-to-end messages/s (until every copy is in a Maildir), p50/p99 end-of-data-to-250 latency (from
bench/loadgen, a separate pass), CPU seconds per 1,000 messages, and peak RSS.

Usage (as root, on the benchmark machine):
    bench/compare.py [--runs 3] [--quick] [--out bench/results.json] [--baseline-rev REV]
With --baseline-rev, Sluice as of that git revision (built in a worktree under the work dir) runs
as a fourth server in the same turns, and per-turn ratios new/old are printed: how a refactor is
judged ("within noise").
Results are printed as a Markdown table for docs/benchmarks.md.
"""
import argparse
import json
import os
import pathlib
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
WORK = pathlib.Path(os.environ.get("SLUICE_BENCH_DIR", "/tmp/sluice-bench"))
TRASH = WORK / "trash"
# When a benchmark script last deleted many files (this one's trash, bench/thread_costs.sh's work
# directory). ext4 without a journal (this VM's disk) does not reuse an inode for up to 5 minutes
# after it was freed, and every file creation scans past such inodes: right after deleting 30,000
# files, Maildir delivery cost 0.16-0.21 ms of CPU per message instead of 0.05-0.07 ms. So a run
# first lets the previous run's deletions age. (Postfix deletes its queue files during its runs;
# its queue directory's inode numbers are tens of thousands away from the Maildirs', so these most
# likely sit in other block groups, which the inode allocator searches first.)
DELETE_STAMP = pathlib.Path("/tmp/sluice-bench.deleted")
CLK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
POSTFIX_PROCS = {"master", "smtpd", "cleanup", "qmgr", "virtual", "trivial-rewrite", "anvil",
                 "pickup", "tlsmgr", "proxymap", "bounce", "scache", "postlogd", "showq"}


def sh(*cmd, check=True, **kw):
    return subprocess.run(cmd, check=check, **kw)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.recv(64)
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listening on %d" % port)


def proc_cpu(pid, children=True):
    """utime+stime (+ reaped children's) of a process in seconds; 0 if gone."""
    try:
        f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    t = int(f[11]) + int(f[12])
    if children:
        t += int(f[13]) + int(f[14])
    return t / CLK


def proc_rss_kb(pid, field="VmHWM"):
    try:
        for line in open("/proc/%d/status" % pid):
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def postfix_pids():
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            comm = open("/proc/%s/comm" % d).read().strip()
            exe = os.readlink("/proc/%s/exe" % d)
        except OSError:
            continue
        if comm in POSTFIX_PROCS and "postfix" in exe:
            out.append(int(d))
    return out


def count_files(root):
    n = 0
    for dirpath, dirnames, filenames in os.walk(root):
        if dirpath.endswith("/new") or dirpath.endswith("/cur"):
            n += len(filenames)
    return n


def move_to_trash(path):
    """Moves a previous run's directory aside (deleted when the benchmark ends, see reset())."""
    if path.exists():
        TRASH.mkdir(parents=True, exist_ok=True)
        path.rename(TRASH / ("%s-%d" % (path.name, time.monotonic_ns())))


class Server:
    name = "?"
    maildir_root = None

    def cpu(self):
        return 0.0

    def rss_kb(self):
        return 0

    def reset(self):
        # The previous run's Maildir is moved aside, not deleted: deleting thousands of files just
        # before a measured run slows the next run's file creation (ext4 without a journal skips
        # inodes freed in the last minutes when allocating, see DELETE_STAMP), for every server
        # alike. The trash is deleted when the benchmark ends, outside any measured window.
        if self.maildir_root and self.maildir_root.exists():
            move_to_trash(self.maildir_root)
            self.maildir_root.mkdir(parents=True)


class Sluice(Server):
    name = "sluice"

    def __init__(self, binary, relay_port, name="sluice"):
        self.name = name
        self.port = free_port()
        self.dir = WORK / name
        move_to_trash(self.dir)  # the last benchmark's files: no bulk delete now
        self.dir.mkdir(parents=True)
        self.maildir_root = self.dir / "data" / "mail"
        cfg = self.dir / "sluice.toml"
        cfg.write_text(f"""
hostname = "bench.local"
data_dir = "{self.dir}/data"
[[listener]]
name = "bench"
address = "127.0.0.1:{self.port}"
[limits]
connections = 20000
connections_per_ip = 20000
[log]
level = "info"
file = "{self.dir}/sluice.log"
[access]
trusted = ["127.0.0.0/8"]
[relay]
tls = "none"
concurrency = 50
concurrency_per_destination = 20
[[relay.route]]
domain = "relay.test"
host = "127.0.0.1:{relay_port}"
tls = "none"
[[domain]]
name = "bench.test"
any_user = true
""")
        self.proc = subprocess.Popen([binary, "serve", "--config", str(cfg)],
                                     stderr=open(self.dir / "stderr", "w"))
        wait_port(self.port)

    def cpu(self):
        return proc_cpu(self.proc.pid)

    def rss_kb(self):
        return proc_rss_kb(self.proc.pid)

    def drained(self):
        slots = self.dir / "data" / "spool" / "slots"
        for p in slots.iterdir():
            with open(p, "rb") as f:
                if f.read(4) == b"SLQ1":
                    return False
        return True

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)


class Postfix(Server):
    name = "postfix"

    def __init__(self, relay_port):
        self.port = free_port()
        self.dir = WORK / "postfix"
        sh("postfix", "-c", str(self.dir / "etc"), "stop", check=False, capture_output=True)
        move_to_trash(self.dir)  # the last benchmark's files: no bulk delete now
        etc = self.dir / "etc"
        etc.mkdir(parents=True)
        self.maildir_root = self.dir / "mail"
        self.maildir_root.mkdir()
        (self.dir / "queue").mkdir()
        (self.dir / "data").mkdir()
        shutil.chown(self.dir / "data", "postfix")
        shutil.chown(self.maildir_root, "nobody", "nogroup")
        (etc / "main.cf").write_text(f"""
compatibility_level = 3.6
queue_directory = {self.dir}/queue
data_directory = {self.dir}/data
mail_owner = postfix
myhostname = bench.local
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
biff = no
virtual_mailbox_domains = bench.test
virtual_mailbox_base = {self.maildir_root}
virtual_mailbox_maps = static:mailbox/
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
virtual_minimum_uid = 100
default_process_limit = 200
smtpd_client_connection_count_limit = 0
smtpd_client_connection_rate_limit = 0
smtpd_client_message_rate_limit = 0
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
relay_domains = relay.test
transport_maps = inline:{{ relay.test=smtp:[127.0.0.1]:{relay_port} }}
smtp_tls_security_level = none
maillog_file = {self.dir}/maillog
maillog_file_prefixes = {WORK}
""")
        master = []
        for line in open("/etc/postfix/master.cf"):
            if line.startswith("smtp      inet"):
                line = f"127.0.0.1:{self.port} inet n - n - - smtpd\n"
            elif line and not line[0].isspace() and not line.startswith("#"):
                parts = line.split()
                if len(parts) >= 8:
                    parts[4] = "n"  # no chroot: the private instance has no chroot tree
                    line = " ".join(parts) + "\n"
            master.append(line)
        (etc / "master.cf").write_text("".join(master))
        # Postfix only accepts -c for directories the default instance lists. setup.sh installs
        # Postfix with "No configuration" (no system MTA), so the default instance may have no
        # main.cf at all: then one is made for the run, naming only this directory, and removed
        # at stop() (the default instance is never started).
        self.made_main_cf = not pathlib.Path("/etc/postfix/main.cf").exists()
        if self.made_main_cf:
            pathlib.Path("/etc/postfix/main.cf").write_text("compatibility_level = 3.6\n")
        cur = sh("postconf", "-h", "alternate_config_directories", capture_output=True,
                 text=True).stdout.strip()
        if str(etc) not in cur:
            sh("postconf", "-e", "alternate_config_directories = %s %s" % (cur, etc))
        sh("postfix", "-c", str(etc), "start", capture_output=True)
        wait_port(self.port)
        self.master_pid = int(open(self.dir / "queue" / "pid" / "master.pid").read().split()[0])

    def reset(self):
        super().reset()
        shutil.chown(self.maildir_root, "nobody", "nogroup")  # virtual(8) writes as nobody

    def cpu(self):
        # The master reaps its children, so its cutime/cstime hold every exited child's CPU.
        total = proc_cpu(self.master_pid)
        for pid in postfix_pids():
            if pid != self.master_pid:
                total += proc_cpu(pid, children=False)
        return total

    def rss_kb(self):
        return sum(proc_rss_kb(p, "VmRSS") for p in postfix_pids())

    def drained(self):
        return self.queue_empty()

    def queue_empty(self):
        for sub in ("incoming", "active", "deferred", "maildrop"):
            for _, _, files in os.walk(self.dir / "queue" / sub):
                if files:
                    return False
        return True

    def stop(self):
        sh("postfix", "-c", str(self.dir / "etc"), "stop", check=False, capture_output=True)
        if self.made_main_cf:
            pathlib.Path("/etc/postfix/main.cf").unlink(missing_ok=True)


class Sink(Server):
    name = "smtp-sink"

    def __init__(self):
        self.port = free_port()
        self.proc = subprocess.Popen(["smtp-sink", "-u", "nobody", "-c", "127.0.0.1:%d" % self.port, "4096"],
                                     stdout=subprocess.DEVNULL)
        wait_port(self.port)

    def cpu(self):
        return proc_cpu(self.proc.pid)

    def rss_kb(self):
        return proc_rss_kb(self.proc.pid)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(10)


def warm_up(server, wl):
    """An unmeasured pass before a server's first turn of a workload: caches, process pools (Postfix's
    smtpd and cleanup processes) and spool files exist, and every server is measured in its steady
    state rather than in its first seconds."""
    if wl.get("relay") and server.name == "smtp-sink":
        return
    server.reset()  # count only this pass's copies below
    n = min(2000, wl["messages"])
    cmd = ["smtp-source", "-s", "50", "-m", str(n), "-l", str(wl["size"]), "-r", str(wl["rcpts"]),
           "-f", "bench@loadgen.test",
           "-t", "user@relay.test" if wl.get("relay") else "user@bench.test", "-M", "loadgen.test"]
    if wl["reuse"]:
        cmd.append("-d")
    cmd.append("127.0.0.1:%d" % server.port)
    sh(*cmd, stdout=subprocess.DEVNULL, timeout=600)
    # Deliveries of the warm-up finish before reset() moves its files aside.
    wait_delivered(server, n * wl["rcpts"], wl.get("relay", False))


def wait_delivered(server, expected, relay):
    """Waits until the relay queue is empty, or `expected` copies are in the Maildirs."""
    deadline = time.monotonic() + 300
    if relay:
        while not server.drained():
            if time.monotonic() > deadline:
                raise RuntimeError("%s: relay queue did not drain" % server.name)
            time.sleep(0.02)
    elif server.maildir_root is not None:
        while count_files(server.maildir_root) < expected:
            if time.monotonic() > deadline:
                raise RuntimeError("%s: only %d of %d delivered" %
                                   (server.name, count_files(server.maildir_root), expected))
            time.sleep(0.02)


def run_once(server, wl, loadgen):
    server.reset()
    n, size, rcpts, reuse = wl["messages"], wl["size"], wl["rcpts"], wl["reuse"]
    relay = wl.get("relay", False)
    if relay and server.name == "smtp-sink":
        return None  # the sink is the relay target here, not a contender
    cpu0 = server.cpu()
    t0 = time.monotonic()
    cmd = ["smtp-source", "-s", "50", "-m", str(n), "-l", str(size), "-r", str(rcpts),
           "-f", "bench@loadgen.test", "-t", "user@relay.test" if relay else "user@bench.test",
           "-M", "loadgen.test"]
    if reuse:
        cmd.append("-d")
    cmd.append("127.0.0.1:%d" % server.port)
    sh(*cmd, stdout=subprocess.DEVNULL, timeout=600)
    t_accept = time.monotonic() - t0
    expected = n * rcpts
    t_e2e = None
    if relay or server.maildir_root is not None:
        wait_delivered(server, expected, relay)
        t_e2e = time.monotonic() - t0
    cpu = server.cpu() - cpu0
    # Latency pass: fewer messages, same concurrency, separate from the throughput numbers.
    lat = json.loads(subprocess.run(
        [loadgen, "--port", str(server.port), "--sessions", "50",
         "--messages", str(max(500, n // 4)), "--size", str(size), "--rcpts", str(rcpts),
         "--to", "user@relay.test" if relay else "user@bench.test"] +
        (["--reuse"] if reuse else []), capture_output=True, text=True, timeout=600).stdout)
    if hasattr(server, "drained"):
        # The latency pass's deliveries end before the next reset() moves the Maildir aside.
        deadline = time.monotonic() + 300
        while not server.drained() and time.monotonic() < deadline:
            time.sleep(0.05)
    return {
        "accepted_per_s": n / t_accept,
        "e2e_per_s": n / t_e2e if t_e2e else None,
        "cpu_s_per_1000": cpu / n * 1000,
        "p50_ms": lat["p50_ms"],
        "p99_ms": lat["p99_ms"],
        "rss_mb": server.rss_kb() / 1024,
    }


def median(rows, key):
    vals = [r[key] for r in rows if r[key] is not None]
    return statistics.median(vals) if vals else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="smaller message counts")
    ap.add_argument("--only", default="", help="comma-separated workload names")
    ap.add_argument("--out", default=str(WORK / "results.json"))
    ap.add_argument("--settle", type=float, default=300.0,
                    help="seconds to let a benchmark's bulk delete age before measuring")
    ap.add_argument("--baseline-rev", default="",
                    help="also run Sluice built from this git revision, in the same turns")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("compare.py runs Postfix and must run as root")

    sh("bash", str(REPO / "scripts" / "setup.sh"), "bench")
    sh("cmake", "--preset", "release", "-DSLUICE_BENCH=ON", cwd=REPO, stdout=subprocess.DEVNULL)
    sh("cmake", "--build", "--preset", "release", "-j%d" % os.cpu_count(), cwd=REPO,
       stdout=subprocess.DEVNULL)
    binary = str(REPO / "build-release" / "apps" / "sluice" / "sluice")
    loadgen = str(REPO / "build-release" / "bench" / "sluice-loadgen")
    baseline = build_baseline(args.baseline_rev) if args.baseline_rev else None

    scale = 0.4 if args.quick else 1.0
    workloads = [
        dict(name="1k-newconn", size=1024, rcpts=1, reuse=False, messages=int(20000 * scale)),
        dict(name="1k-reuse", size=1024, rcpts=1, reuse=True, messages=int(20000 * scale)),
        dict(name="64k-newconn", size=65536, rcpts=1, reuse=False, messages=int(2000 * scale)),
        dict(name="1k-10rcpt", size=1024, rcpts=10, reuse=False, messages=int(1000 * scale)),
        # Past limits.message_buffer: the body streams into the spool while it arrives.
        dict(name="1m-newconn", size=1048576, rcpts=1, reuse=False, messages=int(400 * scale)),
        dict(name="relay-1k", size=1024, rcpts=1, reuse=False, relay=True,
             messages=int(5000 * scale)),
    ]
    if args.only:
        workloads = [w for w in workloads if w["name"] in args.only.split(",")]

    WORK.mkdir(parents=True, exist_ok=True)
    if DELETE_STAMP.exists():
        wait = DELETE_STAMP.stat().st_mtime + args.settle - time.time()
        if wait > 0:
            print("waiting %.0f s for an earlier benchmark's deleted files to age (--settle)" % wait,
                  flush=True)
            time.sleep(wait)
    sink = Sink()
    servers = [Sluice(binary, sink.port)]
    if baseline:
        servers.append(Sluice(baseline, sink.port, name="sluice-base"))
    servers += [Postfix(sink.port), sink]
    results = {}
    try:
        for wl in workloads:
            for run in range(args.runs):
                for s in servers:  # A B C A B C ...
                    if run == 0:
                        warm_up(s, wl)
                    r = run_once(s, wl, loadgen)
                    if r is None:
                        continue
                    results.setdefault(wl["name"], {}).setdefault(s.name, []).append(r)
                    print("%-12s %-9s run %d: %s" % (wl["name"], s.name, run + 1,
                          json.dumps({k: (round(v, 3) if v else v) for k, v in r.items()})),
                          flush=True)
    finally:
        for s in servers:
            s.stop()
        shutil.rmtree(TRASH, ignore_errors=True)
        DELETE_STAMP.touch()

    pathlib.Path(args.out).write_text(json.dumps(results, indent=1))
    keys = ["accepted_per_s", "e2e_per_s", "p50_ms", "p99_ms", "cpu_s_per_1000", "rss_mb"]
    print("\n| workload | server | accepted/s | end-to-end/s | p50 ms | p99 ms | CPU s/1000 msgs | "
          "RSS MB | vs Postfix (accepted) | vs smtp-sink |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for wl, per in results.items():
        pf = median(per.get("postfix", []), "accepted_per_s")
        sink = median(per.get("smtp-sink", []), "accepted_per_s")
        for name, rows in per.items():
            m = {k: median(rows, k) for k in keys}
            fmt = lambda v, d=0: "-" if v is None else ("%.*f" % (d, v))
            acc = m["accepted_per_s"]
            print("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                wl, name, fmt(acc), fmt(m["e2e_per_s"]), fmt(m["p50_ms"], 2),
                fmt(m["p99_ms"], 2), fmt(m["cpu_s_per_1000"], 2), fmt(m["rss_mb"], 1),
                "%.2fx" % (acc / pf) if pf else "-", "%.2f" % (acc / sink) if sink else "-"))
    # Per turn (one A B C round each), the fairest comparison on a machine whose speed drifts.
    print("\nper-turn ratios of accepted/s (sluice / postfix, sluice / smtp-sink):")
    for wl, per in results.items():
        sl, pf, sk = per.get("sluice", []), per.get("postfix", []), per.get("smtp-sink", [])
        turns = []
        for i in range(len(sl)):
            a = sl[i]["accepted_per_s"]
            r_pf = "%.2fx" % (a / pf[i]["accepted_per_s"]) if i < len(pf) else "-"
            r_sk = "%.2f" % (a / sk[i]["accepted_per_s"]) if i < len(sk) else "-"
            turns.append("%s / %s" % (r_pf, r_sk))
        print("  %-12s %s" % (wl, ", ".join(turns)))
    if baseline:
        print("\nper-turn ratios, this build / %s (accepted/s, end-to-end/s, CPU per message):"
              % args.baseline_rev)
        for wl, per in results.items():
            new, old = per.get("sluice", []), per.get("sluice-base", [])
            turns = []
            for a, b in zip(new, old):
                ratio = lambda k: ("%.2f" % (a[k] / b[k])) if a.get(k) and b.get(k) else "-"
                turns.append("%s / %s / %s" % (ratio("accepted_per_s"), ratio("e2e_per_s"),
                                               ratio("cpu_s_per_1000")))
            print("  %-12s %s" % (wl, ", ".join(turns)))


def build_baseline(rev):
    """Builds Sluice at `rev` (Release, benchmarks on) in a worktree; returns its binary."""
    tree = WORK / "baseline"
    want = sh("git", "rev-parse", rev + "^{commit}", cwd=REPO, capture_output=True,
              text=True).stdout.strip()
    have = sh("git", "rev-parse", "HEAD", cwd=tree, capture_output=True, text=True,
              check=False).stdout.strip() if tree.exists() else ""
    if have != want:  # else: the same revision, built before; the build below is a no-op
        if tree.exists():
            sh("git", "worktree", "remove", "--force", str(tree), cwd=REPO, check=False)
            shutil.rmtree(tree, ignore_errors=True)
        sh("git", "worktree", "add", "--detach", str(tree), rev, cwd=REPO,
           stdout=subprocess.DEVNULL)
    sh("cmake", "--preset", "release", "-DSLUICE_BENCH=ON", cwd=tree, stdout=subprocess.DEVNULL)
    sh("cmake", "--build", "--preset", "release", "-j%d" % os.cpu_count(), cwd=tree,
       stdout=subprocess.DEVNULL)
    return str(tree / "build-release" / "apps" / "sluice" / "sluice")


if __name__ == "__main__":
    main()
