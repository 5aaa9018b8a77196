"""Hostile input against the real server: SMTP smuggling, overlong lines, binary garbage, recipient
floods, broken connections and idle-connection floods. The server must answer each with a clear
error, queue nothing it should not, and keep serving normal clients."""
import os
import random
import smtplib
import socket
import time

import pytest

from conftest import LENIENT_CONFIG

SMUGGLING = [b"\n.\n", b"\n.\r\n", b"\r.\r\n", b"\r\n.\n", b"\r\n\x00.\r\n", b"\r\n.\x00\r\n"]


@pytest.mark.parametrize("seq", SMUGGLING, ids=lambda s: repr(s))
def test_smuggling_sequence_never_ends_data(lenient_sluice, seq):
    sluice = lenient_sluice
    c = sluice.connect()
    c.expect(220)
    c.send(b"EHLO c\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n")
    assert [r[0] for r in c.replies(4)] == [250, 250, 250, 354]
    # A would-be end of data, then a smuggled transaction, then the real end.
    c.send(b"Subject: first\r\n\r\nbody" + seq +
           b"MAIL FROM:<evil@remote.test>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n"
           b"Subject: smuggled\r\n\r\nx\r\n.\r\n")
    code, text = c.reply()
    assert code == 554, text
    # The session is still in sync: a normal message afterwards works.
    c.send(b"MAIL FROM:<a@remote.test>\r\nRCPT TO:<carol@example.org>\r\nDATA\r\n"
           b"Subject: after\r\n\r\nok\r\n.\r\nQUIT\r\n")
    assert [r[0] for r in c.replies(5)] == [250, 250, 354, 250, 221]
    msgs = sluice.wait_for_messages("carol", 1)
    assert b"Subject: after" in msgs[0]
    sluice.wait_queue_empty()
    assert sluice.messages("alice") == [] and sluice.messages("bob") == []


def test_overlong_command_and_text_lines(lenient_sluice):
    sluice = lenient_sluice
    c = sluice.connect()
    c.expect(220)
    c.send(b"EHLO " + b"a" * 5000 + b"\r\n")
    code, text = c.reply()
    assert code == 500, text
    c.send(b"EHLO c\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n")
    assert [r[0] for r in c.replies(4)] == [250, 250, 250, 354]
    c.send(b"Subject: long\r\n\r\n" + b"x" * 1001 + b"\r\n.\r\n")
    code, text = c.reply()
    assert code == 554 and "1000" in text, text
    c.send(b"QUIT\r\n")
    c.expect(221)
    sluice.wait_queue_empty()
    assert sluice.messages("alice") == []


def test_random_binary_garbage_then_normal_client(sluice):
    rnd = random.Random(1234)
    for _ in range(5):
        c = sluice.connect()
        c.expect(220)
        c.send(bytes(rnd.getrandbits(8) for _ in range(20000)))
        # The server answers errors and disconnects at the error limit (or we give up reading).
        assert c.closed(timeout=10)
        c.close()
    with smtplib.SMTP(sluice.host, sluice.port, timeout=10) as s:
        s.sendmail("a@remote.test", ["alice@example.org"], b"Subject: fine\r\n\r\nx\r\n")
    assert len(sluice.wait_for_messages("alice", 1)) == 1


def test_ten_thousand_rcpts(lenient_sluice):
    sluice = lenient_sluice
    c = sluice.connect(timeout=60)
    c.expect(220)
    c.send(b"EHLO c\r\nMAIL FROM:<a@remote.test>\r\n")
    c.replies(2)
    c.send(b"RCPT TO:<alice@example.org>\r\n" * 10000)
    codes = [r[0] for r in c.replies(10000)]
    # One distinct recipient accepted (duplicates collapse), at most `recipients` ever accepted.
    assert set(codes) <= {250, 452}
    c.send(b"DATA\r\nSubject: many\r\n\r\nx\r\n.\r\nQUIT\r\n")
    assert [r[0] for r in c.replies(3)] == [354, 250, 221]
    assert len(sluice.wait_for_messages("alice", 1)) == 1


def test_ten_thousand_distinct_rcpts_capped(lenient_sluice):
    sluice = lenient_sluice
    c = sluice.connect(timeout=60)
    c.expect(220)
    c.send(b"EHLO c\r\nMAIL FROM:<a@remote.test>\r\n")
    c.replies(2)
    c.send(b"".join(b"RCPT TO:<u%d@catch.test>\r\n" % i for i in range(10000)))
    codes = [r[0] for r in c.replies(10000)]
    assert codes[:100] == [250] * 100
    assert codes[100:] == [452] * 9900
    c.send(b"DATA\r\nSubject: capped\r\n\r\nx\r\n.\r\nQUIT\r\n")
    assert [r[0] for r in c.replies(3)] == [354, 250, 221]
    # catch-all: 100 recipients, one mailbox, one copy.
    assert len(sluice.wait_for_messages("info", 1, domain="catch.test")) == 1
    sluice.wait_queue_empty()
    assert len(sluice.messages("info", domain="catch.test")) == 1


def test_disconnect_mid_data_queues_nothing(lenient_sluice):
    sluice = lenient_sluice
    c = sluice.connect()
    c.expect(220)
    c.send(b"EHLO c\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n")
    c.replies(4)
    c.send(b"Subject: cut\r\n\r\npartial body\r\n")
    c.close()
    time.sleep(0.5)
    assert sluice.queue_files() == []
    assert sluice.messages("alice") == []


def test_http_on_smtp_port_disconnects(sluice):
    c = sluice.connect()
    c.expect(220)
    c.send(b"GET / HTTP/1.1\r\nHost: example.org\r\n\r\n")
    assert c.closed(timeout=5)
    assert c.buf == b""  # not a single SMTP reply to a browser


def test_500_idle_connections_do_not_block_a_client(sluice):
    idle = []
    try:
        for _ in range(500):
            idle.append(socket.create_connection((sluice.host, sluice.port), timeout=10))
        start = time.monotonic()
        with smtplib.SMTP(sluice.host, sluice.port, timeout=10) as s:
            s.sendmail("a@remote.test", ["bob@example.org"], b"Subject: busy\r\n\r\nx\r\n")
        assert time.monotonic() - start < 5
        assert len(sluice.wait_for_messages("bob", 1)) == 1
        # Every idle connection got its greeting: none was starved.
        for s in idle[:50]:
            assert s.recv(100).startswith(b"220 ")
    finally:
        for s in idle:
            s.close()


def test_error_limit_disconnects(make_sluice):
    s = make_sluice(config=LENIENT_CONFIG).start()  # 25 lines before EHLO: not a sync test
    c = s.connect()
    c.expect(220)
    c.send(b"BOGUS\r\n" * 25)
    codes = []
    while True:
        try:
            codes.append(c.reply()[0])
        except ConnectionError:
            break
    assert codes[-1] == 421 and codes[:-1] == [500] * (len(codes) - 1)
    assert len(codes) <= 21


def test_message_sent_before_the_354_is_refused_and_nothing_queued(sluice):
    """smtpsmug's "pipelining" test: DATA and the message in one write, without waiting for the
    354 (RFC 2920 3.1 forbids it): 554 5.5.0, the connection closes, nothing is queued. A client
    that waits is served as usual."""
    c = sluice.connect()
    c.expect(220)
    c.send(b"EHLO c\r\n")
    c.expect(250)
    c.send(b"MAIL FROM:<a@remote.test>\r\nRCPT TO:<alice@example.org>\r\n")
    assert [r[0] for r in c.replies(2)] == [250, 250]
    c.send(b"DATA\r\nSubject: early\r\n\r\nsent ahead\r\n.\r\nQUIT\r\n")
    code, text = c.reply()
    assert code == 554 and "5.5.0" in text and "synchronization" in text, text
    with pytest.raises(ConnectionError):
        c.reply()
    # EHLO with commands behind it, and pipelining after HELO, are refused the same way.
    for first, ahead in ((b"", b"EHLO c\r\nMAIL FROM:<a@remote.test>\r\n"),
                         (b"HELO c\r\n", b"MAIL FROM:<a@remote.test>\r\nRCPT TO:<alice@example.org>\r\n")):
        c = sluice.connect()
        c.expect(220)
        if first:
            c.send(first)
            c.expect(250)
        c.send(ahead)
        assert c.reply()[0] == 554
    with smtplib.SMTP(sluice.host, sluice.port, timeout=10) as ok:
        ok.sendmail("a@remote.test", ["alice@example.org"], b"Subject: waited\r\n\r\nfine\r\n")
    msgs = sluice.wait_for_messages("alice", 1)
    time.sleep(0.5)
    assert len(sluice.messages("alice")) == 1 and b"waited" in msgs[0]
    assert any("reason=pipelining" in l for l in sluice.log_lines())
