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


def test_sigkill_under_load_loses_and_duplicates_nothing(make_sluice):
    s = make_sluice().start()
    acked = set()
    attempted = set()
    lock = threading.Lock()
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
            except (OSError, smtplib.SMTPException):
                time.sleep(0.02)  # the server is down or went down mid-transaction

    threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    rnd = random.Random(42)
    try:
        for _ in range(4):
            time.sleep(rnd.uniform(0.3, 1.2))
            s.kill()
            s.start()
        time.sleep(0.5)
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
    assert len(acked) > 50, "load too light to mean anything: %d" % len(acked)
    lost = acked - set(seen)
    assert not lost, "acknowledged but not delivered: %s" % sorted(lost)[:10]
    dups = {t: n for t, n in seen.items() if n > 1}
    assert not dups, "delivered twice: %s" % dups
    assert set(seen) <= attempted
