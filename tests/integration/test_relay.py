"""Relay: delivery to other servers by MX, with retries and bounces, against real peers on
loopback: a dnslib DNS server (MX/A/AAAA for *.test domains pointing at 127.0.0.x) and aiosmtpd
sinks on 127.0.0.2, 127.0.0.3 ... all listening on one relay port."""
import re
import smtplib
import time

import pytest

from conftest import BASE_CONFIG
from relay_peers import DnsServer, Sink, free_port_on

SINK_IPS = ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
SECOND_SLUICE_IP = "127.0.0.6"

RELAY_CONFIG = """
[access]
trusted = ["127.0.0.1"]
[dns]
forwarders = ["{forwarder}"]
timeout = "3s"
[relay]
port = {relay_port}
connect_timeout = "2s"
command_timeout = "5s"
data_timeout = "5s"
idle_timeout = "2s"
{relay_extra}
"""


@pytest.fixture
def dns():
    d = DnsServer().start()
    z = d.zone
    # relay.test: two MX hosts, mx1 preferred.
    z.add("relay.test", "MX", (10, "mx1.relay.test"))
    z.add("relay.test", "MX", (20, "mx2.relay.test"))
    z.add("mx1.relay.test", "A", "127.0.0.2")
    z.add("mx2.relay.test", "A", "127.0.0.3")
    # fallback.test: the preferred MX refuses connections (nothing listens on 127.0.0.5).
    z.add("fallback.test", "MX", (5, "dead.fallback.test"))
    z.add("fallback.test", "MX", (10, "live.fallback.test"))
    z.add("dead.fallback.test", "A", "127.0.0.5")
    z.add("live.fallback.test", "A", "127.0.0.3")
    # other.test: a second domain on the same host as relay.test's backup.
    z.add("other.test", "MX", (10, "mx.other.test"))
    z.add("mx.other.test", "A", "127.0.0.4")
    # amx.test: no MX, an A record (implicit MX).
    z.add("amx.test", "A", "127.0.0.4")
    # nullmx.test: RFC 7505 null MX.
    z.add("nullmx.test", "MX", (0, ""))
    # far.test: served by a second Sluice on 127.0.0.6.
    z.add("far.test", "MX", (10, "mx.far.test"))
    z.add("mx.far.test", "A", SECOND_SLUICE_IP)
    # loop.test: the preferred MX is one of our own listening addresses (127.0.0.6, given by A
    # record only), the backup another host (the sink on .3).
    z.add("loop.test", "MX", (10, "mx1.loop.test"))
    z.add("loop.test", "MX", (20, "mx2.relay.test"))
    z.add("mx1.loop.test", "A", SECOND_SLUICE_IP)
    # remote.test: where outside senders live; its MX is the sink on .4.
    z.add("remote.test", "MX", (10, "mx.other.test"))
    yield d
    d.stop()


@pytest.fixture
def sinks():
    port = free_port_on(SINK_IPS + [SECOND_SLUICE_IP])
    started = {ip: Sink(ip, port).start() for ip in SINK_IPS}
    yield port, started
    for s in started.values():
        s.stop()


@pytest.fixture
def relay(make_sluice, dns, sinks):
    port, by_ip = sinks

    def make(relay_extra="", extra_top=""):
        cfg = BASE_CONFIG + RELAY_CONFIG.format(forwarder=dns.forwarder, relay_port=port,
                                                relay_extra=relay_extra)
        if extra_top:
            cfg = extra_top + cfg
        return make_sluice(config=cfg.replace("{forwarder}", dns.forwarder)).start()

    return make, by_ip


def send(s, sender, rcpts, body=b"Subject: relay\r\n\r\nhello\r\n", **kw):
    with smtplib.SMTP(s.host, s.port, timeout=10) as c:
        c.ehlo("client.test")
        return c.sendmail(sender, rcpts, body, **kw)


def log_text(s):
    return "\n".join(s.log_lines())


def wait_log(s, pattern, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log_text(s)
        if re.search(pattern, text):
            return text
        time.sleep(0.05)
    raise AssertionError("no log line matching %r in:\n%s" % (pattern, log_text(s)))


def test_delivers_to_most_preferred_mx(relay):
    make, sinks = relay
    s = make()
    send(s, "alice@example.org", ["bob@relay.test"])
    msgs = sinks["127.0.0.2"].wait_messages(1)
    assert msgs[0][0] == "alice@example.org" and msgs[0][1] == ["bob@relay.test"]
    assert b"hello" in msgs[0][2] and b"Received: from client.test" in msgs[0][2]
    assert sinks["127.0.0.3"].messages == []
    s.wait_queue_empty()
    text = wait_log(s, r"event=relay .*mx=mx1.relay.test ip=127.0.0.2 .*code=250 .*result=delivered")
    assert re.search(r"event=relay queue_id=\w+ rcpt=bob@relay.test", text)


def test_falls_back_when_first_mx_refuses_connections(relay):
    make, sinks = relay
    s = make()
    send(s, "alice@example.org", ["carol@fallback.test"])
    sinks["127.0.0.3"].wait_messages(1)
    s.wait_queue_empty()
    wait_log(s, r"event=relay_connect domain=fallback.test mx=dead.fallback.test ip=127.0.0.5")


def test_implicit_mx_from_a_record(relay):
    make, sinks = relay
    s = make()
    send(s, "alice@example.org", ["dave@amx.test"])
    assert sinks["127.0.0.4"].wait_messages(1)[0][1] == ["dave@amx.test"]
    s.wait_queue_empty()


def test_temporary_failure_is_retried(relay):
    make, sinks = relay
    sinks["127.0.0.2"].handler.data_replies.append("451 4.3.0 try again later")
    s = make()
    send(s, "alice@example.org", ["bob@relay.test"])
    wait_log(s, r"event=relay .*code=451 .*result=deferred next_retry_s=")
    sinks["127.0.0.2"].wait_messages(1)  # retry_initial is 1s in the test config
    s.wait_queue_empty()


def test_permanent_failure_bounces_to_local_sender(relay):
    make, sinks = relay
    sinks["127.0.0.2"].handler.rcpt_replies["nobody@relay.test"] = "550 5.1.1 no such user here"
    s = make()
    send(s, "alice@example.org", ["nobody@relay.test", "bob@relay.test"],
         b"Subject: doomed\r\nMessage-ID: <d@t>\r\n\r\nbody\r\n")
    sinks["127.0.0.2"].wait_messages(1)
    dsn = s.wait_for_messages("alice", 1)[0].decode()
    assert dsn.startswith("Return-Path: <>\n")
    assert "From: Mail Delivery System <MAILER-DAEMON@mx.test>" in dsn
    assert "Content-Type: multipart/report; report-type=delivery-status" in dsn
    assert "Final-Recipient: rfc822; nobody@relay.test" in dsn
    assert "Action: failed" in dsn and "Status: 5.1.1" in dsn
    assert "Remote-MTA: dns; mx1.relay.test" in dsn
    assert "Diagnostic-Code: smtp; 550 5.1.1 no such user here" in dsn
    assert "bob@relay.test" not in dsn.split("Content-Type: message/delivery-status")[1].split(
        "Content-Type: message/rfc822")[0]
    assert "Subject: doomed" in dsn  # RET=FULL by default for failures
    s.wait_queue_empty()


def test_mixed_results_log_each_recipient(relay):
    """One transaction, three fates: each recipient's line says its own code, reply and result
    (the old per-attempt line said rcpts=gone@...,bob@... code=250 result=failed)."""
    make, sinks = relay
    h = sinks["127.0.0.2"].handler
    h.rcpt_replies["gone@relay.test"] = "550 5.1.1 no such user here"
    h.rcpt_replies["busy@relay.test"] = "450 4.2.1 try later"
    s = make()
    send(s, "alice@example.org", ["gone@relay.test", "bob@relay.test", "busy@relay.test"])
    sinks["127.0.0.2"].wait_messages(1)
    text = wait_log(s, r"event=relay .*rcpt=busy@relay.test .*result=deferred")
    qid = re.search(r"event=relay queue_id=(\w+) rcpt=bob@relay.test", text).group(1)
    lines = [l for l in text.splitlines() if "event=relay " in l and qid in l]
    assert len(lines) == 3, lines
    by = {re.search(r" rcpt=(\S+)", l).group(1): l for l in lines}
    assert re.search(r"level=info event=relay queue_id=\w+ rcpt=bob@relay.test mx=mx1.relay.test "
                     r"ip=127.0.0.2 .*code=250 reply=\"250 2.0.0 OK queued\" .*result=delivered "
                     r"next_retry_s=0", by["bob@relay.test"]), by
    assert re.search(r"level=error .*code=550 reply=\"550 5.1.1 no such user here\" "
                     r".*result=failed", by["gone@relay.test"]), by
    assert re.search(r"level=warn .*code=450 reply=\"450 4.2.1 try later\" "
                     r".*result=deferred next_retry_s=\d+", by["busy@relay.test"]), by
    h.rcpt_replies.clear()
    wait_log(s, r"event=relay queue_id=%s rcpt=busy@relay.test .*result=delivered" % qid)


def test_null_mx_fails_at_once(relay):
    make, sinks = relay
    s = make()
    send(s, "alice@example.org", ["x@nullmx.test"])
    dsn = s.wait_for_messages("alice", 1)[0].decode()
    assert "Status: 5.1.10" in dsn and "556 5.1.10" in dsn
    s.wait_queue_empty()


def test_many_recipients_across_domains(relay):
    make, sinks = relay
    s = make()
    rcpts = ["a%d@relay.test" % i for i in range(5)] + ["b%d@other.test" % i for i in range(3)]
    send(s, "alice@example.org", rcpts + ["bob@example.org"])
    m2 = sinks["127.0.0.2"].wait_messages(1)
    m4 = sinks["127.0.0.4"].wait_messages(1)
    assert sorted(m2[0][1]) == sorted(rcpts[:5])  # one transaction per domain
    assert sorted(m4[0][1]) == sorted(rcpts[5:])
    assert len(s.wait_for_messages("bob", 1)) == 1
    s.wait_queue_empty()


def test_connection_reuse(relay):
    make, sinks = relay
    s = make(relay_extra="concurrency_per_destination = 1")
    with smtplib.SMTP(s.host, s.port, timeout=10) as c:
        c.ehlo("client.test")
        for i in range(4):
            c.sendmail("alice@example.org", ["r%d@relay.test" % i], b"Subject: %d\r\n\r\nx\r\n" % i)
    sinks["127.0.0.2"].wait_messages(4)
    s.wait_queue_empty()
    assert sinks["127.0.0.2"].handler.sessions == 1


def test_relay_denied_for_untrusted_clients(make_sluice, dns, sinks):
    port, _ = sinks
    cfg = BASE_CONFIG + RELAY_CONFIG.format(forwarder=dns.forwarder, relay_port=port,
                                            relay_extra="").replace('["127.0.0.1"]', '["10.0.0.0/8"]')
    s = make_sluice(config=cfg).start()
    with smtplib.SMTP(s.host, s.port, timeout=10) as c:
        c.ehlo("client.test")
        c.mail("alice@example.org")
        code, text = c.rcpt("bob@relay.test")
        assert code == 550 and b"5.7.1" in text


def test_restart_in_the_middle_of_a_retry_schedule(relay):
    make, sinks = relay
    h = sinks["127.0.0.2"].handler
    h.data_replies.extend(["451 4.3.0 later"] * 100)
    s = make()
    send(s, "alice@example.org", ["bob@relay.test"])
    wait_log(s, r"result=deferred")
    assert s.stop() == 0
    assert len(s.queue_files()) == 1
    h.data_replies.clear()
    s.start()
    sinks["127.0.0.2"].wait_messages(1)
    s.wait_queue_empty()


def test_no_bounce_for_null_sender_and_notify_never(relay):
    make, sinks = relay
    for addr in ("n1@relay.test", "n2@relay.test"):
        sinks["127.0.0.2"].handler.rcpt_replies[addr] = "550 5.1.1 unknown"
    s = make()
    send(s, "", ["n1@relay.test"])
    with smtplib.SMTP(s.host, s.port, timeout=10) as c:
        c.ehlo("client.test")
        assert b"DSN" in c.ehlo_resp
        c.sendmail("alice@example.org", ["n2@relay.test"], b"Subject: x\r\n\r\ny\r\n",
                   rcpt_options=["NOTIFY=NEVER"])
    wait_log(s, r"rcpt=n2@relay.test result=failed")
    s.wait_queue_empty()
    time.sleep(0.3)
    assert s.messages("alice") == []


def test_dsn_parameters_and_success_notification(relay):
    make, sinks = relay
    sinks["127.0.0.2"].handler.rcpt_replies["gone@relay.test"] = "550 5.1.1 gone"
    s = make()
    with smtplib.SMTP(s.host, s.port, timeout=10) as c:
        c.ehlo("client.test")
        c.sendmail("alice@example.org", ["gone@relay.test", "carol@example.org"],
                   b"Subject: secret\r\n\r\nsecret body\r\n",
                   mail_options=["RET=HDRS", "ENVID=env-42"],
                   rcpt_options=["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;orig@relay.test"])
    # One DSN per message and attempt: the local success and the remote failure together.
    s.wait_queue_empty()
    msgs = s.wait_for_messages("alice", 1)
    assert len(msgs) == 1
    text = msgs[0].decode()
    assert "Original-Envelope-Id: env-42" in text
    assert "Original-Recipient: rfc822;orig@relay.test" in text
    assert "Action: delivered" in text and "Final-Recipient: rfc822; carol@example.org" in text
    assert "Action: failed" in text
    assert "text/rfc822-headers" in text and "secret body" not in text
    s.wait_queue_empty()


def test_relay_to_a_second_sluice(make_sluice, relay, sinks):
    make, _ = relay
    port, _ = sinks
    far = BASE_CONFIG.replace("127.0.0.1:{port}", "%s:%d" % (SECOND_SLUICE_IP, port)) + """
[[domain]]
name = "far.test"
mailboxes = ["zoe", "yan"]
"""
    b = make_sluice(config=far)
    b.host, b.port = SECOND_SLUICE_IP, port
    b.start()
    a = make()
    body = "Subject: caf\u00e9\r\n\r\n8-bit caf\u00e9 body\r\n.leading dot\r\n".encode()
    with smtplib.SMTP(a.host, a.port, timeout=10) as c:
        c.ehlo("client.test")
        c.sendmail("alice@example.org", ["zoe@far.test", "yan@far.test"], body,
                   mail_options=["BODY=8BITMIME"])
    z = b.wait_for_messages("zoe", 1, domain="far.test")[0]
    assert len(b.wait_for_messages("yan", 1, domain="far.test")) == 1
    assert "8-bit caf\u00e9 body\n.leading dot\n".encode() in z
    assert z.count(b"Received: ") == 2  # ours at A, then B's
    a.wait_queue_empty()
    for rcpt in ("zoe", "yan"):  # one transaction, one line per recipient
        wait_log(a, r"event=relay .*rcpt=%s@far.test mx=mx.far.test "
                    r"ip=127.0.0.6 tls=\"TLSv1\.[23] .*code=250 .*result=delivered" % rcpt)


def test_delay_warning_once(relay):
    make, sinks = relay
    sinks["127.0.0.2"].handler.data_replies.extend(["452 4.2.2 mailbox full"] * 100)
    s = make(extra_top="")
    s.stop()
    text = s.config_path.read_text().replace('[queue]\n', '[queue]\ndelay_warning = "1s"\n', 1)
    s.config_path.write_text(text)
    s.start()
    send(s, "alice@example.org", ["bob@relay.test"])
    dsn = s.wait_for_messages("alice", 1)[0].decode()
    assert "Subject: Delayed Mail (still being retried)" in dsn
    assert "Action: delayed" in dsn and "Will-Retry-Until: " in dsn
    assert "452 4.2.2 mailbox full" in dsn
    time.sleep(2.5)  # more retries, no second warning
    assert len(s.messages("alice")) == 1
    assert len(s.queue_files()) == 1
    # A restart keeps the "warning sent" mark (a W status record): retries go on, no second DSN.
    s.stop()
    before = log_text(s)
    deferred = len(re.findall(r"event=relay .*result=deferred", before))
    dsns = len(re.findall(r"event=dsn ", before))
    s.start()
    deadline = time.monotonic() + 15
    while len(re.findall(r"event=relay .*result=deferred", log_text(s))) < deferred + 2:
        assert time.monotonic() < deadline, log_text(s)
        time.sleep(0.05)
    assert len(re.findall(r"event=dsn ", log_text(s))) == dsns
    assert len(s.messages("alice")) == 1
    assert len(s.queue_files()) == 1


def test_route_overrides_mx_and_servfail_is_temporary(relay, dns, sinks):
    make, by_ip = relay
    port, _ = sinks
    dns.zone.servfail.add("broken.test")
    s = make(relay_extra='[[relay.route]]\ndomain = "routed.test"\nhost = "127.0.0.3:%d"\n' % port)
    send(s, "alice@example.org", ["r@routed.test", "b@broken.test"])
    assert by_ip["127.0.0.3"].wait_messages(1)[0][1] == ["r@routed.test"]
    wait_log(s, r"event=relay .*rcpt=b@broken.test .*code=451 reply=\"451 4.4.3 MX lookup "
                r"for broken.test failed.*result=deferred")
    assert len(s.queue_files()) == 1
    assert ("routed.test", "MX") not in dns.zone.queries


def test_an_mx_pointing_at_our_own_address_is_a_loop_not_a_reason_to_use_the_backup(
        make_sluice, dns, sinks):
    """RFC 5321 5.1: we listen on 127.0.0.6, which loop.test's preferred MX resolves to. Its backup
    (another host) must not get the message: with two servers backing each other up that is a
    mail loop. The message bounces with 554 5.4.6, as Postfix's "loops back to myself"."""
    port, by_ip = sinks
    cfg = (BASE_CONFIG.replace("127.0.0.1:{port}", "%s:%d" % (SECOND_SLUICE_IP, port)) +
           RELAY_CONFIG.format(forwarder=dns.forwarder, relay_port=port, relay_extra=""))
    s = make_sluice(config=cfg.replace("{forwarder}", dns.forwarder))
    s.host, s.port = SECOND_SLUICE_IP, port
    s.start()
    with smtplib.SMTP(s.host, s.port, timeout=10, source_address=("127.0.0.1", 0)) as c:
        c.sendmail("alice@example.org", ["x@loop.test"], b"Subject: loop\r\n\r\nloop\r\n")
    dsn = s.wait_for_messages("alice", 1)[0].decode()
    assert "Status: 5.4.6" in dsn and "loops back to myself" in dsn, dsn
    s.wait_queue_empty()
    assert by_ip["127.0.0.3"].messages == []
