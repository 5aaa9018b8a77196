#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine, builds Sluice with warnings as errors, and runs every test:
# the unit tests (ctest) and the integration tests, which drive the real binary over loopback with
# real clients (Python smtplib, swaks).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cmake --preset default >/dev/null
cmake --build --preset default -j"$(nproc)"
ctest --test-dir build --output-on-failure -j"$(nproc)"
SLUICE_BIN="$PWD/build/apps/sluice/sluice" /usr/bin/python3 -m pytest -q -p no:cacheprovider tests/integration "$@"
