#!/usr/bin/env bash
# Installs every Debian package Sluice needs to build, test and benchmark, if missing.
# Safe to run repeatedly: apt-get runs only when something is absent.
set -euo pipefail
pkgs=(
  build-essential cmake ninja-build pkg-config clang-format
  libboost1.81-dev libssl-dev zlib1g-dev
  libtomlplusplus-dev libspdlog-dev libfmt-dev libcli11-dev
  libgtest-dev libgmock-dev
  libunbound-dev libevent-dev nettle-dev
  python3 python3-pytest python3-aiosmtpd python3-dnslib
  swaks openssl
  libsodium-dev libsqlite3-dev   # argon2id password hashes; SQLite user store
  strace   # tests/integration/test_crash_consistency.py: fsync order before the 250
  postfix  # smtp-sink/smtp-source: relay test peer and the benchmark's side-by-side contender
  libbenchmark-dev  # bench/microbench
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
