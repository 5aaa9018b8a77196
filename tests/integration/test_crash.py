"""Crash consistency: clients send concurrently while the server is killed with SIGKILL at random
moments and restarted. Every message that got a 250 must be delivered exactly once, byte for byte;
no message (acknowledged or not) may be delivered twice."""
import random
import re
import smtplib
import threading
import time


def body_for(token):
    rnd = random.Random(token)
    lines = ["Subject: %s" % token, "Message-ID: <%s@crash.test>" % token, ""]
    for _ in range(rnd.randint(1, 40)):
        lines.append("".join(rnd.choice("abcdefghij .,-") for _ in range(rnd.randint(0, 200))))
    lines.append(".leading dot line")
    return ("\r\n".join(lines) + "\r\n").encode()


def strip_trace(msg):
    """Drops the Return-Path, Delivered-To and (folded) Received header we prepend."""
    lines = msg.split(b"\n")
    assert lines[0].startswith(b"Return-Path:") and lines[1].startswith(b"Delivered-To:")
    assert lines[2].startswith(b"Received:")
    i = 3
    while lines[i].startswith((b"\t", b" ")):
        i += 1
    return b"\n".join(lines[i:])


KILLS = 4
ACKS_BETWEEN_KILLS = 60  # acknowledged messages between two kills: a machine's speed changes only
ACKS_AFTER_LAST = 40     # how long the test runs, never how much load each kill lands in
DEADLINE = 300           # seconds: a server that stops accepting fails the test instead of hanging


def test_sigkill_under_load_loses_and_duplicates_nothing(make_sluice):
    s = make_sluice().start()
    acked = set()
    attempted = set()
    lock = threading.Lock()
    progress = threading.Condition(lock)
    stop = threading.Event()

    def client(n):
        seq = 0
        while not stop.is_set():
            token = "tok-%d-%d" % (n, seq)
            seq += 1
            with lock:
                attempted.add(token)
            try:
                with smtplib.SMTP(s.host, s.port, timeout=5) as c:
                    c.sendmail("load@remote.test", ["alice@example.org"], body_for(token))
                with lock:
                    acked.add(token)
                    progress.notify_all()
            except (OSError, smtplib.SMTPException):
                time.sleep(0.02)  # the server is down or went down mid-transaction

    def wait_acked(n):
        deadline = time.monotonic() + DEADLINE
        with lock:
            while len(acked) < n:
                left = deadline - time.monotonic()
                assert left > 0, "only %d of %d messages acknowledged in %ds" % (len(acked), n, DEADLINE)
                progress.wait(left)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    rnd = random.Random(42)
    try:
        for k in range(KILLS):
            # Kill while 8 clients are mid-transaction: after a count of acknowledgements, plus a
            # random few milliseconds so the kill lands at different points of a transaction.
            wait_acked((k + 1) * ACKS_BETWEEN_KILLS)
            time.sleep(rnd.uniform(0, 0.05))
            s.kill()
            s.start()
        wait_acked(KILLS * ACKS_BETWEEN_KILLS + ACKS_AFTER_LAST)
    finally:
        stop.set()
        for t in threads:
            t.join(30)
    s.wait_queue_empty(timeout=30)
    s.stop()

    seen = {}
    for msg in s.messages("alice"):
        m = re.search(rb"Subject: (tok-\d+-\d+)", msg)
        assert m, msg[:200]
        token = m.group(1).decode()
        seen[token] = seen.get(token, 0) + 1
        assert strip_trace(msg) == body_for(token).replace(b"\r\n", b"\n"), token
    lost = acked - set(seen)
    assert not lost, "acknowledged but not delivered: %s" % sorted(lost)[:10]
    dups = {t: n for t, n in seen.items() if n > 1}
    assert not dups, "delivered twice: %s" % dups
    assert set(seen) <= attempted
