#!/usr/bin/env bash
# Smart vs direct spawning of the heavy stub apps (crates/ferry-test-support/apps/heavy-ruby and
# heavy-python: their load sleeps 1 s, then builds a large read-only structure):
#
#   - spawn latency: the first spawn (for smart: the preloader's start too) and the median of the
#     later ones (target: smart >= 10x faster than direct);
#   - private dirty memory per worker after one request, from /proc/PID/smaps_rollup, the measure
#     Ferry's memory limits use (target: smart <= 40 % of direct).
#
# Usage (from anywhere):
#   bash bench/smart-spawn.sh [--workers N] [--langs ruby,python]
#
# Builds `ferry` (the environment setupper) and the ferry-spawn examples in release mode, then runs
# target/release/examples/smart_spawn, which drives Ferry's spawner directly (no pool, no HTTP).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

ARGS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --workers|--langs) ARGS+=("$1" "${2:?$1 needs a value}"); shift 2 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "smart-spawn.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
done

TARGET="${CARGO_TARGET_DIR:-target}"
cargo build --release -p ferry >&2
cargo build --release -p ferry-spawn --example smart_spawn >&2

echo "ruby: $(ruby -v 2>/dev/null || echo missing)"
echo "python: $(python3 -V 2>/dev/null || echo missing)"
echo "CPUs: $(nproc); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
"$TARGET/release/examples/smart_spawn" --ferry "$TARGET/release/ferry" ${ARGS[@]+"${ARGS[@]}"}
