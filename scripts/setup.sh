#!/usr/bin/env bash
# Installs the Debian packages Sluice needs, if missing. Safe to run repeatedly: apt-get runs only
# when something is absent.
#
#   scripts/setup.sh run     what building and running the server needs (scripts/run.sh)
#   scripts/setup.sh test    that, plus the tools the tests use (scripts/test.sh; the default)
#   scripts/setup.sh bench   that, plus Postfix and the benchmark tools (bench/compare.py)
#
# Test and benchmark tools never leave a service running on the host: packages that ship one
# (Postfix for smtp-sink/smtp-source, fail2ban for fail2ban-regex) are installed with their
# service starts refused (policy-rc.d), Postfix preseeded to "No configuration", and the services
# this script installed are disabled afterwards. The run profile installs no daemon at all.
set -euo pipefail
profile=${1:-test}

run_pkgs=(
  build-essential cmake ninja-build pkg-config
  libboost1.81-dev libboost-system1.81-dev   # Asio with awaitable operators; Boost::system
  libssl-dev zlib1g-dev openssl ca-certificates
  libtomlplusplus-dev libspdlog-dev libfmt-dev libcli11-dev nlohmann-json3-dev
  libunbound-dev libevent-dev nettle-dev     # libunbound.pc names libevent and nettle
  libsodium-dev libsqlite3-dev               # argon2id password hashes; SQLite user store
  libpsl-dev publicsuffix                    # DMARC organizational domains (Public Suffix List)
  libidn2-dev                                # author domains in A-labels (IDNA2008)
)
test_pkgs=(
  libgtest-dev libgmock-dev libbenchmark-dev # unit tests; bench/microbench builds with them
  python3 python3-pytest python3-aiosmtpd python3-dnslib
  swaks libnet-ssleay-perl libio-socket-ssl-perl  # swaks' STARTTLS/TLS (recommends only)
  strace        # tests/integration/test_crash_consistency.py: fsync order before the 250
  postfix       # smtp-sink: a downstream relay peer with injectable replies
  fail2ban      # fail2ban-regex: the shipped filter against real log lines
  systemd       # systemd-analyze verify of the shipped unit
  dpkg-dev file # cpack's .deb generator: dpkg (architecture), file (shared-library depends)
  clang-format
  python3-spf python3-yaml  # the RFC 7208 test suite (rfc7208-tests.yml.gz) and its reader
  python3-dkim python3-nacl # dkimpy: independent DKIM signer/verifier (ed25519 needs nacl)
  opendkim opendkim-tools   # OpenDKIM: the other independent DKIM implementation
)
bench_pkgs=("${test_pkgs[@]}")  # Postfix is the side-by-side contender
# Packages whose service must not start or stay enabled when this script installs them.
services=(postfix fail2ban opendkim)

case "$profile" in
  run) pkgs=("${run_pkgs[@]}") ;;
  test) pkgs=("${run_pkgs[@]}" "${test_pkgs[@]}") ;;
  bench) pkgs=("${run_pkgs[@]}" "${bench_pkgs[@]}") ;;
  *) echo "usage: setup.sh [run|test|bench]" >&2; exit 2 ;;
esac

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
((${#missing[@]})) || exit 0

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi

new_services=()
for s in "${services[@]}"; do
  for m in "${missing[@]}"; do [ "$m" = "$s" ] && new_services+=("$s"); done
done
policy=/usr/sbin/policy-rc.d
own_policy=0
if ((${#new_services[@]})); then
  # "No configuration": Postfix writes no main.cf and listens nowhere.
  echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# scripts/setup.sh: no service starts while test tools install\nexit 101\n' |
      $SUDO tee "$policy" >/dev/null
    $SUDO chmod 755 "$policy"
    own_policy=1
  fi
fi
cleanup() { if ((own_policy)); then $SUDO rm -f "$policy"; fi; }
trap cleanup EXIT

$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"

for s in "${new_services[@]}"; do
  # Installed here for its tools only: never started, never started at boot.
  if command -v systemctl >/dev/null; then
    $SUDO systemctl disable --now "$s" >/dev/null 2>&1 || true
  fi
  if command -v update-rc.d >/dev/null; then $SUDO update-rc.d "$s" disable >/dev/null 2>&1 || true; fi
  if [ -x "/etc/init.d/$s" ] && [ "$s" = postfix ]; then $SUDO postfix stop >/dev/null 2>&1 || true; fi
done
