"""Helpers for the TLS/AUTH/limits tests: certificates made with the openssl CLI, password hashes
made with `sluice passwd`, configs with submission listeners, TLS client contexts."""
import base64
import ssl
import subprocess

from conftest import BIN, BASE_CONFIG, free_port

PASSWORD = "correct horse"
_hash_cache = {}


def password_hash(pw=PASSWORD):
    if pw not in _hash_cache:
        r = subprocess.run([BIN, "passwd"], input=(pw + "\n").encode(), capture_output=True,
                           timeout=30, check=True)
        _hash_cache[pw] = r.stdout.decode().strip()
    return _hash_cache[pw]


def make_cert(dirpath, cn):
    """A self-signed EC certificate and key for `cn`, via the openssl CLI."""
    cert, key = dirpath / (cn + ".crt"), dirpath / (cn + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=" + cn,
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True,
                   timeout=30)
    return cert, key


def client_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def peer_cn(sslsock):
    der = sslsock.getpeercert(binary_form=True)
    pem = ssl.DER_cert_to_PEM_cert(der)
    out = subprocess.run(["openssl", "x509", "-noout", "-subject"], input=pem.encode(),
                         capture_output=True, timeout=10, check=True).stdout.decode()
    return out.strip().split("CN", 1)[1].lstrip(" =")


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def secure_config(extra="", users=None, sub_port=None, subs_port=None, auth_extra=""):
    """BASE_CONFIG (an mx listener on {port}) plus submission (STARTTLS) and submissions
    (implicit TLS) listeners, and [auth] users alice and bob."""
    if users is None:
        users = [("alice@example.org", PASSWORD, []), ("bob@example.org", PASSWORD, ["@catch.test"])]
    text = BASE_CONFIG
    if sub_port:
        text += '[[listener]]\nname = "sub"\nrole = "submission"\naddress = "127.0.0.1:%d"\n' % sub_port
    if subs_port:
        text += ('[[listener]]\nname = "subs"\nrole = "submissions"\naddress = "127.0.0.1:%d"\n'
                 % subs_port)
    text += "[auth]\n" + auth_extra
    for name, pw, addrs in users:
        text += '[[auth.user]]\nname = "%s"\npassword_hash = "%s"\n' % (name, password_hash(pw))
        if addrs:
            text += "addresses = [%s]\n" % ", ".join('"%s"' % a for a in addrs)
    text += extra
    # The harness formats the text: escape braces we added (none expected beyond BASE_CONFIG's).
    return text


__all__ = ["PASSWORD", "password_hash", "make_cert", "client_context", "peer_cn", "b64",
           "secure_config", "free_port"]
