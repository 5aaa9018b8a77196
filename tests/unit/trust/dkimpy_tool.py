#!/usr/bin/python3
"""dkimpy_tool.py: drives dkimpy (Debian python3-dkim), an independent DKIM implementation, for
dkim_interop_test.cpp: dkimpy signs what our verifier must pass, and verifies what we signed.

  dkimpy_tool.py check       exit 0 if dkimpy and PyNaCl (its Ed25519) import, else 3
  dkimpy_tool.py sign DIR    sign each DIR/msg-*.eml with DIR/rsa.pem (selector "rsa") and
                             DIR/ed25519.pem (selector "ed"), d=example.com, in every c= pair,
                             with and without l=, plus one rsa-sha1; writes
                             DIR/signed/<msg>.<a>.<header c>-<body c>[.l].eml
  dkimpy_tool.py verify DIR  verify (dkimpy checks the topmost signature) each DIR/ours-*.eml
                             with the TXT records of DIR/dns.txt ("name<TAB>record" lines);
                             prints "<file> pass|fail" per message

Run with /usr/bin/python3: the system Python is the one python3-dkim is installed for.
"""
import base64
import os
import sys

try:
    import dkim
    import nacl.signing  # noqa: F401  (dkimpy signs and verifies Ed25519 with it)
except ImportError as e:
    print(f"dkimpy_tool: cannot import {e.name}: run scripts/setup.sh test", file=sys.stderr)
    sys.exit(3)

CANONS = [(b"simple", b"simple"), (b"simple", b"relaxed"),
          (b"relaxed", b"simple"), (b"relaxed", b"relaxed")]
DOMAIN = b"example.com"


def read(*path):
    with open(os.path.join(*path), "rb") as f:
        return f.read()


def ed25519_seed(pem):
    # dkimpy takes the base64 of the 32-octet seed, which ends an unencrypted PKCS#8 Ed25519
    # key (RFC 8410 7).
    body = b"".join(line for line in pem.splitlines() if not line.startswith(b"-----"))
    return base64.b64encode(base64.b64decode(body)[-32:])


def sign(d):
    rsa = read(d, "rsa.pem")
    keys = {b"rsa-sha256": (b"rsa", rsa), b"rsa-sha1": (b"rsa", rsa),
            b"ed25519-sha256": (b"ed", ed25519_seed(read(d, "ed25519.pem")))}
    jobs = [(a, c, length) for a in (b"rsa-sha256", b"ed25519-sha256")
            for c in CANONS for length in (False, True)]
    jobs.append((b"rsa-sha1", (b"relaxed", b"relaxed"), False))
    out = os.path.join(d, "signed")
    os.makedirs(out, exist_ok=True)
    for name in sorted(os.listdir(d)):
        if not (name.startswith("msg-") and name.endswith(".eml")):
            continue
        msg = read(d, name)
        for a, c, length in jobs:
            selector, key = keys[a]
            sig = dkim.sign(msg, selector, DOMAIN, key, canonicalize=c,
                            signature_algorithm=a, length=length)
            signed = (f"{name[:-4]}.{a.decode()}.{c[0].decode()}-{c[1].decode()}"
                      f"{'.l' if length else ''}.eml")
            with open(os.path.join(out, signed), "wb") as f:
                f.write(sig + msg)


def verify(d):
    records = {}
    for line in read(d, "dns.txt").decode().splitlines():
        name, _, record = line.partition("\t")
        records[name] = record

    def dnsfunc(name, timeout=5):
        record = records.get(name.decode().rstrip("."))
        return record.encode() if record is not None else None

    for name in sorted(os.listdir(d)):
        if name.startswith("ours-") and name.endswith(".eml"):
            ok = dkim.verify(read(d, name), dnsfunc=dnsfunc)
            print(name, "pass" if ok else "fail")


def main(argv):
    if len(argv) == 2 and argv[1] == "check":
        return 0
    if len(argv) == 3 and argv[1] in ("sign", "verify"):
        (sign if argv[1] == "sign" else verify)(argv[2])
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
