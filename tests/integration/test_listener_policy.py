"""Per-listener policy: a listener's own allow/deny lists (on top of [access]) and its own
message_size, and a user's message_size after AUTH."""
import smtplib

from conftest import BASE_CONFIG, RawClient, free_port
from secure_env import PASSWORD, client_context, secure_config


def with_listener(base, port, body):
    """`base` plus a second listener on `port` (inserted before [limits])."""
    return base.replace("[limits]", '[[listener]]\nname = "second"\naddress = "127.0.0.1:%d"\n%s'
                        "[limits]" % (port, body), 1)


def test_listener_deny_applies_only_to_that_listener(make_sluice):
    other = free_port()
    s = make_sluice(config=with_listener(BASE_CONFIG, other, 'deny = ["127.0.0.0/8"]\n')).start()
    c = RawClient(s.host, other)
    code, text = c.reply()
    assert code == 554 and "5.7.1" in text
    c.send(b"EHLO c\r\n")
    assert c.reply()[0] == 503
    c.send(b"QUIT\r\n")
    assert c.reply()[0] == 221
    ok = s.connect()
    assert ok.reply()[0] == 220
    ok.send(b"QUIT\r\n")
    ok.expect(221)


def test_listener_allow_list_and_drop(make_sluice):
    other = free_port()
    s = make_sluice(config=with_listener(
        BASE_CONFIG, other, 'allow = ["10.0.0.0/8"]\ndeny_action = "drop"\n')).start()
    c = RawClient(s.host, other)
    assert c.closed(timeout=5)
    assert c.buf == b""
    assert s.connect().reply()[0] == 220


def test_global_deny_still_applies_with_listener_allow(make_sluice):
    other = free_port()
    cfg = with_listener(BASE_CONFIG, other, 'allow = ["127.0.0.0/8"]\n').replace(
        "[log]", '[access]\ndeny = ["127.0.0.1/32"]\n[log]')
    s = make_sluice(config=cfg).start()
    assert RawClient(s.host, other).reply()[0] == 554
    assert s.connect().reply()[0] == 554


def test_listener_message_size(make_sluice):
    small = free_port()
    s = make_sluice(config=with_listener(BASE_CONFIG, small, 'message_size = "2K"\n')).start()
    body = b"Subject: big\r\n\r\n" + b"x" * 70 + b"\r\n"
    body = body * 60  # about 4.4K
    with smtplib.SMTP(s.host, small, timeout=20) as c:
        c.ehlo("x")
        assert c.esmtp_features["size"] == "2048"
        code, text = c.docmd("MAIL FROM:<a@remote.test> SIZE=%d" % len(body))
        assert code == 552 and b"5.3.4" in text
        assert c.docmd("MAIL FROM:<a@remote.test>")[0] == 250
        assert c.docmd("RCPT TO:<alice@example.org>")[0] == 250
        code, text = c.data(body)
        assert code == 552 and b"5.3.4" in text
    with smtplib.SMTP(s.host, s.port, timeout=20) as c:
        c.ehlo("x")
        assert c.esmtp_features["size"] == str(1024 * 1024)
        assert c.docmd("MAIL FROM:<a@remote.test> SIZE=%d" % len(body))[0] == 250
        assert c.docmd("RCPT TO:<alice@example.org>")[0] == 250
        assert c.data(body)[0] == 250
    s.wait_for_messages("alice", 1)


def test_user_message_size_after_auth(make_sluice):
    sub = free_port()
    cfg = secure_config(sub_port=sub).replace(
        'name = "bob@example.org"\n', 'name = "bob@example.org"\nmessage_size = "2K"\n')
    s = make_sluice(config=cfg).start()
    body = (b"Subject: big\r\n\r\n" + b"x" * 70 + b"\r\n") * 60
    for user, expected in (("alice@example.org", 250), ("bob@example.org", 552)):
        c = smtplib.SMTP(s.host, sub, timeout=20)
        c.ehlo("x")
        c.starttls(context=client_context())
        c.ehlo("x")
        c.login(user, PASSWORD)
        assert c.docmd("MAIL FROM:<%s> SIZE=%d" % (user, len(body)))[0] == expected
        c.quit()


def test_check_from_header(make_sluice):
    sub = free_port()
    s = make_sluice(config=secure_config(sub_port=sub, auth_extra="check_from_header = true\n"))
    s.start()
    c = smtplib.SMTP(s.host, sub, timeout=20)
    c.ehlo("x")
    c.starttls(context=client_context())
    c.ehlo("x")
    c.login("bob@example.org", PASSWORD)

    def send(from_header):
        assert c.docmd("MAIL FROM:<bob@example.org>")[0] == 250
        assert c.docmd("RCPT TO:<alice@example.org>")[0] == 250
        return c.data(("From: %s\r\nSubject: t\r\n\r\nhi\r\n" % from_header).encode())

    assert send("Bob <bob@example.org>")[0] == 250
    assert send("info@catch.test")[0] == 250  # bob owns @catch.test
    code, text = send("Alice <alice@example.org>")
    assert code == 553 and b"5.7.1" in text
    code, text = send("a@b.test, bob@example.org")
    assert code == 553
    c.quit()
    s.wait_for_messages("alice", 2)
    # Mail that is not authenticated is not checked.
    with smtplib.SMTP(s.host, s.port, timeout=20) as m:
        m.ehlo("x")
        assert m.sendmail("x@remote.test", ["alice@example.org"],
                          b"From: alice@example.org\r\n\r\nhi\r\n") == {}
