"""Queue administration on the running server through its control socket: `sluice queue flush
[ID]`, `hold ID`, `release ID`, `delete ID` (issue 3).

Messages are relayed through a [[relay.route]] to a loopback port where nothing listens at first,
so they stay deferred (retries an hour apart); a Sink started on that port later shows exactly what
was delivered, and when."""
import re
import smtplib
import socket
import stat
import time

from conftest import BASE_CONFIG, free_port
from relay_peers import Sink

CONFIG = BASE_CONFIG.replace('retry_initial = "1s"', 'retry_initial = "1h"').replace(
    'retry_max = "2s"', 'retry_max = "4h"') + """
[access]
trusted = ["127.0.0.1"]
[[relay.route]]
domain = "routed.test"
host = "127.0.0.1:%d"
"""


def start(make_sluice):
    port = free_port()
    s = make_sluice(config=CONFIG % port)
    s.start()
    return s, port


def cli(s, *args):
    return s.cli("queue", *args, "--config", str(s.config_path), check=False)


def send_deferred(s, subject="t"):
    """Sends one relayed message and waits until its first attempt has failed; returns its ID."""
    with smtplib.SMTP(s.host, s.port, timeout=10) as c:
        c.sendmail("alice@example.org", ["r@routed.test"],
                   ("Subject: %s\r\n\r\nbody\r\n" % subject).encode())
    deadline = time.monotonic() + 10
    while True:
        out = cli(s, "list").stdout.decode()
        ids = [m.group(1) for m in re.finditer(r"^([0-9A-Z]{16})\s", out, re.M)]
        deferred = [i for i in ids
                    if re.search(i + r".*\n(?:\s+.*\n)*?\s+r@routed.test\s+pending\s+attempts=[1-9]", out)]
        if deferred:
            newest = sorted(deferred)[-1]
            if newest not in getattr(s, "_seen", set()):
                s._seen = getattr(s, "_seen", set()) | {newest}
                return newest
        assert time.monotonic() < deadline, out
        time.sleep(0.1)


def queue_ids(s):
    return re.findall(r"^([0-9A-Z]{16})\s", cli(s, "list").stdout.decode(), re.M)


def test_control_socket_is_0600_and_removed_at_stop(make_sluice):
    s, _ = start(make_sluice)
    path = s.data / "control.sock"
    st = path.stat()
    assert stat.S_ISSOCK(st.st_mode)
    assert stat.S_IMODE(st.st_mode) == 0o600
    s.stop()
    assert not path.exists()


def test_flush_one_then_all_retries_now(make_sluice):
    s, port = start(make_sluice)
    a = send_deferred(s, "a")
    b = send_deferred(s, "b")
    sink = Sink("127.0.0.1", port).start()
    try:
        r = cli(s, "flush", a)
        assert r.returncode == 0, r.stderr
        assert a in r.stdout.decode()
        assert len(sink.wait_messages(1)) == 1
        time.sleep(1)
        assert len(sink.messages) == 1  # only the one flushed; b waits for its retry in an hour
        assert queue_ids(s) == [b]
        r = cli(s, "flush")
        assert r.returncode == 0, r.stderr
        assert b"1 deferred message" in r.stdout
        sink.wait_messages(2)
        s.wait_queue_empty()
    finally:
        sink.stop()


def test_hold_keeps_message_until_release(make_sluice):
    s, port = start(make_sluice)
    qid = send_deferred(s)
    r = cli(s, "hold", qid)
    assert r.returncode == 0, r.stderr
    out = cli(s, "list").stdout.decode()
    assert re.search(qid + r".*HELD", out), out
    sink = Sink("127.0.0.1", port).start()
    try:
        r = cli(s, "flush", qid)
        assert r.returncode == 1 and b"held" in r.stderr
        assert cli(s, "flush").returncode == 0
        time.sleep(1.5)
        assert sink.messages == []
        assert queue_ids(s) == [qid]
        r = cli(s, "release", qid)
        assert r.returncode == 0, r.stderr
        assert sink.wait_messages(1)[0][1] == ["r@routed.test"]
        s.wait_queue_empty()
        r = cli(s, "release", qid)
        assert r.returncode == 1 and qid.encode() in r.stderr
    finally:
        sink.stop()


def test_hold_survives_restart(make_sluice):
    s, port = start(make_sluice)
    qid = send_deferred(s)
    assert cli(s, "hold", qid).returncode == 0
    s.stop()
    s.start()
    assert "HELD" in cli(s, "list").stdout.decode()
    assert cli(s, "release", qid).returncode == 0


def test_delete_removes_and_never_delivers(make_sluice):
    s, port = start(make_sluice)
    qid = send_deferred(s)
    r = cli(s, "delete", qid)
    assert r.returncode == 0, r.stderr
    out = cli(s, "list").stdout.decode()
    assert qid not in out and "0 messages in queue" in out
    sink = Sink("127.0.0.1", port).start()
    try:
        assert cli(s, "flush").returncode == 0
        time.sleep(1.5)
        assert sink.messages == []
        assert s.messages("alice") == []  # no DSN for an operator delete
    finally:
        sink.stop()
    r = cli(s, "delete", qid)
    assert r.returncode == 1 and b"no message" in r.stderr


def test_bad_id_and_bad_request_are_errors(make_sluice):
    s, _ = start(make_sluice)
    for args in (("hold", "../../etc/passwd"), ("delete", "abc"), ("flush", "x" * 16)):
        r = cli(s, *args)
        assert r.returncode == 2, args  # a usage error, refused before the server is asked
        assert b"not a queue ID" in r.stderr
    # The server validates too: talk to the socket directly.
    for line, reason in ((b"HOLD ../../etc/passwd\n", b"invalid queue ID"),
                         (b"BOGUS\n", b"unknown command"),
                         (b"DELETE\n", b"queue ID required"),
                         (b"A" * 5000 + b"\n", b"too long")):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
            c.settimeout(10)
            c.connect(str(s.data / "control.sock"))
            c.sendall(line)
            answer = c.recv(1000)
        assert answer.startswith(b"ERR ") and reason in answer and answer.endswith(b"\n"), answer
    # A valid ID of a message that is not there.
    r = cli(s, "hold", "0123456789ABCDEF")
    assert r.returncode == 1 and b"no message" in r.stderr


def test_server_not_running_is_a_clear_error(make_sluice):
    s, _ = start(make_sluice)
    s.kill()  # leaves a stale socket behind
    assert (s.data / "control.sock").exists()
    for args in (("flush",), ("hold", "0123456789ABCDEF"), ("delete", "0123456789ABCDEF")):
        r = cli(s, *args)
        assert r.returncode == 1, args
        assert b"server is not running" in r.stderr, r.stderr
    s.start()  # the stale socket is replaced
    assert cli(s, "flush").returncode == 0
    s.stop()
    r = cli(s, "flush")
    assert r.returncode == 1 and b"server is not running" in r.stderr


def send_deferred_from(s, sender, rcpt="r@routed.test"):
    """Relayed messages from several senders, all deferred (nothing listens on the route)."""
    with smtplib.SMTP(s.host, s.port, timeout=10) as c:
        c.sendmail(sender, [rcpt], b"Subject: bulk\r\n\r\nbody\r\n")


def wait_deferred(s, n):
    import json
    deadline = time.monotonic() + 15
    while True:
        r = cli(s, "list", "--json")
        assert r.returncode == 0, r.stderr
        msgs = [json.loads(line) for line in r.stdout.decode().splitlines()]
        if len(msgs) == n and all(m["recipients"][0]["attempts"] >= 1 for m in msgs):
            return msgs
        assert time.monotonic() < deadline, msgs
        time.sleep(0.1)


def test_json_filters_and_bulk_operations_with_counts(make_sluice):
    s, port = start(make_sluice)
    for sender in ("spam1@bad.test", "spam2@bad.test", "spam3@bad.test", "ok@good.test"):
        send_deferred_from(s, sender)
    msgs = wait_deferred(s, 4)
    m = msgs[0]
    assert set(m) >= {"queue_id", "sender", "arrival_time", "message_size", "held", "recipients"}
    assert m["recipients"][0]["address"] == "r@routed.test"
    assert m["recipients"][0]["state"] == "pending"
    assert m["recipients"][0]["attempts"] >= 1 and m["recipients"][0]["last_error"], m

    # Filters: sender glob (any case), domain, error text, age.
    out = cli(s, "list", "--sender", "*@BAD.test").stdout.decode()
    assert "3 of 4 messages in queue match" in out, out
    assert "ok@good.test" not in out
    assert "4 of 4" in cli(s, "list", "--domain", "routed.test").stdout.decode()
    assert "0 of 4" in cli(s, "list", "--domain", "elsewhere.test").stdout.decode()
    assert "0 of 4" in cli(s, "list", "--older-than", "1h").stdout.decode()
    assert "4 of 4" in cli(s, "list", "--newer-than", "1h").stdout.decode()
    r = cli(s, "list", "--older-than", "soon")
    assert r.returncode == 2 and b"--older-than" in r.stderr

    # Bulk hold on a filter: counts what it touched; release on ALL takes the held ones.
    r = cli(s, "hold", "--sender", "*@bad.test")
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().strip() == "3 messages held", r.stdout
    assert "3 of 4" in cli(s, "list", "--held").stdout.decode()
    r = cli(s, "release", "ALL")
    assert r.returncode == 0 and r.stdout.decode().strip() == "3 messages released", r
    assert "0 of 4" in cli(s, "list", "--held").stdout.decode()

    # Delete needs a target; then delete a filter, then --all, with counts.
    r = cli(s, "delete")
    assert r.returncode == 2 and b"--all" in r.stderr
    r = cli(s, "delete", "--sender", "spam1@bad.test")
    assert r.returncode == 0 and r.stdout.decode().strip() == "1 message deleted", r
    r = cli(s, "delete", "--all")
    assert r.returncode == 0 and r.stdout.decode().strip() == "3 messages deleted", r
    assert "0 messages in queue" in cli(s, "list").stdout.decode()
    r = cli(s, "delete", "--all")
    assert r.returncode == 0 and b"0 messages matched" in r.stdout
    sink = Sink("127.0.0.1", port).start()
    try:
        assert cli(s, "flush").returncode == 0
        time.sleep(1)
        assert sink.messages == []  # deleted means never delivered
    finally:
        sink.stop()


def test_bulk_by_ids_reports_the_ones_missed(make_sluice):
    s, _ = start(make_sluice)
    a = send_deferred(s, "a")
    b = send_deferred(s, "b")
    gone = "0123456789ABCDEF"
    r = cli(s, "hold", a, b, gone)
    assert r.returncode == 1  # named IDs: each was asked for
    assert r.stdout.decode().strip() == "2 messages held"
    assert gone.encode() in r.stderr and b"1 not held" in r.stderr
    r = cli(s, "hold", a, "--sender", "x")
    assert r.returncode == 2 and b"not both" in r.stderr
