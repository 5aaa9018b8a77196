#!/usr/bin/env bash
# Runs each libFuzzer target for a given time, one after another (docs/fuzzing.md).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     default: 60 seconds, every target
#   FUZZ_MERGE=1 scripts/fuzz.sh 300 session  also merge new coverage into tests/fuzz/corpus/
#
# Builds the `fuzz` preset (clang, SLUICE_FUZZ=ON) into build-fuzz/. Each run starts from the seed
# corpus (copied to build-fuzz/fuzz-work/<target>, so the repository corpus only grows on purpose)
# and writes crashes to build-fuzz/fuzz-artifacts/<target>/. Exit status 1 if any target failed.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
if ((${#targets[@]} == 0)); then
  targets=(command address data_reader spool_format config session)
fi
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j"${FUZZ_BUILD_JOBS:-2}"

failed=()
for t in "${targets[@]}"; do
  bin=build-fuzz/tests/fuzz/fuzz_$t
  seeds=tests/fuzz/corpus/$t
  work=build-fuzz/fuzz-work/$t
  art=build-fuzz/fuzz-artifacts/$t
  mkdir -p "$work" "$art"
  cp -n "$seeds"/* "$work"/ 2>/dev/null || true
  echo "fuzz: $t for ${seconds}s"
  if ! "$bin" -max_total_time="$seconds" -jobs=1 -workers=1 -timeout=10 -rss_limit_mb=2048 \
       -print_final_stats=1 -artifact_prefix="$art/" "$work" 2>"build-fuzz/fuzz-$t.log"; then
    echo "fuzz: $t FAILED; log build-fuzz/fuzz-$t.log, reproducer(s):"
    ls -1 "$art"/
    echo "  replay: $bin $art/<file>; keep it: cp it to $seeds/ and fix the bug"
    failed+=("$t")
    continue
  fi
  grep -E 'DONE' "build-fuzz/fuzz-$t.log" | tail -1 || true
  if [[ "${FUZZ_MERGE:-0}" == 1 ]]; then
    "$bin" -merge=1 "$seeds" "$work" >/dev/null 2>&1
    echo "fuzz: merged new coverage into $seeds ($(ls "$seeds" | wc -l) files)"
  fi
done
if ((${#failed[@]})); then
  echo "fuzz: failures in ${failed[*]}"
  exit 1
fi
echo "fuzz: no failures"
