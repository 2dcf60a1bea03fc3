#!/usr/bin/env bash
# Ferry spawn overhead: time from "spawn start" to "ready" for a trivial generic app, through
# Ferry's DirectSpawner vs. a bare `/bin/sh -c "exec APP"` of the same app.
#
# Usage (from anywhere):
#   bash bench/spawn.sh [--runs N] [--warmup N] [--spawn-dir DIR]
#
#   --runs N          counted starts per variant (default 50)
#   --warmup N        uncounted rounds first (default 3)
#   --spawn-dir DIR   also measure Ferry with its work directories in DIR (default: $TMPDIR or /tmp, to
#                     compare with the default /dev/shm; pass --spawn-dir "" to skip that variant)
#
# Builds `ferry` and the ferry-spawn examples in release mode, then runs
# target/release/examples/spawn_overhead against target/release/examples/tiny_listener.
# See bench/README.md ("Spawn overhead") for how to read the output.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

ARGS=()
SPAWN_DIR="${TMPDIR:-/tmp}"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --runs|--warmup) ARGS+=("$1" "${2:?$1 needs a value}"); shift 2 ;;
    --spawn-dir) SPAWN_DIR="${2?--spawn-dir needs a value}"; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "spawn.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
done
if [[ -n "$SPAWN_DIR" && -d "$SPAWN_DIR" && -w "$SPAWN_DIR" ]]; then
  ARGS+=(--spawn-dir "$SPAWN_DIR")
fi

cargo build --release -p ferry
cargo build --release -p ferry-spawn --examples

target/release/examples/spawn_overhead \
  --ferry target/release/ferry \
  --app target/release/examples/tiny_listener \
  ${ARGS[@]+"${ARGS[@]}"}
