"""Sending limits ([[rate_limit]]): connections, messages and recipients per client IP, user and
sender, each hit (450 4.7.1 / 421 4.7.0) and then recovered when its window rolls over; counters
survive a restart. Windows are tiny so the tests stay short."""
import smtplib
import time

from conftest import BASE_CONFIG, free_port
from secure_env import PASSWORD, client_context, secure_config


def rule(scope, metric, limit, window):
    return ('[[rate_limit]]\nscope = "%s"\nmetric = "%s"\nlimit = %d\nwindow = "%s"\n'
            % (scope, metric, limit, window))


def wait_next_window(seconds):
    """Sleeps into the next fixed window (windows are aligned to multiples of their length)."""
    now = time.time()
    time.sleep(seconds - (now % seconds) + 0.05)


def send(c, sender, rcpts):
    code, _ = c.docmd("MAIL FROM:<%s>" % sender)
    if code != 250:
        return code
    for r in rcpts:
        code, _ = c.docmd("RCPT TO:<%s>" % r)
        if code != 250:
            c.rset()
            return code
    code, _ = c.data(b"Subject: limit\r\n\r\nx\r\n")
    return code


def test_messages_per_ip(make_sluice):
    s = make_sluice(extra=rule("ip", "messages", 2, "3s")).start()
    wait_next_window(3)
    with smtplib.SMTP(s.host, s.port, timeout=20) as c:
        c.ehlo("x")
        assert send(c, "a@remote.test", ["alice@example.org"]) == 250
        assert send(c, "b@remote.test", ["alice@example.org"]) == 250
        code, text = c.docmd("MAIL FROM:<c@remote.test>")
        assert code == 450 and text.startswith(b"4.7.1") and b"2 messages per 3s" in text
        wait_next_window(3)
        assert send(c, "c@remote.test", ["alice@example.org"]) == 250
    assert any("rate_limit" in l for l in s.log_lines())


def test_recipients_per_sender(make_sluice):
    s = make_sluice(extra=rule("sender", "recipients", 3, "3s")).start()
    wait_next_window(3)
    with smtplib.SMTP(s.host, s.port, timeout=20) as c:
        c.ehlo("x")
        c.docmd("MAIL FROM:<bulk@remote.test>")
        for r in ("alice", "bob", "carol"):
            assert c.docmd("RCPT TO:<%s@example.org>" % r)[0] == 250
        code, text = c.docmd("RCPT TO:<info@catch.test>")
        assert code == 450 and text.startswith(b"4.7.1")
        assert c.data(b"Subject: three\r\n\r\nx\r\n")[0] == 250
        # Another sender is not limited by bulk@'s counter.
        assert send(c, "other@remote.test", ["alice@example.org"]) == 250
        assert send(c, "bulk@remote.test", ["alice@example.org"]) == 450
        wait_next_window(3)
        assert send(c, "bulk@remote.test", ["alice@example.org"]) == 250


def test_connections_per_ip(make_sluice):
    s = make_sluice(extra=rule("ip", "connections", 4, "3s"))
    s.start()  # the harness's own probe connection counts too
    wait_next_window(3)
    codes = []
    for _ in range(6):
        c = s.connect()
        codes.append(c.reply()[0])
        c.close()
    assert codes[:4] == [220] * 4 and codes[4] == 421, codes
    wait_next_window(3)
    c = s.connect()
    assert c.reply()[0] == 220
    c.close()


def test_messages_per_user(make_sluice):
    sub = free_port()
    s = make_sluice(config=secure_config(sub_port=sub, extra=rule("user", "messages", 1, "3s")))
    s.start()
    wait_next_window(3)
    c = smtplib.SMTP(s.host, sub, timeout=20)
    c.ehlo("x")
    c.starttls(context=client_context())
    c.ehlo("x")
    c.login("alice@example.org", PASSWORD)
    assert send(c, "alice@example.org", ["bob@example.org"]) == 250
    code, text = c.docmd("MAIL FROM:<alice@example.org>")
    assert code == 450 and b"your account" in text
    # The IP is not limited: unauthenticated mail on the MX port still flows.
    with smtplib.SMTP(s.host, s.port, timeout=20) as m:
        m.ehlo("x")
        assert send(m, "x@remote.test", ["bob@example.org"]) == 250
    wait_next_window(3)
    assert send(c, "alice@example.org", ["bob@example.org"]) == 250
    c.quit()


def test_counters_survive_restart(make_sluice):
    s = make_sluice(extra=rule("ip", "messages", 1, "1h")).start()
    with smtplib.SMTP(s.host, s.port, timeout=20) as c:
        c.ehlo("x")
        assert send(c, "a@remote.test", ["alice@example.org"]) == 250
    assert s.stop() == 0
    s.start()
    with smtplib.SMTP(s.host, s.port, timeout=20) as c:
        c.ehlo("x")
        assert c.docmd("MAIL FROM:<a@remote.test>")[0] == 450
