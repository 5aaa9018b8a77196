"""AUTH (RFC 4954) on submission listeners: PLAIN and LOGIN over TLS with smtplib and swaks, AUTH
refused before TLS, AUTH required before MAIL, sender ownership (553 5.7.1), relaying for
authenticated users, failed-login delays and lockout."""
import smtplib
import socket
import subprocess
import time

import pytest

from conftest import RawClient, free_port
from secure_env import PASSWORD, b64, client_context, secure_config

LOCKOUT = ('lockout_failures = 3\nlockout_window = "1m"\nlockout_duration = "2s"\n'
           'failure_delay = "50ms"\nmax_failure_delay = "100ms"\n')


@pytest.fixture
def secure(make_sluice):
    sub, subs = free_port(), free_port()
    s = make_sluice(config=secure_config(sub_port=sub, subs_port=subs, auth_extra=LOCKOUT))
    s.sub_port, s.subs_port = sub, subs
    return s.start()


def submission(s):
    c = smtplib.SMTP(s.host, s.sub_port, timeout=20)
    c.ehlo("client.test")
    c.starttls(context=client_context())
    c.ehlo("client.test")
    return c


def test_auth_not_offered_before_tls_and_refused(secure):
    c = RawClient(secure.host, secure.sub_port)
    c.expect(220)
    c.send("EHLO x\r\n")
    ehlo = c.expect(250)
    assert "STARTTLS" in ehlo and "AUTH" not in ehlo
    c.send("AUTH PLAIN %s\r\n" % b64("\0alice@example.org\0" + PASSWORD))
    assert c.expect(538).startswith("538 5.7.11")
    c.send("MAIL FROM:<alice@example.org>\r\n")
    assert c.expect(530).startswith("530 5.7.0")


def test_mx_listener_offers_auth_only_after_tls(secure):
    with smtplib.SMTP(secure.host, secure.port, timeout=20) as c:
        c.ehlo("x")
        assert not c.has_extn("auth")
        c.starttls(context=client_context())
        c.ehlo("x")
        assert "PLAIN" in c.esmtp_features["auth"] and "LOGIN" in c.esmtp_features["auth"]


def test_submission_requires_auth_before_mail(secure):
    c = submission(secure)
    code, text = c.docmd("MAIL FROM:<alice@example.org>")
    assert code == 530 and text.startswith(b"5.7.0")
    c.close()


def test_smtplib_login_send_and_relay(secure):
    c = submission(secure)
    c.login("alice@example.org", PASSWORD)
    c.sendmail("alice@example.org", ["bob@example.org"], b"Subject: hi\r\n\r\nfrom alice\r\n")
    # Authenticated users may relay (checked at RCPT; nothing sent outside the test).
    assert c.docmd("MAIL FROM:<alice@example.org>")[0] == 250
    assert c.docmd("RCPT TO:<someone@elsewhere.test>")[0] == 250
    assert c.docmd("RSET")[0] == 250
    c.quit()
    msg = secure.wait_for_messages("bob", 1)[0].decode()
    assert "with ESMTPSA (TLSv1." in msg


def test_login_mechanism_and_second_auth_refused(secure):
    c = submission(secure)
    code, text = c.docmd("AUTH LOGIN")
    assert code == 334 and text == b"VXNlcm5hbWU6"
    code, text = c.docmd(b64("alice@example.org"))
    assert code == 334 and text == b"UGFzc3dvcmQ6"
    code, text = c.docmd(b64(PASSWORD))
    assert code == 235 and text.startswith(b"2.7.0")
    assert c.docmd("AUTH PLAIN " + b64("\0alice@example.org\0" + PASSWORD))[0] == 503
    c.close()


def test_auth_cancelled_and_bad_base64(secure):
    c = submission(secure)
    assert c.docmd("AUTH PLAIN")[0] == 334
    assert c.docmd("*")[0] == 501
    assert c.docmd("AUTH PLAIN not*base64")[0] == 501
    assert c.docmd("AUTH CRAM-MD5")[0] == 504
    c.close()


def test_sender_must_belong_to_the_login(secure):
    c = submission(secure)
    c.login("alice@example.org", PASSWORD)
    code, text = c.docmd("MAIL FROM:<bob@example.org>")
    assert code == 553 and text.startswith(b"5.7.1")
    assert c.docmd("MAIL FROM:<Alice@Example.org>")[0] == 250  # case-insensitive
    c.close()
    # bob owns @catch.test as well as his own address.
    c = submission(secure)
    c.login("bob@example.org", PASSWORD)
    assert c.docmd("MAIL FROM:<anything@catch.test>")[0] == 250
    c.close()


def test_implicit_tls_submissions(secure):
    with smtplib.SMTP_SSL(secure.host, secure.subs_port, timeout=20,
                          context=client_context()) as c:
        c.ehlo("x")
        assert not c.has_extn("starttls") and c.has_extn("auth")
        assert c.docmd("MAIL FROM:<alice@example.org>")[0] == 530
        c.login("alice@example.org", PASSWORD)
        c.sendmail("alice@example.org", ["carol@example.org"], b"Subject: 465\r\n\r\nx\r\n")
    assert "with ESMTPSA (TLSv1.3" in secure.wait_for_messages("carol", 1)[0].decode()


def test_swaks_auth_starttls_and_tls_on_connect(secure):
    for args in (["--server", "%s:%d" % (secure.host, secure.sub_port), "--tls"],
                 ["--server", "%s:%d" % (secure.host, secure.subs_port), "--tls-on-connect"]):
        for mech in ("PLAIN", "LOGIN"):
            r = subprocess.run(["swaks", *args, "--auth", mech, "--auth-user", "alice@example.org",
                                "--auth-password", PASSWORD, "--from", "alice@example.org",
                                "--to", "bob@example.org", "--timeout", "20"],
                               capture_output=True, timeout=60)
            out = r.stdout.decode(errors="replace")
            assert r.returncode == 0, out
            assert "235 2.7.0" in out
    secure.wait_for_messages("bob", 4)


def test_wrong_password_until_lockout(secure):
    c = submission(secure)
    started = time.monotonic()
    for i in range(2):
        code, text = c.docmd("AUTH PLAIN " + b64("\0alice@example.org\0wrong"))
        assert code == 535 and text.startswith(b"5.7.8")
    assert time.monotonic() - started >= 0.1  # each failure is delayed
    # The third failure locks the address out and ends the session.
    code, text = c.docmd("AUTH PLAIN " + b64("\0alice@example.org\0wrong"))
    assert code == 535 and text.startswith(b"5.7.8")
    assert c.getreply()[0] == 421  # sent right after the 535; then the server hangs up
    # Even the right password is refused while locked out.
    c = submission(secure)
    code, text = c.docmd("AUTH PLAIN " + b64("\0alice@example.org\0" + PASSWORD))
    assert code == 454 and text.startswith(b"4.7.0")
    c.close()
    time.sleep(2.2)
    c = submission(secure)
    c.login("alice@example.org", PASSWORD)
    c.close()
    assert any("auth_locked" in l for l in secure.log_lines())


def test_unknown_user_and_foreign_authzid(secure):
    c = submission(secure)
    assert c.docmd("AUTH PLAIN " + b64("\0nobody@example.org\0" + PASSWORD))[0] == 535
    assert c.docmd("AUTH PLAIN " + b64("bob@example.org\0alice@example.org\0" + PASSWORD))[0] == 535
    c.close()
