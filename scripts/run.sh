#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine, builds Sluice (Release) and starts it on its embedded default
# configuration (127.0.0.1:2525, mail for any user@localhost into ./sluice-data/mail). Extra arguments
# go to `sluice serve`, e.g. ./scripts/run.sh --config sluice.example.toml
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh run
cmake --preset release >/dev/null
cmake --build --preset release -j"$(nproc)"
exec ./build-release/apps/sluice/sluice serve "$@"
