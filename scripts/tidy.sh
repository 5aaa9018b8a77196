#!/usr/bin/env bash
# Runs clang-tidy (.clang-tidy at the root) over src/ and apps/ using the default build's compile
# database. Exit status 1 if any warning is reported.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -f build/compile_commands.json ]] || cmake --preset default >/dev/null
out=$(run-clang-tidy -p build -j"${TIDY_JOBS:-2}" -quiet 'src/|apps/' 2>&1 | grep -E 'warning:|error:' | sort -u || true)
if [[ -n "$out" ]]; then
  echo "$out"
  echo "tidy: $(wc -l <<<"$out") finding(s)"
  exit 1
fi
echo "tidy: clean"
