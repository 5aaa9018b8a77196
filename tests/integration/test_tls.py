"""TLS: STARTTLS (RFC 3207) with real clients, the STARTTLS command-injection defence
(CVE-2011-0411), TLS 1.2+ only, the Received header, and certificate reload on SIGHUP."""
import signal
import smtplib
import socket
import ssl
import subprocess
import time

import pytest

from conftest import BASE_CONFIG
from secure_env import client_context, make_cert, peer_cn


def test_starttls_with_smtplib_and_received_header(sluice):
    with smtplib.SMTP(sluice.host, sluice.port, timeout=20) as c:
        c.ehlo("client.test")
        assert c.has_extn("starttls")
        c.starttls(context=client_context())
        c.ehlo("client.test")
        assert not c.has_extn("starttls")  # not offered twice
        assert c.sock.version() in ("TLSv1.2", "TLSv1.3")
        c.sendmail("a@remote.test", ["alice@example.org"], b"Subject: tls\r\n\r\nhello\r\n")
    msg = sluice.wait_for_messages("alice", 1)[0].decode()
    assert "with ESMTPS (TLSv1." in msg
    deadline = time.monotonic() + 10
    while not any("event=tls " in l for l in sluice.log_lines()):
        assert time.monotonic() < deadline, "no tls event logged"
        time.sleep(0.05)


def test_openssl_s_client_starttls(lenient_sluice):  # s_client sends stdin's lines in one write
    sluice = lenient_sluice
    r = subprocess.run(["openssl", "s_client", "-starttls", "smtp", "-connect",
                        "%s:%d" % (sluice.host, sluice.port), "-brief", "-ign_eof"],
                       input=b"EHLO x\r\nQUIT\r\n", capture_output=True, timeout=30)
    out = (r.stdout + r.stderr).decode(errors="replace")
    assert "Protocol version: TLSv1.3" in out, out
    assert "221" in out


def test_swaks_tls(sluice):
    r = subprocess.run(["swaks", "--server", "%s:%d" % (sluice.host, sluice.port), "--tls",
                        "--from", "a@remote.test", "--to", "bob@example.org",
                        "--timeout", "20"], capture_output=True, timeout=60)
    out = r.stdout.decode(errors="replace")
    assert r.returncode == 0, out
    assert "TLS started" in out
    sluice.wait_for_messages("bob", 1)


def _starttls_raw(sluice, pipelined):
    s = socket.create_connection((sluice.host, sluice.port), timeout=10)
    f = b""

    def read_reply(sock):
        nonlocal f
        while True:
            while b"\r\n" not in f:
                chunk = sock.recv(4096)
                if not chunk:
                    raise ConnectionError("closed; got %r" % f)
                f += chunk
            line, f = f.split(b"\r\n", 1)
            if line[3:4] == b" ":
                return line

    assert read_reply(s).startswith(b"220")
    s.sendall(b"EHLO client.test\r\n")
    assert read_reply(s).startswith(b"250")
    # STARTTLS and more commands in ONE write: the extra commands must never run.
    s.sendall(b"STARTTLS\r\n" + pipelined)
    assert read_reply(s).startswith(b"220 2.0.0")
    time.sleep(0.3)
    s.setblocking(False)
    try:
        extra = s.recv(4096)
    except BlockingIOError:
        extra = b""
    s.setblocking(True)
    assert f == b"" and extra == b"", "server answered plaintext after STARTTLS: %r" % (f + extra)
    t = client_context().wrap_socket(s, server_hostname="mx.test")
    return t, read_reply


def test_starttls_injection_is_discarded(sluice):
    t, read_reply = _starttls_raw(sluice, b"MAIL FROM:<evil@remote.test>\r\nRSET\r\n")
    t.sendall(b"EHLO client.test\r\n")
    first = read_reply(t)
    assert first.startswith(b"250 ") and b"Hello" not in first  # last line of the EHLO reply
    # The injected MAIL was discarded: RCPT without MAIL is a sequencing error.
    t.sendall(b"RCPT TO:<alice@example.org>\r\n")
    assert read_reply(t).startswith(b"503")
    t.sendall(b"QUIT\r\n")
    assert read_reply(t).startswith(b"221")
    t.close()


def test_session_state_reset_after_starttls(sluice):
    t, read_reply = _starttls_raw(sluice, b"")
    # RFC 3207 4.2: EHLO again is required before MAIL.
    t.sendall(b"MAIL FROM:<a@remote.test>\r\n")
    assert read_reply(t).startswith(b"503")
    t.close()


def test_tls_1_1_refused(sluice):
    ctx = client_context()
    ctx.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
    ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    try:
        ctx.set_ciphers("ALL:@SECLEVEL=0")
    except ssl.SSLError:
        pass
    with smtplib.SMTP(sluice.host, sluice.port, timeout=20) as c:
        c.ehlo("x")
        with pytest.raises((ssl.SSLError, OSError, smtplib.SMTPServerDisconnected)):
            c.starttls(context=ctx)


def test_tls_disabled_offers_no_starttls(make_sluice):
    s = make_sluice(extra="[tls]\nenabled = false\n").start()
    with smtplib.SMTP(s.host, s.port, timeout=20) as c:
        c.ehlo("x")
        assert not c.has_extn("starttls")
        assert c.docmd("STARTTLS")[0] == 502


def test_certificate_reload_on_sighup_keeps_connections(make_sluice, tmp_path):
    certs = tmp_path / "certs"
    certs.mkdir()
    cert_a, key_a = make_cert(certs, "first.test")
    cert_b, key_b = make_cert(certs, "second.test")
    live_cert, live_key = certs / "live.crt", certs / "live.key"
    live_cert.write_bytes(cert_a.read_bytes())
    live_key.write_bytes(key_a.read_bytes())
    s = make_sluice(extra='[tls]\ncert_file = "%s"\nkey_file = "%s"\n' % (live_cert, live_key))
    s.start()
    old = smtplib.SMTP(s.host, s.port, timeout=20)
    old.ehlo("x")
    old.starttls(context=client_context())
    assert peer_cn(old.sock) == "first.test"

    live_cert.write_bytes(cert_b.read_bytes())
    live_key.write_bytes(key_b.read_bytes())
    s.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while not any("tls_reload" in l for l in s.log_lines()):
        assert time.monotonic() < deadline, "no tls_reload logged"
        time.sleep(0.05)
    assert any("tls_reload" in l and "ok" in l for l in s.log_lines())

    with smtplib.SMTP(s.host, s.port, timeout=20) as c:
        c.ehlo("x")
        c.starttls(context=client_context())
        assert peer_cn(c.sock) == "second.test"
    # The session that started before the reload goes on with its own TLS session.
    old.ehlo("x")
    old.sendmail("a@remote.test", ["carol@example.org"], b"Subject: still here\r\n\r\nok\r\n")
    old.quit()
    s.wait_for_messages("carol", 1)


def test_bad_reload_keeps_the_old_certificate(make_sluice, tmp_path):
    certs = tmp_path / "certs"
    certs.mkdir()
    cert, key = make_cert(certs, "keep.test")
    s = make_sluice(extra='[tls]\ncert_file = "%s"\nkey_file = "%s"\n' % (cert, key)).start()
    key.write_text("not a key\n")
    s.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while not any("tls_reload" in l for l in s.log_lines()):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert any("tls_reload" in l and "failed" in l for l in s.log_lines())
    with smtplib.SMTP(s.host, s.port, timeout=20) as c:
        c.ehlo("x")
        c.starttls(context=client_context())
        assert peer_cn(c.sock) == "keep.test"
