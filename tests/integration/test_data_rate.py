"""[limits] min_data_rate and min_data_rate_grace: a client that dribbles its message slower than
the minimum rate is cut off with 421 once the (configured, here short) grace period has passed,
while clients at normal speed, and a short slow message finished within the grace, are served by
the same server. Bounded to a few seconds."""
import smtplib
import socket
import threading
import time

from conftest import BASE_CONFIG

GRACE = 1.0  # seconds; the default (10s) would let the slow client go on for the whole test

CONFIG = BASE_CONFIG.replace(
    "errors = 20\n", 'errors = 20\nmin_data_rate = 1000\nmin_data_rate_grace = "1s"\n')


def open_data(s):
    """A raw session up to the 354 of DATA."""
    c = s.connect()
    c.expect(220)
    c.send("EHLO slow.example\r\n")
    c.expect(250)
    c.send("MAIL FROM:<slow@remote.test>\r\n")
    c.expect(250)
    c.send("RCPT TO:<bob@example.org>\r\n")
    c.expect(250)
    c.send("DATA\r\n")
    c.expect(354)
    return c


def dribble(c, chunk, interval, limit):
    """Sends chunk every interval seconds until the server answers (or closes) or limit seconds
    pass. Returns (seconds since the first byte, reply code or None, reply text)."""
    start = time.monotonic()
    c.sock.settimeout(interval)
    while time.monotonic() - start < limit:
        try:
            c.send(chunk)
        except OSError:
            break  # closed under us: the reply, if any, is already buffered
        try:
            data = c.sock.recv(4096)
        except (socket.timeout, TimeoutError):
            continue
        except ConnectionResetError:
            break
        c.buf += data
        break
    elapsed = time.monotonic() - start
    if b"\r\n" not in c.buf:
        return elapsed, None, c.buf.decode(errors="replace")
    code, text = c.reply()
    return elapsed, code, text


def test_slow_data_is_cut_off_after_the_configured_grace(make_sluice):
    s = make_sluice(config=CONFIG).start()
    slow = open_data(s)
    result = {}

    def run():
        # 20 bytes every 0.2 s: about 100 bytes/s, a tenth of the minimum.
        result["slow"] = dribble(slow, b"x" * 18 + b"\r\n", 0.2, 6.0)

    t = threading.Thread(target=run)
    t.start()
    try:
        # Meanwhile, on the same server: a normal client with a 200 KB message...
        with smtplib.SMTP(s.host, s.port, timeout=10) as c:
            body = b"Subject: fast\r\n\r\n" + (b"y" * 998 + b"\r\n") * 200
            c.sendmail("fast@remote.test", ["alice@example.org"], body)
        # ...and a short message sent slowly but finished within the grace period.
        short = open_data(s)
        for part in (b"Subject: short\r\n", b"\r\n", b"slow but short\r\n"):
            short.send(part)
            time.sleep(0.1)
        short.send(".\r\n")
        short.expect(250)
        short.send("QUIT\r\n")
        short.expect(221)
        short.close()
    finally:
        t.join(10)
    elapsed, code, text = result["slow"]
    assert code == 421, "slow client not cut off after %.1fs: %r" % (elapsed, text)
    assert "4.4.2" in text and "data rate too low" in text
    assert GRACE - 0.1 <= elapsed < GRACE + 2.0, elapsed
    assert slow.closed(5)
    slow.close()
    msgs = s.wait_for_messages("alice", 1)
    assert b"Subject: fast" in msgs[0]
    bob = s.wait_for_messages("bob", 1)
    assert len(bob) == 1 and b"slow but short" in bob[0]  # the dribbled message was not queued
    s.wait_log(r"event=disconnect .*reason=slow_data")
