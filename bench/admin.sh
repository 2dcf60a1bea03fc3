#!/usr/bin/env bash
# Ferry admin and observability benchmark (issue 7): what the metrics cost on the request path,
# and how long `ferry status` takes with 100 app processes.
#
# Usage (from the repo root):
#   bash bench/admin.sh [--duration SECS] [--connections N] [--rounds N] [--processes N]
#                       [--runs N] [--raw-dir DIR] [--no-build]
#
#   --duration SECS     length of each measured wrk run (default 10)
#   --connections N     concurrent wrk connections (default 16)
#   --rounds N          metrics on / off pairs, alternated to spread drift evenly (default 3)
#   --processes N       app processes for the `ferry status` latency part (default 100)
#   --runs N            timed runs of each `ferry status` variant (default 20)
#   --raw-dir DIR       also copy the raw wrk outputs and server logs into DIR
#   --no-build          use the ferry binary as it is instead of `cargo build --release -p ferry`
#
# The binary is $FERRY_BIN, else $CARGO_TARGET_DIR/release/ferry, else target/release/ferry. It
# finds the loaders in the nearest directory above it that has loaders/ (link the repo's loaders/
# into a CARGO_TARGET_DIR outside the repo).
#
# Part 1, cost of observability: the Node hello app (bench/apps/node-hello, one process) under
# `ferry start` with metrics on (the default) and with --disable-metrics, one after the other for
# each round; each run is checked, warmed up (2 s of wrk) and measured with `wrk -t2 -cN -dSs`.
# The table gives each run's requests/s, the median per variant and the ratio on/off (target:
# at least 0.98).
# Part 2, `ferry status` with N processes: the WSGI hello app (bench/apps/wsgi-hello; its
# processes are forked from one preloader, the cheapest real app process) under `ferry start
# --max-pool-size N --min-instances N`; once N processes are up, `ferry status` as text, JSON and
# XML, and GET /metrics over the admin socket, are each timed RUNS times: median and p95.
set -euo pipefail

DURATION=10
CONNECTIONS=16
ROUNDS=3
PROCESSES=100
RUNS=20
RAW_DIR=""
BUILD=1
WARMUP_SECS=2
WRK_THREADS=2
EXPECTED_BODY="hello world"

usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration) DURATION="${2:?--duration needs a value}"; shift 2 ;;
    --duration=*) DURATION="${1#*=}"; shift ;;
    --connections) CONNECTIONS="${2:?--connections needs a value}"; shift 2 ;;
    --connections=*) CONNECTIONS="${1#*=}"; shift ;;
    --rounds) ROUNDS="${2:?--rounds needs a value}"; shift 2 ;;
    --rounds=*) ROUNDS="${1#*=}"; shift ;;
    --processes) PROCESSES="${2:?--processes needs a value}"; shift 2 ;;
    --processes=*) PROCESSES="${1#*=}"; shift ;;
    --runs) RUNS="${2:?--runs needs a value}"; shift 2 ;;
    --runs=*) RUNS="${1#*=}"; shift ;;
    --raw-dir) RAW_DIR="${2:?--raw-dir needs a value}"; shift 2 ;;
    --raw-dir=*) RAW_DIR="${1#*=}"; shift ;;
    --no-build) BUILD=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done
for v in DURATION CONNECTIONS ROUNDS PROCESSES RUNS; do
  [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || { echo "bench: --${v,,} must be a positive integer" >&2; exit 2; }
done
if (( CONNECTIONS < WRK_THREADS )); then WRK_THREADS=$CONNECTIONS; fi
if [[ ! -f Cargo.toml || ! -d bench/apps/node-hello ]]; then
  echo "bench: run this from the repo root (bash bench/admin.sh)" >&2
  exit 2
fi
REPO_ROOT="$(pwd)"
APPS="$REPO_ROOT/bench/apps"
log() { printf 'bench: %s\n' "$*" >&2; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/ferry-bench-admin.XXXXXX")"
chmod 755 "$WORK"
# shellcheck source=bench/lib.sh
source "$REPO_ROOT/bench/lib.sh"

need wrk
need curl
install_missing || { log "could not install: ${MISSING[*]}"; exit 1; }
require_tools wrk curl
NODE_BIN="$(interp node)"
[[ -z "$NODE_BIN" ]] && NODE_BIN="$(interp nodejs)"
PYTHON_BIN="$(interp python3)"

FERRY_BIN="${FERRY_BIN:-${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/ferry}"
FERRY_UNAVAILABLE=""
build_ferry "use --no-build with an existing binary" "no binary at $FERRY_BIN"

# ---------------------------------------------------------------------------
# Part 1: requests/s with metrics on and off
# ---------------------------------------------------------------------------
ROWS=()
declare -A RUN_RPS # "variant round" -> req/s
add_row() { # add_row TARGET WRKFILE
  local rps p50 p99 sock non2xx total errs
  read -r rps p50 p99 sock non2xx total < <(parse_wrk "$2")
  errs=$(( sock + non2xx ))
  RUN_RPS[$1]="$rps"
  ROWS+=("$(printf '| %-16s | %9s | %8s | %8s | %6s | %9s | %5s |' "$1" "$rps" "$p50" "$p99" "$errs" "$total" "$CPU_BUSY")")
  (( errs > 0 )) && NOTES+=("$1: $errs wrk errors (socket errors + non-2xx)")
  return 0
}
add_unavailable() {
  ROWS+=("$(printf '| %-16s | unavailable: %s |' "$1" "$(one_line "$2")")")
  log "$1: unavailable: $2"
}
measure() {
  local target="$1" port="$2"; shift 2
  warm_up "$port" "$target" "$CONNECTIONS"
  log "$target: measuring for ${DURATION}s"
  run_wrk "$port" "$CONNECTIONS" "$DURATION" "$WORK/$target.wrk.txt"
  add_row "$target" "$WORK/$target.wrk.txt"
  if ! check_body "$port"; then NOTES+=("$target: after the run, $(what_we_got)"); fi
  save_raw "$target" "$WORK/$target.wrk.txt"
}

# median VALUE... -> the median (mean of the two middle values for an even count), or n/a
median() {
  printf '%s\n' "$@" | grep -E '^[0-9.]+$' | sort -g | awk '
    { v[NR] = $1 } END {
      if (NR == 0) { printf "n/a"; exit }
      if (NR % 2) printf "%.2f", v[(NR + 1) / 2]; else printf "%.2f", (v[NR / 2] + v[NR / 2 + 1]) / 2
    }'
}

log "part 1: $ROUNDS rounds of metrics on/off, ${DURATION}s each, ${CONNECTIONS} connections, $(nproc) CPUs; work dir $WORK"
for ((round = 1; round <= ROUNDS; round++)); do
  for variant in on off; do
    target="metrics-$variant-$round"
    if [[ -n "$FERRY_UNAVAILABLE" ]]; then add_unavailable "$target" "$FERRY_UNAVAILABLE"; continue; fi
    if [[ -z "$NODE_BIN" ]]; then add_unavailable "$target" "no node interpreter"; continue; fi
    dir="$(app_copy "$target" node-hello)"
    flags=(--address 127.0.0.1 --port 0 --max-pool-size 1 --min-instances 1
      --instance-registry-dir "$dir/registry" --nodejs "$NODE_BIN")
    [[ "$variant" == off ]] && flags+=(--disable-metrics)
    run_ferry "$target" "$dir" "$EXPECTED_BODY" "metrics $variant" \
      "$FERRY_BIN" start "$dir/app" "${flags[@]}"
  done
done

# ---------------------------------------------------------------------------
# Part 2: `ferry status` latency with PROCESSES processes
# ---------------------------------------------------------------------------
declare -A LAT_MEDIAN LAT_P95
STATUS_UNAVAILABLE=""
STATUS_NOTE=""

# ms_since START_NS -> milliseconds since START_NS (date +%s%N), 1 decimal
ms_since() { awk -v a="$1" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e6 }'; }

# time_runs NAME CMD...: run CMD RUNS times (output discarded; a failure stops the timing),
# recording each duration; sets LAT_MEDIAN[NAME] and LAT_P95[NAME] (nearest rank).
time_runs() {
  local name="$1" i start times=(); shift
  for ((i = 0; i < RUNS; i++)); do
    start="$(date +%s%N)"
    if ! "$@" >"$WORK/status.$name.out" 2>&1; then
      NOTES+=("status-$name: run $i failed: $(last_lines "$WORK/status.$name.out")")
      break
    fi
    times+=("$(ms_since "$start")")
  done
  printf '%s\n' "${times[@]+"${times[@]}"}" >"$WORK/status.$name.times"
  save_raw "status" "$WORK/status.$name.times" "$WORK/status.$name.out"
  LAT_MEDIAN[$name]="$(median "${times[@]+"${times[@]}"}" | awk '{ printf($1 == "n/a" ? "%s" : "%.1f", $1) }')"
  LAT_P95[$name]="$(printf '%s\n' "${times[@]+"${times[@]}"}" | sort -g | awk '
    { v[NR] = $1 } END { if (NR == 0) { printf "n/a"; exit } r = int(0.95 * NR + 0.999999); printf "%.1f", v[r] }')"
}

# process_count REGISTRY -> the pool's process count, from `ferry status --format json`
process_count() {
  "$FERRY_BIN" status --format json --instance-registry-dir "$1" 2>/dev/null |
    awk -F'[:,]' '/"process_count"/ { gsub(/ /, "", $2); print $2; exit }'
}

status_part() {
  local dir pid port registry i n="" mem
  if [[ -n "$FERRY_UNAVAILABLE" ]]; then STATUS_UNAVAILABLE="$FERRY_UNAVAILABLE"; return; fi
  if [[ -z "$PYTHON_BIN" ]]; then STATUS_UNAVAILABLE="no python3 interpreter"; return; fi
  dir="$(app_copy status wsgi-hello)"
  registry="$dir/registry"
  CMDS+=("status: $FERRY_BIN start <app copy> --address 127.0.0.1 --port 0 --max-pool-size $PROCESSES --min-instances $PROCESSES --instance-registry-dir <tmp>/registry --python $PYTHON_BIN")
  sample_load status
  log "part 2: ferry status with $PROCESSES processes (CPU busy with other work: $CPU_BUSY)"
  start_bg "$dir/app" "$dir/ferry.out" "$dir/ferry.err" env TMPDIR="$dir/tmp" \
    "$FERRY_BIN" start "$dir/app" --address 127.0.0.1 --port 0 \
    --max-pool-size "$PROCESSES" --min-instances "$PROCESSES" \
    --instance-registry-dir "$registry" --python "$PYTHON_BIN"
  pid="$SERVER_PID"
  port="$(ferry_port "$dir/ferry.out" "$pid")"
  if [[ -z "$port" ]]; then
    STATUS_UNAVAILABLE="no 'ferry: listening on' line within 30 s: $(last_lines "$dir/ferry.err")"
  elif ! wait_ready "$port" 60 "$pid"; then
    STATUS_UNAVAILABLE="ferry did not serve the app ($(what_we_got)): $(last_lines "$dir/ferry.err")"
  else
    # The first request started the pool; --min-instances fills it. Bounded: 180 s.
    local start=$SECONDS
    for ((i = 0; i < 900; i++)); do
      n="$(process_count "$registry")"
      [[ "$n" == "$PROCESSES" ]] && break
      alive "$pid" || break
      sleep 0.2
    done
    if [[ "$n" != "$PROCESSES" ]]; then
      STATUS_UNAVAILABLE="only ${n:-0} of $PROCESSES processes up after $(( SECONDS - start )) s: $(last_lines "$dir/ferry.err")"
    else
      mem="$(tree_rss "$WORK/status.procs.txt" "$pid")"
      STATUS_NOTE="$PROCESSES processes up in $(( SECONDS - start )) s; Ferry and its processes: $mem RSS"
      log "status: $STATUS_NOTE; timing $RUNS runs of each"
      local sock
      for sock in "$registry"/ferry.*/admin.sock; do break; done
      time_runs text "$FERRY_BIN" status --instance-registry-dir "$registry"
      time_runs json "$FERRY_BIN" status --format json --instance-registry-dir "$registry"
      time_runs xml "$FERRY_BIN" status --format xml --instance-registry-dir "$registry"
      time_runs metrics curl -sf --max-time 10 --unix-socket "$sock" \
        -u "ro_admin:$(cat "$(dirname "$sock")/read_only_admin_password.txt")" http://localhost/metrics
      if [[ "$(grep -c '^  \* PID: ' "$WORK/status.text.out" || true)" != "$PROCESSES" ]]; then
        NOTES+=("status: the text output does not list $PROCESSES processes")
      fi
    fi
  fi
  stop_term "$pid" "status: ferry"
  save_raw status "$dir/ferry.out" "$dir/ferry.err"
}
status_part

# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------
on=() off=() pairs=()
for ((round = 1; round <= ROUNDS; round++)); do
  on+=("${RUN_RPS[metrics-on-$round]:-}")
  off+=("${RUN_RPS[metrics-off-$round]:-}")
  pairs+=("$(ratio "${RUN_RPS[metrics-on-$round]:-}" "${RUN_RPS[metrics-off-$round]:-}")")
done
MED_ON="$(median "${on[@]}")"
MED_OFF="$(median "${off[@]}")"

echo
echo "Ferry admin benchmark"
echo
echo "1. Cost of observability: Node hello app, 1 process, ${DURATION}s per run, ${CONNECTIONS} connections"
echo
printf '| %-16s | %9s | %8s | %8s | %6s | %9s | %5s |\n' run "req/s" p50 p99 errors requests busy
printf '|%s|%s|%s|%s|%s|%s|%s|\n' ------------------ ----------- ---------- ---------- -------- ----------- -------
for row in "${ROWS[@]}"; do echo "$row"; done
echo
echo "median req/s: metrics on $MED_ON, metrics off (--disable-metrics) $MED_OFF"
echo "metrics on / off: $(ratio "$MED_ON" "$MED_OFF")x of the medians; per round ${pairs[*]}, median $(median "${pairs[@]}")x (target >= 0.98)"
echo "(the machine's other load moves between runs: compare the busy column; the per-round ratio pairs runs made back to back)"
echo
echo "2. ferry status with $PROCESSES processes (WSGI hello app), $RUNS runs each, milliseconds"
echo
if [[ -n "$STATUS_UNAVAILABLE" ]]; then
  echo "unavailable: $(one_line "$STATUS_UNAVAILABLE")"
else
  printf '| %-34s | %8s | %8s |\n' command median p95
  printf '|%s|%s|%s|\n' ------------------------------------ ---------- ----------
  printf '| %-34s | %8s | %8s |\n' "ferry status" "${LAT_MEDIAN[text]}" "${LAT_P95[text]}"
  printf '| %-34s | %8s | %8s |\n' "ferry status --format json" "${LAT_MEDIAN[json]}" "${LAT_P95[json]}"
  printf '| %-34s | %8s | %8s |\n' "ferry status --format xml" "${LAT_MEDIAN[xml]}" "${LAT_P95[xml]}"
  printf '| %-34s | %8s | %8s |\n' "curl /metrics (admin socket)" "${LAT_MEDIAN[metrics]}" "${LAT_P95[metrics]}"
  echo
  echo "$STATUS_NOTE"
fi
echo
print_commands
print_loads_and_notes
