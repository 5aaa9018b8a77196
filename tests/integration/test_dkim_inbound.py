"""DKIM verification of inbound mail end to end: messages signed by an independent implementation
(dkimpy, Debian's python3-dkim) reach the real binary over SMTP; the key records come from a real
DNS server on loopback (dnslib); the delivered Maildir file carries dkim=pass or the right failure
in its Authentication-Results (RFC 6376, RFC 8463, RFC 8601). A large message, whose body streams
into the spool while it arrives, is verified from the bytes as they came (never read back)."""
import base64
import os
import re
import smtplib
import subprocess

import dkim
import nacl.signing
import pytest

from conftest import BASE_CONFIG  # noqa: F401 (the server's base configuration)
from relay_peers import DnsServer

CONFIG = """
[dns]
forwarders = ["{forwarder}"]
timeout = "2s"
[verify]
skip = []
spf = false
"""


def rsa_key(bits=2048):
    pem = subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                          "rsa_keygen_bits:%d" % bits], capture_output=True, check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubout", "-outform", "DER"], input=pem,
                         capture_output=True, check=True).stdout
    return pem, "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode()


def ed25519_key():
    sk = nacl.signing.SigningKey.generate()
    return (base64.b64encode(bytes(sk)),
            "v=DKIM1; k=ed25519; p=" + base64.b64encode(bytes(sk.verify_key)).decode())


@pytest.fixture(scope="module")
def keys():
    return {"rsa": rsa_key(), "ed": ed25519_key()}


@pytest.fixture
def dns(keys):
    d = DnsServer().start()
    z = d.zone
    z.add("rsa._domainkey.signer.test", "TXT", keys["rsa"][1])
    z.add("ed._domainkey.signer.test", "TXT", keys["ed"][1])
    z.add("revoked._domainkey.signer.test", "TXT", "v=DKIM1; k=rsa; p=")
    z.servfail.add("broken._domainkey.signer.test")
    yield d
    d.stop()


@pytest.fixture
def server(make_sluice, dns):
    return make_sluice(extra=CONFIG.format(forwarder=dns.forwarder)).start()


def message(body=b"Hello, this is a signed message.\r\n", subject=b"signed"):
    return (b"From: Alice <alice@signer.test>\r\n"
            b"To: alice@example.org\r\n"
            b"Subject: " + subject + b"\r\n"
            b"Date: Thu, 03 Dec 2026 20:00:00 +0000\r\n"
            b"Message-ID: <1@signer.test>\r\n"
            b"\r\n" + body)


def sign(msg, keys, selector="rsa", canon=(b"relaxed", b"relaxed"), **kw):
    if selector == "ed":
        key, algo = keys["ed"][0], b"ed25519-sha256"
    else:
        key, algo = keys["rsa"][0], b"rsa-sha256"
    sig = dkim.sign(msg, selector.encode(), b"signer.test", key, canonicalize=canon,
                    signature_algorithm=algo,
                    include_headers=[b"from", b"to", b"subject", b"date", b"message-id"], **kw)
    return sig + msg


def deliver(server, data):
    with smtplib.SMTP(server.host, server.port, local_hostname="mx.client.test", timeout=30) as c:
        c.sendmail("alice@signer.test", ["alice@example.org"], data)


def dkim_results(msg):
    head = msg.replace(b"\r\n", b"\n").split(b"\n\n")[0]
    head = re.sub(rb"\n[ \t]+", b" ", head).decode()
    ar = [line for line in head.split("\n") if line.startswith("Authentication-Results: mx.test;")]
    assert len(ar) == 1, head
    return [m.strip() for m in ar[0].split(";")[1:] if m.strip().startswith("dkim=")]


@pytest.mark.parametrize("canon", [(b"simple", b"simple"), (b"relaxed", b"relaxed"),
                                   (b"relaxed", b"simple"), (b"simple", b"relaxed")])
def test_signed_by_dkimpy_passes(server, keys, canon):
    deliver(server, sign(message(), keys, canon=canon))
    got = dkim_results(server.wait_for_messages("alice", 1)[0])
    assert len(got) == 1 and got[0].startswith("dkim=pass"), got
    assert "header.d=signer.test" in got[0] and "header.s=rsa" in got[0]
    assert "header.a=rsa-sha256" in got[0] and "header.b=" in got[0]


def test_ed25519_and_rsa_side_by_side(server, keys):
    data = sign(sign(message(), keys, "rsa"), keys, "ed")
    deliver(server, data)
    got = dkim_results(server.wait_for_messages("alice", 1)[0])
    assert len(got) == 2, got
    assert all(r.startswith("dkim=pass") for r in got), got
    assert any("header.a=ed25519-sha256" in r for r in got)


def test_tampering_fails(server, keys):
    signed = sign(message(), keys)
    deliver(server, signed.replace(b"signed message", b"forged message"))
    deliver(server, signed.replace(b"Subject: signed", b"Subject: urgent"))
    got = [dkim_results(m) for m in server.wait_for_messages("alice", 2)]
    assert all(len(r) == 1 and r[0].startswith("dkim=fail") for r in got), got
    assert any("body hash" in r[0] for r in got), got


def test_length_tag_tail_is_reported(server, keys):
    signed = sign(message(), keys, length=True)
    deliver(server, signed + b"Appended by someone else.\r\n")
    got = dkim_results(server.wait_for_messages("alice", 1)[0])
    assert got[0].startswith("dkim=pass") and "l=" in got[0], got


def test_large_streamed_message_verified_as_it_arrived(server, keys):
    line = b"0123456789abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ\t  \r\n"
    body = line * (800 * 1024 // len(line))  # 800 KiB: past limits.message_buffer, streamed
    deliver(server, sign(message(body), keys))
    msg = server.wait_for_messages("alice", 1)[0]
    assert len(msg) > 780 * 1024  # delivered whole (Maildir lines end in LF)
    got = dkim_results(msg)
    assert got[0].startswith("dkim=pass"), got


def test_unsigned_revoked_and_dns_failure(server, keys):
    deliver(server, message(subject=b"unsigned"))
    # Signed with the real key, then pointed at a selector whose record is revoked (empty p=) or
    # whose DNS fails.
    deliver(server, sign(message(subject=b"revoked"), keys).replace(b"s=rsa", b"s=revoked"))
    deliver(server, sign(message(subject=b"broken"), keys).replace(b"s=rsa", b"s=broken"))
    msgs = server.wait_for_messages("alice", 3)
    by_subject = {}
    for m in msgs:
        subject = re.search(rb"Subject: (\w+)", m).group(1).decode()
        by_subject[subject] = dkim_results(m)
    assert by_subject["unsigned"] == ["dkim=none"]
    assert by_subject["revoked"][0].startswith("dkim=permerror"), by_subject
    assert by_subject["broken"][0].startswith("dkim=temperror"), by_subject


def opendkim_sign(tmp_path, msg, key_pem, canon):
    """The DKIM-Signature OpenDKIM (the other independent implementation) makes for msg."""
    work = tmp_path / ("opendkim-" + canon.replace("/", "-"))
    work.mkdir(mode=0o700)
    (work / "key.pem").write_bytes(key_pem)
    os.chmod(work / "key.pem", 0o600)
    (work / "conf").write_text(
        "Domain signer.test\nSelector rsa\nKeyFile %s\nMode s\nSyslog no\n"
        "Canonicalization %s\nRequireSafeKeys false\n" % (work / "key.pem", canon))
    (work / "msg.eml").write_bytes(msg)
    r = subprocess.run(["opendkim", "-x", str(work / "conf"), "-t", str(work / "msg.eml")],
                       capture_output=True, timeout=30)
    out = r.stdout.decode()
    assert r.returncode == 0 and "DKIM-Signature:" in out, r.stdout + r.stderr
    field = out[out.index("DKIM-Signature:"):].replace("\r\n", "\n").rstrip("\n")
    return field.replace("\n", "\r\n").encode() + b"\r\n"


@pytest.mark.parametrize("canon", ["simple/simple", "relaxed/relaxed", "relaxed/simple",
                                   "simple/relaxed"])
def test_signed_by_opendkim_passes(server, keys, tmp_path, canon):
    msg = message(b"Signed by  OpenDKIM, \t with spaces  \r\n\r\n\r\n")
    deliver(server, opendkim_sign(tmp_path, msg, keys["rsa"][0], canon) + msg)
    got = dkim_results(server.wait_for_messages("alice", 1)[0])
    assert len(got) == 1 and got[0].startswith("dkim=pass"), (canon, got)
