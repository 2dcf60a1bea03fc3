#!/usr/bin/env bash
# Does spawning several processes of one app at once help? Ferry's `--max-parallel-spawns`
# (Passenger: always 1) measured on a cold start under a deep queue.
#
# Usage (from the repo root):
#   bash bench/parallel-spawn.sh [--requests N] [--pool N] [--busy N] [--no-build]
#
#   --requests N   concurrent requests fired at a cold Ferry (default 16)
#   --pool N       --max-pool-size (default 4)
#   --busy N       keep N CPU-bound busy loops running meanwhile (default 0): a machine whose
#                  cores are taken by other work, such as other apps serving
#   --no-build     use target/release/ferry as it is
#
# The app (bench/apps/rack-slowboot) boots in about a second, either sleeping (BOOT=io: waiting
# on a database, say) or computing (BOOT=cpu), and each request takes 0.5 s. For each boot kind
# and each bound (1, 2, 4), a fresh Ferry gets N concurrent requests at once; the table shows the
# time until the last answer and how many processes served them. Three runs each; the median.
# The busy loops are started and stopped by this script (bounded by its own run).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

REQUESTS=16
POOL=4
BUSY=0
BUILD=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --requests) REQUESTS="${2:?}"; shift 2 ;;
    --pool) POOL="${2:?}"; shift 2 ;;
    --busy) BUSY="${2:?}"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "parallel-spawn.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
done

WORK="$(mktemp -d /tmp/ferry-parallel-spawn.XXXXXX)"
log() { echo "parallel-spawn: $*" >&2; }
# shellcheck source=bench/lib.sh
source bench/lib.sh

command -v curl >/dev/null || apt_install curl
command -v ruby >/dev/null || apt_install ruby ruby-rack
[[ $BUILD == 1 ]] && cargo build --release -p ferry >&2
FERRY="${FERRY_BIN:-target/release/ferry}"

# one_run BOOT BOUND: prints "SECONDS PROCESSES"
one_run() {
  local boot="$1" bound="$2" out="$WORK/out" port
  setsid "$FERRY" start bench/apps/rack-slowboot --address 127.0.0.1 --port 0 \
    --max-pool-size "$POOL" --min-instances 1 --max-request-queue-size 0 \
    --max-parallel-spawns "$bound" --envvar "BOOT=$boot" >"$out" 2>"$WORK/log" &
  local pid=$!
  STARTED_PGIDS+=("$pid")
  for _ in $(seq 100); do
    port="$(sed -n 's|^ferry: listening on http://127.0.0.1:\([0-9]*\).*|\1|p' "$out")"
    [[ -n "$port" ]] && break
    sleep 0.05
  done
  local t0 t1
  t0="$(date +%s.%N)"
  local clients=()
  for i in $(seq "$REQUESTS"); do
    curl -s -m 60 "http://127.0.0.1:$port/" >"$WORK/r$i" &
    clients+=("$!")
  done
  wait "${clients[@]}" || true
  t1="$(date +%s.%N)"
  local served
  served="$(for f in "$WORK"/r*; do cat "$f"; echo; done | sort -u | grep -c . || true)"
  rm -f "$WORK"/r*
  kill_tree "$pid"
  forget_pgid "$pid"
  echo "$(echo "$t1 - $t0" | bc) $served"
}

median() { sort -n | sed -n '2p'; }

BUSY_PIDS=()
for _ in $(seq "$BUSY"); do
  setsid bash -c 'while :; do :; done' &
  BUSY_PIDS+=("$!")
  STARTED_PGIDS+=("$!")
done

printf '%-6s %-6s %14s %10s\n' boot bound "drain time (s)" processes
for boot in io cpu; do
  for bound in 1 2 4; do
    times=()
    procs=0
    for _ in 1 2 3; do
      # Not in a subshell: the EXIT trap must know the Ferry it started.
      one_run "$boot" "$bound" >"$WORK/timing"
      read -r t p <"$WORK/timing"
      times+=("$t")
      procs="$p"
    done
    printf '%-6s %-6s %14.2f %10s\n' "$boot" "$bound" "$(printf '%s\n' "${times[@]}" | median)" "$procs"
  done
done

for p in "${BUSY_PIDS[@]+"${BUSY_PIDS[@]}"}"; do kill_tree "$p"; forget_pgid "$p"; done
