"""Integration test harness: starts the real `sluice` binary on free loopback ports with a
temporary config and data directory, and gives tests helpers to talk to it and inspect Maildirs.

Only loopback addresses are used; every wait is bounded."""
import os
import pathlib
import signal
import socket
import subprocess
import time

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
BIN = os.environ.get("SLUICE_BIN", str(REPO / "build" / "apps" / "sluice" / "sluice"))

BASE_CONFIG = """
hostname = "mx.test"
data_dir = "{data}"
workers = 2
[[listener]]
name = "test"
address = "127.0.0.1:{port}"
[limits]
message_size = "1M"
recipients = 100
connections = 2000
connections_per_ip = 1000
connections_per_network = 2000
errors = 20
[timeouts]
command = "{command_timeout}"
data_block = "{command_timeout}"
session = "10m"
shutdown_grace = "5s"
[queue]
retry_initial = "1s"
retry_max = "2s"
[log]
level = "debug"
file = "{log}"
[[domain]]
name = "example.org"
mailboxes = ["alice", "bob", "carol"]
aliases = {{ team = ["alice", "bob"], postmaster = ["alice"] }}
[[domain]]
name = "catch.test"
mailboxes = ["info"]
catch_all = "info"
"""


# For tests of other defences that pipeline more than RFC 2920 allows (a whole transaction in one
# write): the server would otherwise stop them at the first command sent ahead.
LENIENT_CONFIG = BASE_CONFIG.replace("[limits]\n", "[limits]\nforbid_unauth_pipelining = false\n")


def rss_kb(pid):
    """The resident memory of a process, in KiB."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def free_port(host="127.0.0.1"):
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Sluice:
    def __init__(self, tmp, extra="", command_timeout="30s", config=None):
        self.tmp = pathlib.Path(tmp)
        self.data = self.tmp / "data"
        self.log = self.tmp / "sluice.log"
        self.port = free_port()
        self.host = "127.0.0.1"
        self.config_path = self.tmp / "sluice.toml"
        text = config if config is not None else BASE_CONFIG + extra
        self.config_path.write_text(text.format(data=self.data, port=self.port, log=self.log,
                                                command_timeout=command_timeout))
        self.proc = None

    # --- process control -------------------------------------------------------------
    def command(self):
        """The argv and environment the server is started with (subclasses wrap it)."""
        return [BIN, "serve", "--config", str(self.config_path)], None

    def start(self, timeout=15):
        self.stderr = open(self.tmp / "stderr.txt", "ab")
        argv, env = self.command()
        self.proc = subprocess.Popen(argv, stdout=self.stderr, stderr=self.stderr, env=env)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("sluice exited early: " + (self.tmp / "stderr.txt").read_text())
            try:
                with socket.create_connection((self.host, self.port), timeout=1) as s:
                    # A listener is bound before the rest of start-up: a failing step after it
                    # closes the accepted connection (b"") as the process exits. A reply, or a
                    # server still alive after a silent close (an access list that drops), is up.
                    if s.recv(100):
                        return self
                time.sleep(0.3)
                if self.proc.poll() is None:
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("sluice did not start listening")

    def stop(self, timeout=20):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("sluice did not stop within %ss of SIGTERM" % timeout)
        return self.proc.returncode if self.proc else None

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def cli(self, *args, check=True):
        r = subprocess.run([BIN, *args], capture_output=True, timeout=30)
        if check and r.returncode != 0:
            raise AssertionError("sluice %s failed: %s" % (args, r.stderr.decode()))
        return r

    # --- inspection --------------------------------------------------------------------
    def maildir(self, user, domain="example.org"):
        return self.data / "mail" / domain / user

    def messages(self, user, domain="example.org"):
        d = self.maildir(user, domain)
        out = []
        for sub in ("new", "cur"):
            p = d / sub
            if p.is_dir():
                out += [f.read_bytes() for f in sorted(p.iterdir())]
        return out

    def wait_for_messages(self, user, count, domain="example.org", timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msgs = self.messages(user, domain)
            if len(msgs) >= count:
                return msgs
            time.sleep(0.05)
        raise AssertionError("expected %d messages for %s@%s, have %d" %
                             (count, user, domain, len(self.messages(user, domain))))

    def queue_files(self):
        """Slot files holding a message (header magic SLQ1, or SLQ2 for a streamed body); free slots
        start with FREE."""
        q = self.data / "spool" / "slots"
        if not q.is_dir():
            return []
        out = []
        for p in sorted(q.iterdir()):
            with open(p, "rb") as f:
                if f.read(4) in (b"SLQ1", b"SLQ2"):
                    out.append(p.name)
        return out

    def wait_queue_empty(self, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.queue_files():
                return
            time.sleep(0.05)
        raise AssertionError("queue not empty: %s" % self.queue_files())

    def wait_log(self, pattern, timeout=10):
        """Waits for a log line matching the regex (info lines are flushed once a second)."""
        import re
        deadline = time.monotonic() + timeout
        while True:
            text = "\n".join(self.log_lines())
            if re.search(pattern, text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError("no log line matching %r in:\n%s" % (pattern, text[-3000:]))
            time.sleep(0.1)

    def log_lines(self):
        return self.log.read_text(errors="replace").splitlines() if self.log.exists() else []

    # --- clients -------------------------------------------------------------------------
    def connect(self, timeout=10):
        return RawClient(self.host, self.port, timeout)


class RawClient:
    """A byte-exact SMTP client for dialogues that smtplib would refuse to send."""

    def __init__(self, host, port, timeout=10):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def reply(self):
        """Reads one complete (possibly multi-line) reply; returns (code, text)."""
        lines = []
        while True:
            while b"\r\n" not in self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("closed by server; got %r" % (self.buf,))
                self.buf += chunk
            line, self.buf = self.buf.split(b"\r\n", 1)
            lines.append(line.decode(errors="replace"))
            if len(line) < 4 or line[3:4] == b" ":
                break
        return int(lines[-1][:3]), "\n".join(lines)

    def replies(self, n):
        return [self.reply() for _ in range(n)]

    def expect(self, code):
        c, text = self.reply()
        assert c == code, "expected %d, got %r" % (code, text)
        return text

    def closed(self, timeout=5):
        """True if the server closes the connection (EOF) within timeout."""
        self.sock.settimeout(timeout)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return True
                self.buf += data
        except (socket.timeout, TimeoutError):
            return False
        except ConnectionResetError:
            return True

    def close(self):
        self.sock.close()


@pytest.fixture
def make_sluice(tmp_path):
    servers = []

    def make(**kw):
        sub = tmp_path / ("s%d" % len(servers))
        sub.mkdir()
        s = Sluice(sub, **kw)
        servers.append(s)
        return s

    yield make
    for s in servers:
        if s.proc and s.proc.poll() is None:
            s.stop()


@pytest.fixture
def sluice(make_sluice):
    return make_sluice().start()


@pytest.fixture
def lenient_sluice(make_sluice):
    """A server that lets unauthenticated clients pipeline anything (LENIENT_CONFIG)."""
    return make_sluice(config=LENIENT_CONFIG).start()


def reachable_by_nobody(path):
    """True if every directory above `path` lets nobody through (a chroot whose / is 0700 does
    not: there the server must refuse to start, which the next test checks)."""
    import subprocess
    try:
        return subprocess.run(["/usr/bin/stat", str(path)], user="nobody",
                              capture_output=True).returncode == 0
    except OSError:  # not even /usr/bin/stat is reachable
        return False
