#!/usr/bin/env bash
# Ferry routing benchmark (issue 6): what finding the server and the location costs when a
# configuration has 1 000 server blocks and 1 000 locations, against a configuration with one
# server, both served by `ferry start --config`.
#
# Usage (from the repo root):
#   bash bench/routing.sh [--duration SECS] [--connections N] [--raw-dir DIR] [--no-build]
#
#   --duration SECS     length of each measured wrk run (default 10)
#   --connections N     concurrent wrk connections (default 16)
#   --raw-dir DIR       also copy the raw wrk outputs and server logs into DIR
#   --no-build          use target/release/ferry as it is instead of `cargo build --release -p ferry`
#   --reps N            rounds of the four targets, interleaved (default 3); ratios use medians
#
# Four targets, one at a time: {static, app} × {1 server, 1000 servers + 1000 locations}.
# "static" requests a file from `root` (no app: the front end alone, where routing weighs
# most); "app" requests a URI served by the Node hello app (bench/apps/node-hello, 1 process).
# In the big configuration the request names the last of 1 000 server names and falls in the
# last of 1 000 prefix locations (`/l0999/`) of a server that has them all; in the small one it
# goes to the only server, which has one location. The targets run in rounds (1, 1000, 1, 1000,
# ...) so that drift in the machine's load hits both alike; the table has every run, and the
# ratio big/small is of the medians (target: at least 0.95).
set -euo pipefail

DURATION=10
CONNECTIONS=16
RAW_DIR=""
BUILD=1
REPS=3
WARMUP_SECS=2
WRK_THREADS=2
EXPECTED_BODY="hello world"
TARGETS="${BENCH_ROUTING_TARGETS:-static-1,static-1000,app-1,app-1000}"

usage() { sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration) DURATION="${2:?--duration needs a value}"; shift 2 ;;
    --duration=*) DURATION="${1#*=}"; shift ;;
    --connections) CONNECTIONS="${2:?--connections needs a value}"; shift 2 ;;
    --connections=*) CONNECTIONS="${1#*=}"; shift ;;
    --raw-dir) RAW_DIR="${2:?--raw-dir needs a value}"; shift 2 ;;
    --raw-dir=*) RAW_DIR="${1#*=}"; shift ;;
    --no-build) BUILD=0; shift ;;
    --reps) REPS="${2:?--reps needs a value}"; shift 2 ;;
    --reps=*) REPS="${1#*=}"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done
[[ "$DURATION" =~ ^[1-9][0-9]*$ ]] || { echo "bench: --duration must be a positive integer (seconds)" >&2; exit 2; }
[[ "$CONNECTIONS" =~ ^[1-9][0-9]*$ ]] || { echo "bench: --connections must be a positive integer" >&2; exit 2; }
if (( CONNECTIONS < WRK_THREADS )); then WRK_THREADS=$CONNECTIONS; fi
if [[ ! -f Cargo.toml || ! -d bench/apps/node-hello ]]; then
  echo "bench: run this from the repo root (bash bench/routing.sh)" >&2
  exit 2
fi
REPO_ROOT="$(pwd)"
APPS="$REPO_ROOT/bench/apps"
log() { printf 'bench: %s\n' "$*" >&2; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/ferry-bench-routing.XXXXXX")"
chmod 755 "$WORK"
# shellcheck source=bench/lib.sh
source "$REPO_ROOT/bench/lib.sh"

need wrk
need curl
install_missing || { log "could not install: ${MISSING[*]}"; exit 1; }
require_tools wrk curl
NODE_BIN="$(interp node)"
[[ -z "$NODE_BIN" ]] && NODE_BIN="$(interp nodejs)"

ROWS=()
declare -A RPS
add_row() { # add_row TARGET WRKFILE RSS
  local rps p50 p99 sock non2xx total errs
  read -r rps p50 p99 sock non2xx total < <(parse_wrk "$2")
  errs=$(( sock + non2xx ))
  RPS[$1]="${RPS[$1]:-} $rps"
  ROWS+=("$(printf '| %-12s | %9s | %8s | %8s | %6s | %9s |' "$1" "$rps" "$p50" "$p99" "$errs" "$total")")
  (( errs > 0 )) && NOTES+=("$1: $errs wrk errors (socket errors + non-2xx)")
  return 0
}
add_unavailable() {
  ROWS+=("$(printf '| %-12s | unavailable: %s |' "$1" "$(one_line "$2")")")
  log "$1: unavailable: $2"
}
measure() {
  local target="$1" port="$2"; shift 2
  warm_up "$port" "$target" "$CONNECTIONS"
  log "$target: measuring for ${DURATION}s"
  run_wrk "$port" "$CONNECTIONS" "$DURATION" "$WORK/$target.wrk.txt"
  add_row "$target" "$WORK/$target.wrk.txt" "$(tree_rss "$WORK/$target.procs.txt" "$@")"
  if ! check_body "$port"; then NOTES+=("$target: after the run, $(what_we_got)"); fi
  save_raw "$target" "$WORK/$target.wrk.txt"
}

FERRY_BIN="$REPO_ROOT/target/release/ferry"
FERRY_UNAVAILABLE=""
build_ferry "use --no-build with an existing target/release/ferry" "no binary at target/release/ferry"

# write_config FILE KIND SERVERS DIR: the configuration of one target.
#   KIND static: files from DIR/site; KIND app: the Node app in DIR/app (its public/ as root).
#   SERVERS 1: one server with one location; 1000: 999 servers named s0.test..s998.test, then
#   big.test with 1 000 prefix locations /l0000/../l0999/.
write_config() {
  local file="$1" kind="$2" servers="$3" dir="$4" root passenger="" i
  if [[ "$kind" == app ]]; then
    root="$dir/app/public"
    passenger="passenger_enabled on; passenger_min_instances 1; passenger_max_instances 1;"
  else
    root="$dir/site"
  fi
  {
    echo "http {"
    [[ -n "$NODE_BIN" ]] && echo "  passenger_nodejs $NODE_BIN;"
    echo "  passenger_max_pool_size 1;"
    if (( servers == 1 )); then
      echo "  server { listen 127.0.0.1:0; server_name big.test; root $root; $passenger"
      echo "    location /l0999/ { root $root; $passenger }"
      echo "  }"
    else
      for ((i = 0; i < 999; i++)); do
        echo "  server { listen 127.0.0.1:0; server_name s$i.test; root $root; $passenger }"
      done
      echo "  server { listen 127.0.0.1:0; server_name big.test; root $root; $passenger"
      for ((i = 0; i < 1000; i++)); do
        printf '    location /l%04d/ { root %s; %s }\n' "$i" "$root" "$passenger"
      done
      echo "  }"
    fi
    echo "}"
  } >"$file"
}

log "duration ${DURATION}s, ${CONNECTIONS} connections, ${WRK_THREADS} wrk threads, $(nproc) CPUs; work dir $WORK"
BENCH_HOST="big.test"
for ((rep = 1; rep <= REPS; rep++)); do
for target in ${TARGETS//,/ }; do
  kind="${target%-*}"; servers="${target#*-}"
  if [[ -n "$FERRY_UNAVAILABLE" ]]; then add_unavailable "$target" "$FERRY_UNAVAILABLE"; continue; fi
  if [[ "$kind" == app && -z "$NODE_BIN" ]]; then add_unavailable "$target" "no node interpreter"; continue; fi
  dir="$(app_copy "$target" node-hello)"
  mkdir -p "$dir/site/l0999" "$dir/app/public/l0999"
  printf '%s' "$EXPECTED_BODY" >"$dir/site/l0999/hello.txt"
  chmod -R a+rX "$dir"
  if [[ "$kind" == app ]]; then BENCH_PATH="/l0999/x"; else BENCH_PATH="/l0999/hello.txt"; fi
  write_config "$dir/ferry.conf" "$kind" "$servers" "$dir"
  run_ferry "$target" "$dir" "$EXPECTED_BODY" "$servers server(s), $kind (round $rep)" \
    "$FERRY_BIN" start --config "$dir/ferry.conf"
  rm -rf "$dir"
done
done

# median VALUES...: the median of the numbers among VALUES (n/a when none).
median() {
  printf '%s\n' "$@" | grep -E '^[0-9.]+$' | sort -n | awk '{ v[NR] = $1 } END {
    if (NR == 0) { print "n/a"; exit }
    if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

echo
echo "Ferry routing: ${DURATION}s per run, ${REPS} rounds, ${CONNECTIONS} connections, Host: big.test"
echo
printf '| %-12s | %9s | %8s | %8s | %6s | %9s |\n' target "req/s" p50 p99 errors requests
printf '|%s|%s|%s|%s|%s|%s|\n' -------------- ----------- ---------- ---------- -------- -----------
for row in "${ROWS[@]}"; do echo "$row"; done
echo
for kind in static app; do
  # shellcheck disable=SC2086 # word splitting of the runs is wanted
  small="$(median ${RPS[$kind-1]:-})"; big="$(median ${RPS[$kind-1000]:-})"
  printf '%-7s median req/s: 1 server %s, 1000 servers + 1000 locations %s: %sx (target >= 0.95)\n' \
    "$kind:" "$small" "$big" "$(ratio "$big" "$small")"
done
echo
print_commands
print_loads_and_notes
