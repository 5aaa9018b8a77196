"""The shipped fail2ban filter (packaging/fail2ban/filter.d/sluice.conf) against real log lines, in
both log formats: the real server is provoked from distinct loopback addresses (failed AUTH from
one, relay attempts, SMTP smuggling and HTTP from another, an ordinary session with a typo from a
third), then `fail2ban-regex --out ip` must report exactly the abusers, as many times as they
misbehaved, and never an address a client wrote into a field it controls."""
import re
import shutil
import smtplib
import socket
import subprocess

import pytest

from conftest import REPO, RawClient, free_port
from secure_env import PASSWORD, client_context, secure_config

FILTER = REPO / "packaging" / "fail2ban" / "filter.d" / "sluice.conf"
JAIL = REPO / "packaging" / "fail2ban" / "jail.d" / "sluice.conf"
F2B_REGEX = shutil.which("fail2ban-regex")

pytestmark = pytest.mark.skipif(F2B_REGEX is None, reason="fail2ban not installed "
                                "(scripts/setup.sh test installs it)")

AUTH_ABUSER = "127.0.0.11"
SMTP_ABUSER = "127.0.0.12"
LEGIT = "127.0.0.13"
FORGED = "6.6.6.6"

# Small delays so that failed logins do not slow the test; no lockout within it.
AUTH_EXTRA = ('lockout_failures = 10\nlockout_window = "1m"\nlockout_duration = "2s"\n'
              'failure_delay = "10ms"\nmax_failure_delay = "20ms"\n')


def client_from(s, ip, port=None):
    c = RawClient.__new__(RawClient)
    c.sock = socket.create_connection((s.host, port or s.port), timeout=10,
                                      source_address=(ip, 0))
    c.buf = b""
    return c


def failed_logins(s, user):
    with smtplib.SMTP(s.host, s.sub_port, timeout=20, source_address=(AUTH_ABUSER, 0)) as c:
        c.ehlo("client.test")
        c.starttls(context=client_context())
        c.ehlo("client.test")
        c.user, c.password = user, "wrong password"
        with pytest.raises(smtplib.SMTPAuthenticationError):
            c.auth("PLAIN", c.auth_plain)  # one attempt (login() would try LOGIN as well)


def provoke(s):
    # Failed AUTH, three times; once with a user name that tries to forge another address.
    failed_logins(s, "alice@example.org")
    failed_logins(s, "admin")
    failed_logins(s, "x ip=%s command=AUTH code=535 enhanced=5.7.8 reason=auth_failed" % FORGED)

    # A relay attempt, a smuggling attempt (bare LF before the dot), HTTP on the SMTP port.
    c = client_from(s, SMTP_ABUSER)
    c.expect(220)
    c.send("EHLO spam.test\r\n")
    c.expect(250)
    c.send("MAIL FROM:<x@spam.test>\r\n")
    c.expect(250)
    c.send("RCPT TO:<victim@elsewhere.test>\r\n")
    c.expect(550)
    c.send("RCPT TO:<bob@example.org>\r\n")
    c.expect(250)
    c.send("DATA\r\n")
    c.expect(354)
    c.send("Subject: x\r\n\r\nhello\n.\nMAIL FROM:<evil@spam.test>\r\n.\r\n")
    c.expect(554)
    c.send("GET / HTTP/1.1\r\n")
    assert c.closed()

    # An ordinary session: a typo in a recipient, a message delivered, a successful login.
    c = client_from(s, LEGIT)
    c.expect(220)
    c.send("EHLO good.test\r\n")
    c.expect(250)
    c.send("MAIL FROM:<carol@example.org>\r\n")
    c.expect(250)
    c.send("RCPT TO:<bbo@example.org>\r\n")
    c.expect(550)
    c.send("RCPT TO:<bob@example.org>\r\n")
    c.expect(250)
    c.send("DATA\r\n")
    c.expect(354)
    c.send("Subject: hi\r\n\r\nhello\r\n.\r\n")
    c.expect(250)
    c.send("QUIT\r\n")
    c.expect(221)
    with smtplib.SMTP(s.host, s.sub_port, timeout=20, source_address=(LEGIT, 0)) as c:
        c.ehlo("good.test")
        c.starttls(context=client_context())
        c.ehlo("good.test")
        c.login("alice@example.org", PASSWORD)
    s.wait_for_messages("bob", 1)


def matched_ips(log, mode="normal"):
    r = subprocess.run([F2B_REGEX, "--out", "ip", str(log), "%s[mode=%s]" % (FILTER, mode)],
                       capture_output=True, timeout=120, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout.split()


@pytest.mark.parametrize("fmt", ["logfmt", "json"])
def test_filter_matches_abusers_only(make_sluice, fmt):
    sub = free_port()
    cfg = secure_config(sub_port=sub, auth_extra=AUTH_EXTRA)
    cfg = cfg.replace('[log]\n', '[log]\nformat = "%s"\n' % fmt, 1)
    s = make_sluice(config=cfg)
    s.sub_port = sub
    s.start()
    provoke(s)
    s.stop()  # everything flushed
    text = "\n".join(s.log_lines())
    assert text.count("smtp_reject") == 7, text
    if fmt == "json":
        assert re.search(r'^\{"ts":"[^"]+","level":"warn","event":"smtp_reject","session":\d+,'
                         r'"ip":"127\.0\.0\.11","command":"AUTH","code":535,"enhanced":"5\.7\.8",'
                         r'"reason":"auth_failed","user":"admin"', text, re.M), text

    ips = matched_ips(s.log)
    assert ips.count(AUTH_ABUSER) == 3, ips
    # relay_denied, bare_cr_lf, http
    assert ips.count(SMTP_ABUSER) == 3, ips
    assert LEGIT not in ips and FORGED not in ips, ips
    assert len(ips) == 6, ips

    # aggressive also counts the unknown user (address harvesting looks like a typo, once).
    ips = matched_ips(s.log, "aggressive")
    assert ips.count(LEGIT) == 1 and FORGED not in ips, ips


def test_jail_example_names_the_filter():
    text = JAIL.read_text()
    assert re.search(r"^filter\s*=\s*sluice\[mode=normal\]$", text, re.M)
    assert re.search(r"^logpath\s*=", text, re.M)
