"""AUTH to a smarthost: the downstream is a second Sluice whose submission listener requires AUTH
over STARTTLS; the first relays everything through it with [relay] smarthost_user/_password."""
import smtplib

from conftest import BASE_CONFIG, free_port
from secure_env import PASSWORD, secure_config

FAR = """
[[domain]]
name = "far.test"
mailboxes = ["zoe"]
"""

RELAY = """
[access]
trusted = ["127.0.0.1"]
[relay]
smarthost = "127.0.0.1:%d"
smarthost_user = "alice@example.org"
smarthost_password = "%s"
connect_timeout = "2s"
command_timeout = "5s"
"""


def relay_through_smarthost(make_sluice, password):
    sub = free_port()
    far = make_sluice(config=secure_config(sub_port=sub, extra=FAR)).start()
    near = make_sluice(config=BASE_CONFIG + RELAY % (sub, password)).start()
    with smtplib.SMTP(near.host, near.port, timeout=10) as c:
        c.ehlo("client.test")
        c.sendmail("alice@example.org", ["zoe@far.test"], b"Subject: via smarthost\r\n\r\nhi\r\n")
    return near, far


def test_smarthost_with_auth_delivers(make_sluice):
    near, far = relay_through_smarthost(make_sluice, PASSWORD)
    msg = far.wait_for_messages("zoe", 1, domain="far.test")[0]
    assert b"Subject: via smarthost" in msg
    near.wait_queue_empty()
    text = near.wait_log(r"event=relay .*rcpt=zoe@far.test .*tls=\"TLSv1\.[23] .*code=250 "
                         r".*result=delivered")
    assert PASSWORD not in text


def test_wrong_password_defers(make_sluice):
    near, far = relay_through_smarthost(make_sluice, "wrong password")
    near.wait_log(r"event=relay .*rcpt=zoe@far.test .*code=454 .*authentication as "
                         r"alice@example.org .*535.* result=deferred")
    assert "wrong password" not in "\n".join(near.log_lines())
    assert near.queue_files()  # still queued, no bounce
    assert near.messages("alice") == []
    assert far.messages("zoe", domain="far.test") == []


def test_no_credentials_without_tls(make_sluice):
    sub = free_port()
    far = make_sluice(config=secure_config(sub_port=sub, extra=FAR)).start()
    near = make_sluice(config=BASE_CONFIG + RELAY % (sub, PASSWORD) +
                       'smarthost_tls = "none"\n').start()
    with smtplib.SMTP(near.host, near.port, timeout=10) as c:
        c.ehlo("client.test")
        c.sendmail("alice@example.org", ["zoe@far.test"], b"Subject: x\r\n\r\nhi\r\n")
    near.wait_log(r"event=relay .*code=451 .*refusing to send credentials to 127\.0\.0\.1"
                  r"\[127\.0\.0\.1\] without TLS.* result=deferred")
    assert near.queue_files()
    assert far.messages("zoe", domain="far.test") == []
