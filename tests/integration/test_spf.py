"""SPF on inbound mail end to end: the real binary asks a real DNS server on loopback (dnslib)
for the sender's SPF record, reports the result in an Authentication-Results field of the
delivered message, refuses only when configured to, and removes Authentication-Results fields
that claim to be ours from what the client sent (RFC 7208, RFC 8601)."""
import re
import smtplib

import pytest

from conftest import BASE_CONFIG
from relay_peers import DnsServer

SPF_CONFIG = """
[dns]
forwarders = ["{forwarder}"]
timeout = "2s"
[verify]
skip = []
{verify}
"""


@pytest.fixture
def dns():
    d = DnsServer().start()
    z = d.zone
    z.add("good.test", "TXT", "v=spf1 ip4:127.0.0.0/8 -all")
    z.add("good.test", "TXT", "some-site-verification=abc")  # not SPF: ignored
    z.add("forged.test", "TXT", "v=spf1 ip4:192.0.2.0/24 -all exp=why.forged.test")
    z.add("why.forged.test", "TXT", "%{i} is not a forged.test server")
    z.add("soft.test", "TXT", "v=spf1 include:_spf.soft.test ~all")
    z.add("_spf.soft.test", "TXT", "v=spf1 ip4:192.0.2.1 " + " ".join(
        "ip4:198.51.100.%d" % i for i in range(60)) + " -all")  # > 255 octets: two strings
    z.add("mx.client.test", "TXT", "v=spf1 a -all")
    z.add("mx.client.test", "A", "127.0.0.1")
    z.add("nospf.test", "MX", (10, "mx.nospf.test"))
    z.servfail.add("broken.test")
    yield d
    d.stop()


def start(make_sluice, dns, verify=""):
    extra = SPF_CONFIG.format(forwarder=dns.forwarder, verify=verify)
    return make_sluice(extra=extra).start()


def send(s, sender, body=b"Subject: hi\r\n\r\nhello\r\n", helo="mx.client.test"):
    with smtplib.SMTP(s.host, s.port, local_hostname=helo, timeout=10) as c:
        c.sendmail(sender, ["alice@example.org"], body)


def results_field(msg):
    """The first (topmost) Authentication-Results field, unfolded."""
    head = msg.replace(b"\r\n", b"\n").split(b"\n\n")[0]
    head = re.sub(rb"\n[ \t]+", b" ", head)
    for line in head.split(b"\n"):
        if line.lower().startswith(b"authentication-results:"):
            return line.decode()
    raise AssertionError("no Authentication-Results in %r" % msg[:500])


def test_results_are_reported_for_each_sender(make_sluice, dns):
    s = start(make_sluice, dns)
    send(s, "a@good.test")
    send(s, "b@forged.test")
    send(s, "c@soft.test")
    send(s, "d@nospf.test")
    send(s, "e@broken.test")
    send(s, "")  # the null sender: the HELO identity
    msgs = s.wait_for_messages("alice", 6)
    fields = [results_field(m) for m in msgs]
    expected = [
        "spf=pass (a@good.test designates 127.0.0.1 as permitted sender) smtp.mailfrom=a@good.test",
        "spf=fail (b@forged.test does not designate 127.0.0.1 as permitted sender)"
        " smtp.mailfrom=b@forged.test",
        "spf=softfail", "spf=none (nospf.test has no SPF record) smtp.mailfrom=d@nospf.test",
        "spf=temperror", "spf=pass (mx.client.test designates 127.0.0.1 as permitted sender)"
        " smtp.helo=mx.client.test",
    ]
    for want in expected:
        assert any(f.startswith("Authentication-Results: mx.test;") and want in f
                   for f in fields), (want, fields)
    # The HELO identity is reported next to the sender's.
    assert all("smtp.helo=mx.client.test" in f for f in fields)
    assert s.wait_log(r"event=spf .*domain=forged.test .*result=fail")


def test_fail_refused_when_configured_and_nothing_queued(make_sluice, dns):
    s = start(make_sluice, dns, 'spf_fail = "reject"')
    with smtplib.SMTP(s.host, s.port, local_hostname="mx.client.test", timeout=10) as c:
        c.ehlo()
        code, text = c.mail("b@forged.test")
        assert code == 550
        assert b"5.7.23" in text
        # The domain's explanation reaches the client (RFC 7208 8.4).
        assert b"127.0.0.1 is not a forged.test server" in text
        c.rset()
        assert c.mail("a@good.test")[0] == 250
    assert s.queue_files() == []


def test_temporary_dns_failure_is_never_permanent(make_sluice, dns):
    s = start(make_sluice, dns, 'spf_temperror = "tempfail"')
    with smtplib.SMTP(s.host, s.port, local_hostname="mx.client.test", timeout=10) as c:
        c.ehlo()
        code, text = c.mail("e@broken.test")
        assert code == 451 and b"4.7.24" in text


def test_forged_results_with_our_id_are_removed(make_sluice, dns):
    s = start(make_sluice, dns)
    body = (b"Authentication-Results: mx.test; spf=pass smtp.mailfrom=ceo@good.test\r\n"
            b"Authentication-Results: MX.TEST;\r\n\tdmarc=pass\r\n"
            b"Authentication-Results: elsewhere.example; spf=fail\r\n"
            b"Subject: trust me\r\n\r\nAuthentication-Results: mx.test; body text stays\r\n")
    send(s, "b@forged.test", body)
    msg = s.wait_for_messages("alice", 1)[0]
    assert msg.count(b"Authentication-Results: mx.test;") == 2  # ours, and the body's line
    assert b"spf=fail (b@forged.test" in msg
    assert b"dmarc=pass" not in msg and b"smtp.mailfrom=ceo@good.test" not in msg
    assert b"Authentication-Results: elsewhere.example; spf=fail" in msg
    assert b"body text stays" in msg
    assert s.wait_log(r"event=forged_results_removed .*count=2")


def test_loopback_and_submission_are_not_judged(make_sluice, dns):
    # Default [verify] skip: local programs on loopback hand mail in unjudged; forged fields are
    # still removed.
    extra = "[dns]\nforwarders = [\"%s\"]\n" % dns.forwarder
    s = make_sluice(extra=extra).start()
    send(s, "b@forged.test", b"Authentication-Results: mx.test; spf=pass\r\nSubject: x\r\n\r\nx\r\n")
    msg = s.wait_for_messages("alice", 1)[0]
    assert b"Authentication-Results" not in msg
    assert not [q for q in dns.zone.queries if q[1] == "TXT"]
