"""Accepting mail for local domains and delivering it into Maildir, through real clients."""
import re
import smtplib
import subprocess

import pytest


def send(s, sender, rcpts, body, **kw):
    with smtplib.SMTP(s.host, s.port, timeout=10) as c:
        c.ehlo("client.test")
        return c.sendmail(sender, rcpts, body, **kw)


def test_message_lands_in_maildir_with_trace_headers(sluice):
    with smtplib.SMTP(sluice.host, sluice.port, timeout=10) as c:
        code, _ = c.ehlo("client.test")
        assert code == 250
        c.mail("sender@remote.test")
        c.rcpt("alice@example.org")
        code, text = c.data(b"Subject: hi\r\nMessage-ID: <1@t>\r\n\r\nHello Alice\r\n")
        assert code == 250
        m = re.search(rb"queued as ([0-9A-Z]{16})", text)
        assert m, text
        qid = m.group(1).decode()
    msg = sluice.wait_for_messages("alice", 1)[0]
    # LF line endings in Maildir; our headers first, then the client's bytes unchanged.
    assert b"\r\n" not in msg
    lines = msg.split(b"\n")
    assert lines[0] == b"Return-Path: <sender@remote.test>"
    assert lines[1] == b"Delivered-To: alice@example.org"
    assert lines[2].startswith(b"Received: from client.test ([127.0.0.1])")
    assert ("id " + qid).encode() in msg
    assert msg.endswith(b"Subject: hi\nMessage-ID: <1@t>\n\nHello Alice\n")
    # Maildir name carries the size Dovecot expects.
    name = next((sluice.maildir("alice") / "new").iterdir()).name
    assert name.endswith(",S=%d" % len(msg)), name
    sluice.wait_queue_empty()
    sluice.wait_log(r"event=message .*queue_id=%s .*code=250" % qid)
    sluice.wait_log(r"event=delivery queue_id=%s rcpt=alice@example.org" % qid)


def test_aliases_catch_all_and_dedup(sluice):
    # "team" expands to alice and bob; alice named again must not get a second copy.
    send(sluice, "s@remote.test", ["team@example.org", "alice@example.org", "whoever@catch.test"],
         b"Subject: team\r\n\r\nx\r\n")
    assert len(sluice.wait_for_messages("alice", 1)) == 1
    assert len(sluice.wait_for_messages("bob", 1)) == 1
    assert len(sluice.wait_for_messages("info", 1, domain="catch.test")) == 1
    sluice.wait_queue_empty()
    assert len(sluice.messages("alice")) == 1


def test_unknown_user_and_relay_denied_at_rcpt(sluice):
    with smtplib.SMTP(sluice.host, sluice.port, timeout=10) as c:
        c.ehlo("client.test")
        c.mail("s@remote.test")
        code, text = c.rcpt("nobody@example.org")
        assert code == 550 and b"5.1.1" in text
        code, text = c.rcpt("someone@elsewhere.test")
        assert code == 550 and b"5.7.1" in text
        code, text = c.rcpt("user@[127.0.0.1]")
        assert code == 550 and b"5.7.1" in text
        # '%' and '!' are local-part characters, never routing.
        code, text = c.rcpt("victim%elsewhere.test@example.org")
        assert code == 550 and b"5.1.1" in text
        code, text = c.rcpt("elsewhere.test!victim@example.org")
        assert code == 550 and b"5.1.1" in text
        code, _ = c.rcpt("bob+tag@EXAMPLE.ORG")
        assert code == 250
        code, _ = c.data(b"Subject: x\r\n\r\ny\r\n")
        assert code == 250
    assert len(sluice.wait_for_messages("bob", 1)) == 1


def test_postmaster_without_domain(sluice):
    send(sluice, "s@remote.test", ["postmaster"], b"Subject: pm\r\n\r\nx\r\n")
    assert len(sluice.wait_for_messages("alice", 1)) == 1


def test_smtputf8(sluice):
    with smtplib.SMTP(sluice.host, sluice.port, timeout=10) as c:
        c.ehlo("client.test")
        assert c.has_extn("smtputf8")
        body = "Subject: caf\u00e9\r\n\r\nd\u00e9j\u00e0 vu\r\n".encode()
        c.sendmail("j\u00f6rg@remote.test", ["alice@example.org"], body,
                   mail_options=["SMTPUTF8", "BODY=8BITMIME"])
        with pytest.raises(smtplib.SMTPSenderRefused) as e:
            c.sendmail("j\u00f6rg@remote.test", ["alice@example.org"], b"x\r\n")
        assert e.value.smtp_code == 553
    msg = sluice.wait_for_messages("alice", 1)[0]
    assert "d\u00e9j\u00e0 vu".encode() in msg
    assert b"with UTF8SMTP" in msg


def test_size_limits_keep_session_usable(sluice):
    with smtplib.SMTP(sluice.host, sluice.port, timeout=10) as c:
        c.ehlo("client.test")
        assert int(c.esmtp_features["size"]) == 1024 * 1024
        code, text = c.mail("s@remote.test", ["SIZE=%d" % (2 * 1024 * 1024)])
        assert code == 552 and b"5.3.4" in text
        c.rset()
        c.mail("s@remote.test")
        c.rcpt("alice@example.org")
        big = b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * 1100
        code, text = c.data(big)
        assert code == 552, text
        # Same session still works.
        c.mail("s@remote.test")
        c.rcpt("alice@example.org")
        code, _ = c.data(b"Subject: small\r\n\r\nok\r\n")
        assert code == 250
    msgs = sluice.wait_for_messages("alice", 1)
    sluice.wait_queue_empty()
    assert len(sluice.messages("alice")) == 1 and b"Subject: small" in msgs[0]


def test_rset_discards_transaction(lenient_sluice):
    sluice = lenient_sluice
    c = sluice.connect()
    c.expect(220)
    c.send("EHLO c\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<alice@example.org>\r\nRSET\r\n"
           "DATA\r\nQUIT\r\n")
    codes = [r[0] for r in c.replies(6)]
    assert codes == [250, 250, 250, 250, 503, 221]


def test_pipelined_transactions_in_one_write(lenient_sluice):
    sluice = lenient_sluice
    c = sluice.connect()
    c.expect(220)
    script = "EHLO c\r\n"
    for i in range(5):
        script += ("MAIL FROM:<a@remote.test>\r\nRCPT TO:<bob@example.org>\r\nDATA\r\n"
                   "Subject: p%d\r\n\r\nbody %d\r\n.\r\n" % (i, i))
    script += "QUIT\r\n"
    c.send(script)
    codes = [r[0] for r in c.replies(1 + 5 * 4 + 1)]
    assert codes == [250] + [250, 250, 354, 250] * 5 + [221]
    msgs = sluice.wait_for_messages("bob", 5)
    assert sorted(re.search(rb"Subject: (p\d)", m).group(1) for m in msgs) == \
        [b"p0", b"p1", b"p2", b"p3", b"p4"]


def test_bdat_chunking_binarymime(sluice):
    c = sluice.connect()
    c.expect(220)
    c.send("EHLO c\r\n")
    ehlo = c.expect(250)
    assert "CHUNKING" in ehlo and "BINARYMIME" in ehlo
    part1 = b"Subject: bdat\r\n\r\nline one\r\n"
    part2 = b"bare\nlf and NUL\x00 ok in binary\r\n"
    c.send(b"MAIL FROM:<a@remote.test> BODY=BINARYMIME\r\nRCPT TO:<carol@example.org>\r\n"
           b"BDAT %d\r\n%sBDAT %d LAST\r\n%s" % (len(part1), part1, len(part2), part2))
    codes = [r[0] for r in c.replies(4)]
    assert codes == [250, 250, 250, 250]
    msg = sluice.wait_for_messages("carol", 1)[0]
    # Binary bodies are stored byte for byte (no CRLF conversion).
    assert msg.endswith(part1 + part2)


def test_swaks_pipelining(sluice):
    r = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(sluice.port),
                        "--from", "s@remote.test", "--to", "alice@example.org,bob@example.org",
                        "--pipeline", "--header", "Subject: from swaks", "--timeout", "10"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "250 2.0.0 Ok: queued as" in r.stdout
    assert b"Subject: from swaks" in sluice.wait_for_messages("alice", 1)[0]
    assert b"Subject: from swaks" in sluice.wait_for_messages("bob", 1)[0]


def test_command_timeout_gives_421(make_sluice):
    s = make_sluice(command_timeout="1s").start()
    c = s.connect()
    c.expect(220)
    c.send("EHLO c\r\n")
    c.expect(250)
    code, text = c.reply()  # nothing sent: the server times us out
    assert code == 421 and "4.4.2" in text
    assert c.closed()
