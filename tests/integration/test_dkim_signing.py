"""DKIM signing of our own senders' mail end to end (RFC 6376, RFC 8463): keys made with
`sluice dkim keygen`, mail from a trusted network signed at intake with rsa-sha256 and
ed25519-sha256 side by side, and the delivered message verified by two independent
implementations: dkimpy (python3-dkim) and OpenDKIM (`opendkim -t` with the published records)."""
import os
import re
import smtplib
import stat
import subprocess

import dkim
import pytest

from conftest import BIN

SIGNING = """
[access]
trusted = ["127.0.0.1"]
[[dkim_key]]
domain = "example.org"
selector = "rsa"
key_file = "{rsa}"
[[dkim_key]]
domain = "example.org"
selector = "ed"
key_file = "{ed}"
"""


def keygen(tmp_path, selector, algo):
    out = tmp_path / ("%s.key" % selector)
    r = subprocess.run([BIN, "dkim", "keygen", "--domain", "example.org", "--selector", selector,
                        "--algo", algo, "--out", str(out)], capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    record = r.stdout.decode()
    assert record.startswith("%s._domainkey.example.org. IN TXT (" % selector)
    return out, "".join(re.findall(r'"([^"]*)"', record))


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    return {"rsa": keygen(d, "rsa", "rsa"), "ed": keygen(d, "ed", "ed25519")}


def dnsfunc(keys):
    records = {("%s._domainkey.example.org." % s).encode(): k[1].encode()
               for s, k in keys.items()}
    return lambda name, timeout=5: records.get(name)


def signing_server(make_sluice, keys, extra=""):
    return make_sluice(extra=SIGNING.format(rsa=keys["rsa"][0], ed=keys["ed"][0]) + extra).start()


def message(body=b"Hello from Alice.\r\n"):
    return (b"From: Alice <alice@example.org>\r\nTo: bob@example.org\r\nSubject: signed here\r\n"
            b"Date: Thu, 03 Dec 2026 20:00:00 +0000\r\nMessage-ID: <s1@example.org>\r\n\r\n" + body)


def delivered(s, n=1):
    """The delivered copies, with the Maildir's LF line ends made CRLF again (as on the wire)."""
    return [m.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n") for m in s.wait_for_messages("bob", n)]


def verify_all(msg, keys):
    d = dkim.DKIM(msg)
    sigs = [h for h in d.headers if h[0].lower() == b"dkim-signature"]
    out = []
    for i in range(len(sigs)):
        try:
            out.append(d.verify(idx=i, dnsfunc=dnsfunc(keys)))
        except dkim.ValidationError:  # dkimpy raises for some failures (a body hash mismatch)
            out.append(False)
    return out


def opendkim_verifies(tmp_path, msg, keys):
    work = tmp_path / "opendkim"
    work.mkdir(mode=0o700, exist_ok=True)
    (work / "keys").write_text("".join("%s._domainkey.example.org %s\n" % (s, k[1])
                                       for s, k in keys.items()))
    (work / "conf").write_text("TestPublicKeys %s\nMode v\nSyslog no\n" % (work / "keys"))
    (work / "msg.eml").write_bytes(msg)
    r = subprocess.run(["opendkim", "-x", str(work / "conf"), "-t", str(work / "msg.eml")],
                       capture_output=True, timeout=30)
    out = r.stdout + r.stderr
    return r.returncode == 0 and b"verification" in out and b"succeeded" in out, out


def test_keygen_writes_a_private_key_once(tmp_path):
    out, record = keygen(tmp_path, "s1", "ed25519")
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert record.startswith("v=DKIM1; k=ed25519; p=")
    again = subprocess.run([BIN, "dkim", "keygen", "--domain", "example.org", "--selector", "s1",
                            "--out", str(out)], capture_output=True, timeout=60)
    assert again.returncode != 0 and b"exists" in again.stderr


def test_trusted_mail_is_dual_signed_and_verifies_elsewhere(make_sluice, keys, tmp_path):
    s = signing_server(make_sluice, keys)
    with smtplib.SMTP(s.host, s.port, timeout=10) as c:
        c.sendmail("alice@example.org", ["bob@example.org"], message())
    msg = delivered(s)[0]
    head = msg.split(b"\r\n\r\n")[0]
    assert head.count(b"DKIM-Signature:") == 2
    assert b"a=rsa-sha256" in head and b"a=ed25519-sha256" in head
    assert b"c=relaxed/relaxed" in head
    assert verify_all(msg, keys) == [True, True]
    ok, err = opendkim_verifies(tmp_path, msg, {"rsa": keys["rsa"]})
    assert ok, err
    # Both implementations notice a changed body.
    tampered = msg.replace(b"Hello from Alice", b"Hello from Mallory")
    assert verify_all(tampered, keys) == [False, False]
    assert not opendkim_verifies(tmp_path, tampered, {"rsa": keys["rsa"]})[0]


def test_large_streamed_message_is_signed(make_sluice, keys):
    s = signing_server(make_sluice, keys)
    line = b"The body streams into the spool while it arrives; it is hashed on the way.\r\n"
    body = line * (600 * 1024 // len(line))
    with smtplib.SMTP(s.host, s.port, timeout=30) as c:
        c.sendmail("alice@example.org", ["bob@example.org"], message(body))
    msg = delivered(s)[0]
    assert len(msg) > 600 * 1024
    assert verify_all(msg, keys) == [True, True]


def test_other_clients_mail_is_not_signed(make_sluice, keys):
    # No trusted network: the client is an outsider, its mail is judged, not signed.
    s = make_sluice(extra=SIGNING.format(rsa=keys["rsa"][0], ed=keys["ed"][0])
                    .replace('trusted = ["127.0.0.1"]', "")).start()
    with smtplib.SMTP(s.host, s.port, timeout=10) as c:
        c.sendmail("alice@example.org", ["bob@example.org"], message())
    assert b"DKIM-Signature" not in delivered(s)[0]


def test_unreadable_key_stops_the_server_naming_the_key(make_sluice, keys, tmp_path):
    s = make_sluice(extra=SIGNING.format(rsa=tmp_path / "missing.key", ed=keys["ed"][0]))
    with pytest.raises(RuntimeError) as e:
        s.start()
    assert "dkim_key[0].key_file" in str(e.value)
