#!/bin/bash
# thread_costs.sh: CPU time and context switches per message, per kind of thread (the threads are
# named sluice-io, sluice-spool, sluice-queue (delivery: routing, Maildir copies, results); the main thread also runs the event loop), for
# smtp-source driving a Release build: 50 sessions, a new connection per message, all mail to one
# Maildir. Shows where a message's cost goes before reaching for perf.
#
#   bench/thread_costs.sh [MESSAGES] [SIZE] [extra TOML appended to the config]
#   SYSCALLS=1 bench/thread_costs.sh ...   also counts system calls per message, per thread
#   ROOT_TOML='workers = 1' bench/thread_costs.sh ...   top-level keys for the config
#
# Needs smtp-source (Debian's postfix package; `scripts/setup.sh bench` installs it) and a Release build in
# build-release/ (bench/compare.py makes one).
set -euo pipefail
n=${1:-10000}
size=${2:-1024}
extra=${3:-}
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=${SLUICE_BIN:-$repo/build-release/apps/sluice/sluice}
work=$(mktemp -d /tmp/sluice-threads.XXXXXX)
port=$((20000 + RANDOM % 20000))
stamp=/tmp/sluice-bench.deleted  # when a benchmark last deleted files in bulk (compare.py too)
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$work"; touch "$stamp"' EXIT
# ext4 without a journal does not reuse a freed inode for up to 5 minutes, and file creation scans
# past such inodes: right after a bulk delete, Maildir delivery costs 2-3x the CPU. Let the last
# benchmark's deletions age first (SETTLE=0 skips this).
if [ -e "$stamp" ]; then
    wait_s=$((${SETTLE:-300} - $(date +%s) + $(stat -c %Y "$stamp")))
    if [ "$wait_s" -gt 0 ]; then
        echo "waiting ${wait_s}s for an earlier benchmark's deleted files to age" >&2
        sleep "$wait_s"
    fi
fi

cat > "$work/sluice.toml" <<TOML
${ROOT_TOML:-}
hostname = "bench.local"
data_dir = "$work/data"
[[listener]]
name = "bench"
address = "127.0.0.1:$port"
[limits]
connections = 20000
connections_per_ip = 20000
[log]
level = "info"
file = "$work/sluice.log"
[[domain]]
name = "bench.test"
any_user = true
$extra
TOML
"$bin" serve --config "$work/sluice.toml" 2>"$work/stderr" &
pid=$!
for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.05; done
newdir="$work/data/mail/bench.test/user/new"
send() { smtp-source -s 50 -m "$1" -l "$size" -f a@loadgen.test -t user@bench.test \
    -M loadgen.test 127.0.0.1:$port; }
wait_for() { while [ "$(ls "$newdir" 2>/dev/null | wc -l)" -lt "$1" ]; do sleep 0.02; done; }

# Per thread name: threads, context switches, CPU ticks.
snapshot() {
    for t in /proc/$pid/task/*; do
        echo "$(cat "$t/comm") $(awk '/^(non)?voluntary_ctxt/ {s += $2} END {print s}' "$t/status") \
$(awk '{print $14 + $15}' "$t/stat")"
    done | awk '{c[$1] += $2; u[$1] += $3; k[$1]++} END {for (x in c) print x, k[x], c[x], u[x]}' |
        sort
}

send 2000 && wait_for 2000  # warm up: slots exist, caches are hot
snapshot >"$work/before"
if [ -n "${SYSCALLS:-}" ]; then  # per-thread system call counts (slows the run down)
    perf trace -s -p "$pid" -o "$work/syscalls" &
    tracer=$!
    sleep 1
fi
start=$(date +%s.%N)
send "$n"
accepted=$(date +%s.%N)
wait_for $((n + 2000))
done_at=$(date +%s.%N)
snapshot >"$work/after"
if [ -n "${SYSCALLS:-}" ]; then
    kill -INT "$tracer"
    wait "$tracer" || true
    awk -v n="$n" '/\(/ && /[0-9]+\)/ { print; next } $1 ~ /^[a-z_0-9]+$/ && $2 ~ /^[0-9]+$/ {
        printf "    %-20s %6.2f per message\n", $1, $2 / n }' "$work/syscalls"
fi
hz=$(getconf CLK_TCK)
awk -v n="$n" -v s="$start" -v a="$accepted" -v d="$done_at" 'BEGIN {
    printf "accepted/s %.0f   end-to-end/s %.0f\n", n / (a - s), n / (d - s) }'
join "$work/before" "$work/after" | awk -v n="$n" -v hz="$hz" '{
    printf "%-16s threads %2d   switches/msg %5.2f   cpu ms/msg %.3f\n", $1, $5, ($6 - $3) / n,
        ($7 - $4) * 1000 / hz / n; cs += $6 - $3; cpu += $7 - $4 }
    END { printf "%-16s            switches/msg %5.2f   cpu ms/msg %.3f\n", "total", cs / n,
        cpu * 1000 / hz / n }'
