#!/usr/bin/env bash
# Ferry pool benchmark, the "seed-style queueing case": a Rack app whose every request sleeps
# 50 ms, served with 2 app processes (one request at a time each, or 5 threads each) by Ferry,
# Puma and Passenger Standalone, with more connections than the servers can serve at once.
#
# Usage (from the repo root):
#   bash bench/pool.sh [--duration SECS] [--connections LIST] [--targets LIST] [--raw-dir DIR]
#                      [--no-build]
#
#   --duration SECS     length of each measured wrk run (default 10)
#   --connections LIST  comma-separated wrk connection counts, each measured in turn (default 16,64)
#   --targets LIST      comma-separated subset of ferry-process,ferry-thread,puma,passenger
#                       (default: all of them)
#   --raw-dir DIR       also copy the raw wrk outputs and server logs into DIR
#   --no-build          use the ferry binary as it is instead of `cargo build --release -p ferry`
#                       (also implied when FERRY_BIN is set: FERRY_BIN=/path/to/ferry is used as is)
#
# Every target is started alone on a 127.0.0.1 port, checked (GET / must return 200 and exactly
# "ok\n"), warmed up (2 s of wrk), measured with `wrk -t2 -cN -dSs --latency --timeout 10s` for
# each N, its RSS summed right after each run, and stopped before the next one starts. A target
# that cannot run gets an "unavailable: <reason>" row and the run goes on.
# See bench/README.md ("Pool benchmark") for what each target runs and how to read the output.
set -euo pipefail

DURATION=10
CONNECTIONS_LIST="16,64"
ALL_TARGETS="ferry-process,ferry-thread,puma,passenger"
TARGETS="$ALL_TARGETS"
RAW_DIR=""
BUILD=1
WARMUP_SECS=2
WRK_THREADS=2
# Longer than any queueing delay here (64 connections / 33 req/s ~ 2 s), so that slow requests are
# measured instead of being counted as wrk timeouts and left out of the latency distribution.
WRK_TIMEOUT=10s
EXPECTED_BODY=$'ok\n'
APP=rack-sleep
SLEEP_SECS=0.05
PROCS=2
THREADS=5

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration) DURATION="${2:?--duration needs a value}"; shift 2 ;;
    --duration=*) DURATION="${1#*=}"; shift ;;
    --connections) CONNECTIONS_LIST="${2:?--connections needs a value}"; shift 2 ;;
    --connections=*) CONNECTIONS_LIST="${1#*=}"; shift ;;
    --targets) TARGETS="${2:?--targets needs a value}"; shift 2 ;;
    --targets=*) TARGETS="${1#*=}"; shift ;;
    --raw-dir) RAW_DIR="${2:?--raw-dir needs a value}"; shift 2 ;;
    --raw-dir=*) RAW_DIR="${1#*=}"; shift ;;
    --no-build) BUILD=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done

[[ "$DURATION" =~ ^[1-9][0-9]*$ ]] || { echo "bench: --duration must be a positive integer (seconds)" >&2; exit 2; }
CONNECTIONS=()
for n in ${CONNECTIONS_LIST//,/ }; do
  [[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "bench: --connections must be a comma-separated list of positive integers" >&2; exit 2; }
  CONNECTIONS+=("$n")
done
(( ${#CONNECTIONS[@]} > 0 )) || { echo "bench: --connections is empty" >&2; exit 2; }
for t in ${TARGETS//,/ }; do
  [[ ",$ALL_TARGETS," == *",$t,"* ]] || { echo "bench: unknown target: $t (known: $ALL_TARGETS)" >&2; exit 2; }
done

if [[ ! -f Cargo.toml || ! -d "bench/apps/$APP" ]]; then
  echo "bench: run this from the repo root (bash bench/pool.sh)" >&2
  exit 2
fi
REPO_ROOT="$(pwd)"
APPS="$REPO_ROOT/bench/apps"

log() { printf 'bench: %s\n' "$*" >&2; }

# ---------------------------------------------------------------------------
# Process bookkeeping, cleanup and the helpers shared with run.sh and loaders.sh: bench/lib.sh
# ---------------------------------------------------------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/ferry-bench-pool.XXXXXX")"
# Ferry and Passenger run the app as another user (nobody) when we are root: let it read the copies.
chmod 755 "$WORK"

# shellcheck source=bench/lib.sh
source "$REPO_ROOT/bench/lib.sh"

# ---------------------------------------------------------------------------
# Tools: wrk and curl are required; ruby, rack, puma and passenger only for the targets that
# use them. One apt-get run (when root) for everything that is missing.
# ---------------------------------------------------------------------------
has_rack() { [[ -n "$(interp ruby)" ]] && "$(interp ruby)" -e 'require "rack"' >/dev/null 2>&1; }

need wrk
need curl
[[ -n "$(interp ruby)" ]] || MISSING+=(ruby)
has_rack || MISSING+=(ruby-rack)
want puma && need puma
want passenger && need passenger
install_missing || log "could not install: ${MISSING[*]} (the targets that need them will be unavailable)"
require_tools wrk curl

# As root Ferry and Passenger run the app as `nobody`, which cannot use a Ruby under /root
# (rbenv, rvm): prefer /usr/bin/ruby.
RUBY_BIN="$(interp ruby)"
RACK_OK=0; has_rack && RACK_OK=1
PUMA_BIN="$(command -v puma 2>/dev/null || true)"
PASSENGER_BIN="$(command -v passenger 2>/dev/null || true)"
PYTHON_BIN="$(interp python3)"

# ---------------------------------------------------------------------------
# Helpers (the ones shared with bench/loaders.sh are in bench/lib.sh)
# ---------------------------------------------------------------------------
# to_ms VALUE: a wrk duration (850.00us, 51.23ms, 1.20s, 1.05m) in ms, 1 decimal; "?" otherwise.
to_ms() {
  awk -v v="$1" 'BEGIN {
    if (match(v, /^[0-9.]+/)) { n = substr(v, 1, RLENGTH) + 0; u = substr(v, RLENGTH + 1) } else { print "?"; exit }
    f = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : (u == "h") ? 3600000 : -1
    if (f < 0) print "?"; else printf "%.1f", n * f
  }'
}

# Ceiling: the most requests per second the app capacity allows, PROCS x concurrency / 50 ms.
declare -A CEILING=(
  [ferry-process]="$(awk -v p="$PROCS" -v s="$SLEEP_SECS" 'BEGIN { printf "%d", p / s }')"
  [ferry-thread]="$(awk -v p="$PROCS" -v t="$THREADS" -v s="$SLEEP_SECS" 'BEGIN { printf "%d", p * t / s }')"
  [puma]="$(awk -v p="$PROCS" -v t="$THREADS" -v s="$SLEEP_SECS" 'BEGIN { printf "%d", p * t / s }')"
  [passenger]="$(awk -v p="$PROCS" -v s="$SLEEP_SECS" 'BEGIN { printf "%d", p / s }')"
)

ROW_KEYS=()       # "target conns" or "target -" (unavailable), in the order they ran
declare -A RESULT # "target conns" -> "rps p50ms p99ms sockerr non2xx requests cpu%|rss"
declare -A UNAVAILABLE

add_result() { # add_result TARGET CONNS WRKFILE RSS CPU%
  local rps p50 p99 sock non2xx total
  read -r rps p50 p99 sock non2xx total < <(parse_wrk "$3")
  ROW_KEYS+=("$1 $2")
  RESULT["$1 $2"]="$rps $(to_ms "$p50") $(to_ms "$p99") $sock $non2xx $total $5|$4"
  (( sock > 0 )) && NOTES+=("$1 at $2 connections: $sock wrk socket errors (connect/read/write/timeout); see the raw wrk output (--raw-dir)")
  (( non2xx > 0 )) && NOTES+=("$1 at $2 connections: $non2xx non-2xx responses; see the server log (--raw-dir)")
  return 0
}
add_unavailable() { # add_unavailable TARGET REASON
  local why
  why="$(one_line "$2")"
  ROW_KEYS+=("$1 -")
  UNAVAILABLE["$1"]="$why"
  log "$1: unavailable: $why"
}

# measure TARGET PORT ROOT...: warm up, then for each connection count run wrk and record the
# row with the CPU used by the roots' process trees during the run (% of one CPU) and their RSS
# right after it.
measure() {
  local target="$1" port="$2" n cpu0 cpu1 t0 t1 cpu_pct out; shift 2
  warm_up "$port" "$target" "${CONNECTIONS[0]}" settle
  for n in "${CONNECTIONS[@]}"; do
    log "$target: measuring ${DURATION}s at $n connections"
    out="$WORK/$target.c$n.wrk.txt"
    cpu0="$(tree_cpu "$@")"; t0="$(date +%s.%N)"
    run_wrk "$port" "$n" "$DURATION" "$out"
    cpu1="$(tree_cpu "$@")"; t1="$(date +%s.%N)"
    cpu_pct="$(awk -v a="$cpu0" -v b="$cpu1" -v t0="$t0" -v t1="$t1" -v hz="$CLK_TCK" \
      'BEGIN { if (t1 > t0) printf "%.0f%%", 100 * (b - a) / hz / (t1 - t0); else printf "?" }')"
    add_result "$target" "$n" "$out" "$(tree_rss "$WORK/$target.c$n.procs.txt" "$@")" "$cpu_pct"
    if ! settle "$port"; then NOTES+=("$target: 30 s after the run at $n connections, GET / still slow or wrong ($(what_we_got), ${LAST_TIME:-?} s)"); fi
    save_raw "$target" "$out" "$WORK/$target.c$n.procs.txt"
  done
}

# ---------------------------------------------------------------------------
# Build
# ---------------------------------------------------------------------------
FERRY_UNAVAILABLE=""
if [[ -n "${FERRY_BIN:-}" ]]; then
  BUILD=0
  [[ "$FERRY_BIN" == /* ]] || FERRY_BIN="$REPO_ROOT/$FERRY_BIN"
else
  FERRY_BIN="$REPO_ROOT/target/release/ferry"
fi
if want_any ferry-process ferry-thread; then
  build_ferry "use --no-build with an existing target/release/ferry, or FERRY_BIN" "no ferry binary at $FERRY_BIN"
fi

log "duration ${DURATION}s, connections ${CONNECTIONS[*]}, ${WRK_THREADS} wrk threads, $(nproc) CPUs; work dir $WORK"

# ---------------------------------------------------------------------------
# Ferry
# ---------------------------------------------------------------------------
# bench_ferry TARGET EXTRA_FLAG...
bench_ferry() {
  local target="$1" dir; shift
  if [[ -n "$FERRY_UNAVAILABLE" ]]; then add_unavailable "$target" "$FERRY_UNAVAILABLE"; return 0; fi
  if [[ -z "$RUBY_BIN" ]]; then add_unavailable "$target" "ruby is not installed"; return 0; fi
  if (( RACK_OK == 0 )); then add_unavailable "$target" "$RUBY_BIN cannot require \"rack\" (apt-get install ruby-rack)"; return 0; fi
  dir="$(app_copy "$target" "$APP")"
  run_ferry "$target" "$dir" ok "$PROCS $APP processes${*:+ $*}" \
    "$FERRY_BIN" start "$dir/app" --address 127.0.0.1 --port 0 \
    --max-pool-size "$PROCS" --min-instances "$PROCS" --max-request-queue-size 0 "$@" --ruby "$RUBY_BIN"
}

# ---------------------------------------------------------------------------
# Passenger Standalone, builtin engine, process model (OSS has no thread model)
# ---------------------------------------------------------------------------
bench_passenger() {
  local target=passenger dir port
  if [[ -z "$PASSENGER_BIN" ]]; then
    add_unavailable "$target" "the passenger command is not installed (apt-get install passenger)"; return 0
  fi
  if [[ -z "$RUBY_BIN" ]]; then add_unavailable "$target" "ruby is not installed"; return 0; fi
  dir="$(app_copy "$target" "$APP")"
  port="$(free_port)"
  passenger_flags "$dir" "$port" \
    --max-pool-size "$PROCS" --min-instances "$PROCS" --max-request-queue-size 0 --environment production \
    --app-type rack --startup-file config.ru --ruby "$RUBY_BIN"
  run_passenger "$target" "$dir" "$port" ok "${PASSENGER_FLAGS[@]}"
}

# ---------------------------------------------------------------------------
# Puma: 2 workers x 5 threads, on a port we pick
# ---------------------------------------------------------------------------
bench_puma() {
  if [[ -z "$PUMA_BIN" ]]; then add_unavailable puma "the puma command is not installed (apt-get install puma)"; return 0; fi
  local port; port="$(free_port)"
  run_plain puma "$APP" "$port" ok \
    "$PUMA_BIN" -w "$PROCS" -t "$THREADS:$THREADS" -b "tcp://127.0.0.1:$port" -e production config.ru
}

# ---------------------------------------------------------------------------
# Run
# ---------------------------------------------------------------------------
want ferry-process && bench_ferry ferry-process
want ferry-thread && bench_ferry ferry-thread --concurrency-model thread --thread-count "$THREADS"
want puma && bench_puma
want passenger && bench_passenger

# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------
echo
echo "Ferry pool benchmark: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, wrk -t$WRK_THREADS -cN -d${DURATION}s --latency --timeout $WRK_TIMEOUT, GET / -> sleep ${SLEEP_SECS} s, \"ok\""
echo "ruby ${RUBY_BIN:-none} ($("${RUBY_BIN:-false}" -e 'print RUBY_VERSION' 2>/dev/null || echo ?)), rack $("${RUBY_BIN:-false}" -e 'require "rack"; print Rack.release' 2>/dev/null || echo ?), puma $("${PUMA_BIN:-false}" --version 2>/dev/null | awk '{print $3}' || echo ?), $("${PASSENGER_BIN:-false}" --version 2>/dev/null | head -n1 || echo 'passenger ?'), ferry $(git -C "$REPO_ROOT" describe --always --dirty 2>/dev/null || echo ?)"
echo
echo "| target        | conns |   req/s | ceiling |  p50 ms |  p99 ms | non-2xx | sock err | requests | CPU  | RSS after the run  | x puma |"
echo "|---------------|-------|---------|---------|---------|---------|---------|----------|----------|------|--------------------|--------|"
for key in "${ROW_KEYS[@]+"${ROW_KEYS[@]}"}"; do
  target="${key% *}"; n="${key#* }"
  if [[ "$n" == "-" ]]; then
    printf '| %-13s | unavailable: %s |\n' "$target" "${UNAVAILABLE[$target]}"
    continue
  fi
  v="${RESULT[$key]}"; rss="${v#*|}"; v="${v%%|*}"
  read -r rps p50 p99 sock non2xx total cpu <<<"$v"
  puma_rps=""
  [[ -n "${RESULT["puma $n"]:-}" ]] && puma_rps="${RESULT["puma $n"]%% *}"
  printf '| %-13s | %5s | %7s | %7s | %7s | %7s | %7s | %8s | %8s | %4s | %-18s | %6s |\n' \
    "$target" "$n" "$rps" "${CEILING[$target]}" "$p50" "$p99" "$non2xx" "$sock" "$total" "$cpu" "$rss" "$(ratio "$rps" "$puma_rps")"
done
echo
echo "ceiling: $PROCS processes x (1 request, or $THREADS threads) / ${SLEEP_SECS} s. CPU: user+system time of the server's"
echo "process tree during the run, in % of one CPU. x puma: req/s over puma's req/s at the same connection count."
echo "passenger-thread: not measured, Passenger's thread concurrency model is Enterprise-only."
echo
print_commands
print_loads_and_notes
