#!/usr/bin/python3
"""Reads the RFC 7208 test suite Debian's python3-spf ships (rfc7208-tests.yml.gz) and writes it as
JSON for trust_spf_rfc7208_test, with the zone data already in the form a DNS answer has.

The suite's own conventions (its header and pyspf's testspf.py driver) are applied here:
  - an SPF-type record stands for a TXT record too, unless the name lists TXT entries of its own
    (RFC 7208 dropped the SPF RR type; "TXT: NONE" says "no TXT record here");
  - TXT/SPF values given as lists are one record of several character-strings;
  - "TIMEOUT" makes queries of that name time out, unless a record of the asked type precedes it.
The file is read from the installed package at test time, never copied into this repository.
"""
import gzip
import json
import sys

import yaml

SUITE = "/usr/share/doc/python3-spf/rfc7208-tests.yml.gz"


def records(entries):
    out = []
    has_txt = any(isinstance(e, dict) and "TXT" in e for e in entries)
    generated = []
    for e in entries:
        if not isinstance(e, dict):
            out.append(["TIMEOUT"])
            continue
        for rtype, value in e.items():
            if value == "NONE":
                continue
            if rtype in ("TXT", "SPF"):
                value = "".join(value) if isinstance(value, list) else str(value)
            elif rtype == "MX":
                value = [int(value[0]), str(value[1])]
            else:
                value = str(value)
            out.append([rtype, value])
            if rtype == "SPF" and not has_txt:
                generated.append(["TXT", value])
    return out + generated


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else SUITE
    scenarios = []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for doc in yaml.safe_load_all(f):
            if not doc:
                continue
            zone = {name.lower(): records(entries or [])
                    for name, entries in (doc.get("zonedata") or {}).items()}
            tests = []
            for name, t in doc["tests"].items():
                results = t["result"] if isinstance(t["result"], list) else [t["result"]]
                tests.append({
                    "name": name,
                    "spec": str(t.get("spec", "")),
                    "helo": str(t.get("helo", "")),
                    "host": str(t["host"]),
                    "mailfrom": str(t.get("mailfrom", "")),
                    "results": results,
                    "explanation": t.get("explanation"),
                })
            scenarios.append({"description": doc["description"], "zone": zone, "tests": tests})
    json.dump(scenarios, sys.stdout, indent=1)


if __name__ == "__main__":
    main()
