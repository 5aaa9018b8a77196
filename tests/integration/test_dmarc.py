"""DMARC on inbound mail end to end (RFC 7489): the real binary looks up _dmarc records on a real
DNS server on loopback, aligns them with the SPF and DKIM results it found (DKIM signatures made
by dkimpy), reports dmarc= in Authentication-Results and refuses p=reject forgeries at the end of
data with 550 5.7.1, queueing nothing."""
import email
import re
import smtplib

import dkim
import pytest

from relay_peers import DnsServer
from test_dkim_inbound import rsa_key

CONFIG = """
[dns]
forwarders = ["{forwarder}"]
timeout = "2s"
[verify]
skip = []
{verify}
"""


@pytest.fixture(scope="module")
def key():
    return rsa_key()


@pytest.fixture
def dns(key):
    d = DnsServer().start()
    z = d.zone
    for domain, policy in (("bank.test", "v=DMARC1; p=reject; sp=none; rua=mailto:d@bank.test"),
                           ("shop.test", "v=DMARC1; p=quarantine"),
                           ("relaxed.co.uk", "v=DMARC1; p=reject")):
        z.add("_dmarc." + domain, "TXT", policy)
        z.add(domain, "TXT", "v=spf1 ip4:127.0.0.1 -all")
    z.add("mail.relaxed.co.uk", "TXT", "v=spf1 ip4:127.0.0.1 -all")
    z.add("other.co.uk", "TXT", "v=spf1 ip4:127.0.0.1 -all")
    z.add("elsewhere.test", "TXT", "v=spf1 ip4:127.0.0.1 -all")
    z.add("sel._domainkey.bank.test", "TXT", key[1])
    z.add("_dmarc.xn--bnk-qla.test", "TXT", "v=DMARC1; p=reject")  # bänk.test
    z.servfail.add("_dmarc.flaky.test")
    yield d
    d.stop()


def start(make_sluice, dns, verify=""):
    return make_sluice(extra=CONFIG.format(forwarder=dns.forwarder, verify=verify)).start()


def message(from_addr, subject="hello", extra=b""):
    return (b"From: " + from_addr.encode() + b"\r\n" + extra +
            b"To: alice@example.org\r\nSubject: " + subject.encode() + b"\r\n"
            b"Message-ID: <" + subject.encode() + b"@x>\r\n\r\nbody\r\n")


def send(s, sender, data, options=()):
    """(code, text) of the end of data, or of the first refusal."""
    with smtplib.SMTP(s.host, s.port, local_hostname="mx.client.test", timeout=10) as c:
        try:
            c.sendmail(sender, ["alice@example.org"], data, mail_options=list(options))
        except smtplib.SMTPDataError as e:
            return e.smtp_code, e.smtp_error
    return 250, b""


def dmarc_result(msg):
    head = re.sub(rb"\r?\n[ \t]+", b" ", msg.replace(b"\r\n", b"\n").split(b"\n\n")[0]).decode()
    ar = [line for line in head.split("\n") if line.startswith("Authentication-Results: mx.test;")]
    return [m.strip() for m in ar[0].split(";") if m.strip().startswith("dmarc=")][0]


def test_reject_policy_refuses_forgery_and_queues_nothing(make_sluice, dns):
    s = start(make_sluice, dns)
    code, text = send(s, "bounce@elsewhere.test", message("CEO <ceo@bank.test>"))
    assert code == 550 and b"5.7.1" in text and b"DMARC" in text and b"bank.test" in text
    assert s.queue_files() == []
    assert s.messages("alice") == []
    assert s.wait_log(r"event=dmarc .*from_domain=bank.test .*result=fail .*disposition=reject")


def test_aligned_spf_or_dkim_passes(make_sluice, dns, key):
    s = start(make_sluice, dns)
    assert send(s, "ceo@bank.test", message("ceo@bank.test", "spf"))[0] == 250
    m = message("ceo@bank.test", "dkim")
    signed = dkim.sign(m, b"sel", b"bank.test", key[0],
                       include_headers=[b"from", b"to", b"subject"]) + m
    # Relayed by someone else (SPF for elsewhere.test): the aligned signature carries it.
    assert send(s, "list@elsewhere.test", signed)[0] == 250
    got = {re.search(rb"Subject: (\w+)", m).group(1): dmarc_result(m)
           for m in s.wait_for_messages("alice", 2)}
    assert got[b"spf"].startswith("dmarc=pass") and "header.from=bank.test" in got[b"spf"]
    assert got[b"dkim"].startswith("dmarc=pass"), got


def test_policies_by_domain(make_sluice, dns):
    s = start(make_sluice, dns)
    # Subdomain under bank.test's record: sp=none, reported only.
    assert send(s, "x@elsewhere.test", message("news@letters.bank.test", "sub"))[0] == 250
    # p=quarantine: delivered, the disposition reported.
    assert send(s, "x@elsewhere.test", message("shop@shop.test", "quar"))[0] == 250
    # Relaxed alignment through the Public Suffix List: mail.relaxed.co.uk aligns with
    # relaxed.co.uk, other.co.uk does not (co.uk is a public suffix).
    assert send(s, "x@mail.relaxed.co.uk", message("a@relaxed.co.uk", "psl"))[0] == 250
    assert send(s, "x@other.co.uk", message("a@relaxed.co.uk", "psl2"))[0] == 550
    # No record anywhere, and a DNS failure: never a refusal.
    assert send(s, "x@elsewhere.test", message("a@elsewhere.test", "none"))[0] == 250
    assert send(s, "x@elsewhere.test", message("a@flaky.test", "temp"))[0] == 250
    got = {re.search(rb"Subject: (\w+)", m).group(1).decode(): dmarc_result(m)
           for m in s.wait_for_messages("alice", 5)}
    assert got["sub"].startswith("dmarc=fail") and "dis=none" in got["sub"], got
    assert got["quar"].startswith("dmarc=fail") and "dis=quarantine" in got["quar"], got
    assert got["psl"].startswith("dmarc=pass"), got
    assert got["none"] == "dmarc=none header.from=elsewhere.test", got
    assert got["temp"].startswith("dmarc=temperror"), got


def test_two_from_fields_are_refused(make_sluice, dns):
    s = start(make_sluice, dns)
    code, text = send(s, "x@elsewhere.test",
                      message("a@elsewhere.test", "two", b"From: ceo@bank.test\r\n"))
    assert code == 550 and b"From" in text
    assert s.queue_files() == []


def test_tag_only_and_trusted_forwarders(make_sluice, dns):
    s = start(make_sluice, dns, 'dmarc_reject = "tag"')
    assert send(s, "x@elsewhere.test", message("ceo@bank.test", "tagged"))[0] == 250
    assert dmarc_result(s.wait_for_messages("alice", 1)[0]).startswith("dmarc=fail")
    t = start(make_sluice, dns, 'trusted_forwarders = ["127.0.0.1"]')
    assert send(t, "x@elsewhere.test", message("ceo@bank.test", "forwarded"))[0] == 250


@pytest.mark.parametrize("from_field", [
    "ceo@bank.test (CEO)",             # a comment our old parser gave up on
    "CEO <ceo@bank.test> (x)",
    "ceo@(x)bank.test",               # a comment before the domain
    '"a<b" <ceo@bank.test>',
    "ceo@bank.test, x@elsewhere.test",  # two authors, two domains
    "ceo@[192.0.2.1]",                # unreadable: refused, not "none"
])
def test_from_fields_readers_read_cannot_opt_out(make_sluice, dns, from_field):
    s = start(make_sluice, dns)
    code, text = send(s, "x@elsewhere.test", message(from_field))
    assert code == 550 and b"5.7.1" in text, (from_field, code, text)
    assert s.queue_files() == []


def test_internationalized_from_domain_is_judged_by_its_a_label(make_sluice, dns):
    s = start(make_sluice, dns)
    code, text = send(s, "x@elsewhere.test", message("ceo@b\u00e4nk.test").decode().encode(),
                      options=["SMTPUTF8"])
    assert code == 550 and b"xn--bnk-qla.test" in text, (code, text)


def test_fields_hidden_behind_a_continuation_line_stay_body(make_sluice, dns):
    s = start(make_sluice, dns)
    data = (b" x\r\nAuthentication-Results: mx.test; dmarc=pass\r\n"
            b"From: ceo@bank.test\r\nSubject: hidden\r\n\r\nbody\r\n")
    assert send(s, "x@elsewhere.test", data)[0] == 250
    msg = s.wait_for_messages("alice", 1)[0]
    parsed = email.message_from_bytes(msg)
    assert parsed["From"] is None  # a reader sees no From field: it is body, as we judged
    ours = parsed.get_all("Authentication-Results")
    assert len(ours) == 1 and "dmarc=pass" not in ours[0], ours


def test_forged_results_with_a_quoted_id_are_removed(make_sluice, dns):
    s = start(make_sluice, dns)
    data = message("a@elsewhere.test", "quoted",
                   b'Authentication-Results: "mx.test"; dmarc=pass header.from=bank.test\r\n')
    assert send(s, "a@elsewhere.test", data)[0] == 250
    msg = s.wait_for_messages("alice", 1)[0]
    assert b'"mx.test"' not in msg
