#!/usr/bin/env bash
# Ferry load benchmark: node-direct vs. Ferry vs. Passenger Standalone (builtin engine).
#
# Usage (from the repo root):
#   bash bench/run.sh [--duration SECS] [--connections N] [--targets LIST] [--raw-dir DIR]
#
#   --duration SECS     length of each measured wrk run (default 10)
#   --connections N     concurrent wrk connections (default 16)
#   --targets LIST      comma-separated subset of node-direct,ferry,passenger (default: all three)
#   --raw-dir DIR       also copy the raw wrk outputs and server logs into DIR
#
# Every target is started alone, on a free 127.0.0.1 port, warmed up (curl + a 2 s wrk run),
# measured with `wrk -t2 -cN -dSs --latency`, and stopped before the next one starts.
# See bench/README.md for how to read the output.
set -euo pipefail

DURATION=10
CONNECTIONS=16
TARGETS="node-direct,ferry,passenger"
RAW_DIR=""
WARMUP_SECS=2
WRK_THREADS=2

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration) DURATION="${2:?--duration needs a value}"; shift 2 ;;
    --duration=*) DURATION="${1#*=}"; shift ;;
    --connections) CONNECTIONS="${2:?--connections needs a value}"; shift 2 ;;
    --connections=*) CONNECTIONS="${1#*=}"; shift ;;
    --targets) TARGETS="${2:?--targets needs a value}"; shift 2 ;;
    --targets=*) TARGETS="${1#*=}"; shift ;;
    --raw-dir) RAW_DIR="${2:?--raw-dir needs a value}"; shift 2 ;;
    --raw-dir=*) RAW_DIR="${1#*=}"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done

[[ "$DURATION" =~ ^[1-9][0-9]*$ ]] || { echo "bench: --duration must be a positive integer (seconds)" >&2; exit 2; }
[[ "$CONNECTIONS" =~ ^[1-9][0-9]*$ ]] || { echo "bench: --connections must be a positive integer" >&2; exit 2; }
# wrk needs at least one connection per thread.
if (( CONNECTIONS < WRK_THREADS )); then WRK_THREADS=$CONNECTIONS; fi
for t in ${TARGETS//,/ }; do
  case "$t" in node-direct|ferry|passenger) ;; *) echo "bench: unknown target: $t" >&2; exit 2 ;; esac
done

if [[ ! -f Cargo.toml || ! -f examples/hello-node/app.js ]]; then
  echo "bench: run this from the repo root (bash bench/run.sh)" >&2
  exit 2
fi
REPO_ROOT="$(pwd)"
APPS="$REPO_ROOT/examples" # app_copy (bench/lib.sh) copies hello-node from here
APP_SRC="$APPS/hello-node"
EXPECTED_BODY="Hello from Node.js, served by Ferry!"

log() { printf 'bench: %s\n' "$*" >&2; }

# ---------------------------------------------------------------------------
# Process bookkeeping, cleanup and the helpers shared with loaders.sh and pool.sh: bench/lib.sh
# ---------------------------------------------------------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/ferry-bench.XXXXXX")"
# Passenger may run the app as another user when we are root: let it read the copy.
chmod 755 "$WORK"

# shellcheck source=bench/lib.sh
source "$REPO_ROOT/bench/lib.sh"

need wrk
need curl
need node nodejs
install_missing || { log "could not install: ${MISSING[*]}"; exit 1; }
require_tools wrk curl node cargo
NODE_BIN="$(command -v node)"
PYTHON_BIN="" # so that free_port (bench/lib.sh) asks node for a port

PASSENGER_UNAVAILABLE=""
if want passenger && ! command -v passenger >/dev/null 2>&1; then
  if ! apt_install passenger || ! command -v passenger >/dev/null 2>&1; then
    PASSENGER_UNAVAILABLE="the passenger package is not installed and apt-get install passenger failed"
  fi
fi
PASSENGER_BIN="$(command -v passenger 2>/dev/null || true)"

# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------
# wait_http PORT TRIES [PID]: until GET / answers with the expected body (0.2 s per try);
# gives up early when PID (the server we started) has exited.
wait_http() {
  local port="$1" tries="$2" watch="${3:-}" i body
  for ((i = 0; i < tries; i++)); do
    body="$(curl -s --max-time 5 "http://127.0.0.1:$port/" 2>/dev/null || true)"
    if [[ "$body" == *"$EXPECTED_BODY"* ]]; then return 0; fi
    if [[ -n "$watch" ]] && ! alive "$watch"; then return 1; fi
    sleep 0.2
  done
  return 1
}

app_pid_via() { # the app's pid, as reported by its /pid route
  local out
  out="$(curl -s --max-time 5 "http://127.0.0.1:$1/pid" 2>/dev/null || true)"
  [[ "$out" =~ ^[0-9]+$ ]] && echo "$out"
  return 0
}

status_kb() { # status_kb PID FIELD -> kB or empty
  awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status" 2>/dev/null || true
}

mb() { # kB -> "12.3" (or "?")
  if [[ -z "${1:-}" ]]; then echo "?"; else awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; fi
}

sum_kb() { # sum_kb FIELD PID... -> total kB of the PIDs that exist
  local field="$1"; shift
  local total=0 v p
  for p in "$@"; do v="$(status_kb "$p" "$field")"; [[ -n "$v" ]] && total=$((total + v)); done
  echo "$total"
}

ROWS=()
declare -A RPS
# add_row TARGET WRKFILE SERVER_RSS SERVER_CPU_TICKS APP_RSS APP_CPU_TICKS
# (CPU ticks: utime+stime consumed during the measured run; empty if unknown)
add_row() {
  local rps p50 p99 sock non2xx total errs
  read -r rps p50 p99 sock non2xx total < <(parse_wrk "$2")
  errs=$(( sock + non2xx ))
  RPS[$1]="$rps"
  ROWS+=("$(printf '| %-11s | %9s | %8s | %8s | %6s | %9s | %-22s | %8s | %-17s | %11s |' \
    "$1" "$rps" "$p50" "$p99" "$errs" "$total" "$3" "$(per_req "$4" "$total")" \
    "$5" "$(per_req "$6" "$total")")")
}
add_unavailable() { # add_unavailable TARGET REASON
  ROWS+=("$(printf '| %-11s | %s |' "$1" "unavailable: $2")")
  NOTES+=("$1: unavailable: $2")
}

per_req() { # per_req TICKS REQUESTS -> "123 us" CPU time per request
  [[ "${1:-}" == "-" ]] && { echo "-"; return 0; }
  awk -v t="${1:-}" -v n="${2:-}" -v hz="$CLK_TCK" 'BEGIN {
    if (t ~ /^[0-9]+$/ && n ~ /^[0-9]+$/ && n > 0) printf "%.0f us", t / hz * 1e6 / n; else printf "?" }'
}

# ---------------------------------------------------------------------------
# Build
# ---------------------------------------------------------------------------
if want ferry; then
  log "cargo build --release -p ferry"
  cargo build --release -p ferry >&2
  FERRY_BIN="$REPO_ROOT/target/release/ferry"
  [[ -x "$FERRY_BIN" ]] || { log "no binary at $FERRY_BIN after the build"; exit 1; }
fi

log "duration ${DURATION}s, ${CONNECTIONS} connections, ${WRK_THREADS} wrk threads, $(nproc) CPUs; work dir $WORK"

# ---------------------------------------------------------------------------
# a. node-direct
# ---------------------------------------------------------------------------
bench_node_direct() {
  local port pid idle t0 t1
  port="$(free_port)"
  sample_load node-direct
  log "node-direct: starting node on 127.0.0.1:$port (CPU busy with other work: $CPU_BUSY)"
  start_bg "$REPO_ROOT" "$WORK/node-direct.log" "$WORK/node-direct.log" env PORT="$port" node "$APP_SRC/app.js"
  pid="$SERVER_PID"
  if ! wait_http "$port" 150 "$pid"; then
    add_unavailable node-direct "node did not answer on port $port within 30 s"
    stop_bg "$pid"; return 0
  fi
  warm_up "$port" node-direct "$CONNECTIONS"
  idle="$(status_kb "$pid" VmRSS)"
  log "node-direct: measuring for ${DURATION}s"
  t0="$(cpu_ticks "$pid")"
  run_wrk "$port" "$CONNECTIONS" "$DURATION" "$WORK/node-direct.wrk.txt"
  t1="$(cpu_ticks "$pid")"
  add_row node-direct "$WORK/node-direct.wrk.txt" \
    "node $(mb "$idle") / $(mb "$(status_kb "$pid" VmHWM)") MB" "$((t1 - t0))" "(same process)" "-"
  stop_bg "$pid"
  save_raw node-direct "$WORK/node-direct.wrk.txt" "$WORK/node-direct.log"
}

# ---------------------------------------------------------------------------
# b. ferry
# ---------------------------------------------------------------------------
bench_ferry() {
  local pid port app idle app_idle t0 t1 a0 a1
  sample_load ferry
  log "ferry: starting $FERRY_BIN (CPU busy with other work: $CPU_BUSY)"
  start_bg "$REPO_ROOT" "$WORK/ferry.out" "$WORK/ferry.err" \
    "$FERRY_BIN" start "$APP_SRC" --address 127.0.0.1 --port 0 --max-pool-size 1 --min-instances 1
  pid="$SERVER_PID"
  port="$(ferry_port "$WORK/ferry.out" "$pid")"
  if [[ -z "$port" ]]; then
    add_unavailable ferry "no 'ferry: listening on' line within 30 s: $(tail -n 3 "$WORK/ferry.err" | tr '\n' ' ')"
    stop_bg "$pid"; return 0
  fi
  log "ferry: listening on 127.0.0.1:$port; first request spawns the app"
  if ! wait_http "$port" 150 "$pid"; then
    add_unavailable ferry "ferry on port $port did not serve the app within 30 s: $(tail -n 3 "$WORK/ferry.err" | tr '\n' ' ')"
    stop_bg "$pid"; return 0
  fi
  warm_up "$port" ferry "$CONNECTIONS"
  app="$(app_pid_via "$port")"
  idle="$(status_kb "$pid" VmRSS)"
  app_idle="$( [[ -n "$app" ]] && status_kb "$app" VmRSS || true)"
  log "ferry: measuring for ${DURATION}s (ferry pid $pid, app pid ${app:-?})"
  t0="$(cpu_ticks "$pid")"; a0="$(cpu_ticks $app)"
  run_wrk "$port" "$CONNECTIONS" "$DURATION" "$WORK/ferry.wrk.txt"
  t1="$(cpu_ticks "$pid")"; a1="$(cpu_ticks $app)"
  local app_after
  app_after="$(app_pid_via "$port")"
  if [[ -n "$app" && "$app_after" != "$app" ]]; then
    NOTES+=("ferry: the app process changed during the run (pid $app -> ${app_after:-?})")
  fi
  add_row ferry "$WORK/ferry.wrk.txt" \
    "ferry $(mb "$idle") / $(mb "$(status_kb "$pid" VmHWM)") MB" "$((t1 - t0))" \
    "$( [[ -n "$app" ]] && echo "$(mb "$app_idle") / $(mb "$(status_kb "$app" VmHWM)") MB" || echo "?")" \
    "$( [[ -n "$app" ]] && echo "$((a1 - a0))" || true)"
  stop_term "$pid" "ferry:"
  if [[ -n "$app" ]] && alive "$app"; then
    NOTES+=("ferry: app process $app outlived ferry; killed")
    kill -KILL "$app" 2>/dev/null || true
  fi
  save_raw ferry "$WORK/ferry.wrk.txt" "$WORK/ferry.out" "$WORK/ferry.err"
}

# ---------------------------------------------------------------------------
# c. passenger (Standalone, builtin engine)
# ---------------------------------------------------------------------------
bench_passenger() {
  if [[ -n "$PASSENGER_UNAVAILABLE" ]]; then
    add_unavailable passenger "$PASSENGER_UNAVAILABLE"; return 0
  fi
  local dir port pid wd core app idle app_idle p t0 t1 a0 a1
  dir="$(app_copy passenger hello-node)"
  port="$(free_port)"
  passenger_flags "$dir" "$port" \
    --max-pool-size 1 --min-instances 1 --environment production \
    --app-type node --startup-file app.js --nodejs "$NODE_BIN"
  start_passenger passenger "$dir" "$port" "${PASSENGER_FLAGS[@]}"
  pid="$SERVER_PID"
  if ! wait_http "$port" 300 "$pid"; then
    local why
    why="$(passenger_why "$dir")"
    if alive "$pid"; then
      add_unavailable passenger "did not serve the app on port $port within 60 s${why:+: $why}"
    else
      add_unavailable passenger "'passenger start' exited without serving the app${why:+: $why}"
    fi
    timeout 30 "$PASSENGER_BIN" stop --pid-file "$PASSENGER_PIDFILE" >/dev/null 2>&1 || true
    stop_bg "$pid"; stop_passenger_leftovers
    save_raw passenger "$dir/passenger.out" "$dir/passenger.log"
    return 0
  fi
  warm_up "$port" passenger "$CONNECTIONS"
  wd="$(cat "$PASSENGER_PIDFILE" 2>/dev/null || true)"
  core=""
  if [[ "$wd" =~ ^[0-9]+$ ]]; then
    # The core is the watchdog's child that is not the temp-dir toucher.
    for p in $(ps -o pid= --ppid "$wd" 2>/dev/null || true); do
      if tr '\0' ' ' 2>/dev/null <"/proc/$p/cmdline" | grep -q 'Passenger core'; then core="$p"; fi
    done
  else
    wd=""
  fi
  app="$(app_pid_via "$port")"
  idle="$(sum_kb VmRSS $wd $core)"
  app_idle="$( [[ -n "$app" ]] && status_kb "$app" VmRSS || true)"
  local front_rss
  front_rss="$(status_kb "$pid" VmRSS)"
  log "passenger: measuring for ${DURATION}s (watchdog ${wd:-?}, core ${core:-?}, app ${app:-?})"
  t0="$(cpu_ticks $wd $core)"; a0="$(cpu_ticks $app)"
  run_wrk "$port" "$CONNECTIONS" "$DURATION" "$WORK/passenger.wrk.txt"
  t1="$(cpu_ticks $wd $core)"; a1="$(cpu_ticks $app)"
  local agents_label="agents"
  [[ -z "$wd" || -z "$core" ]] && agents_label="agents(partial)"
  add_row passenger "$WORK/passenger.wrk.txt" \
    "$agents_label $(mb "$idle") / $(mb "$(sum_kb VmHWM $wd $core)") MB" "$((t1 - t0))" \
    "$( [[ -n "$app" ]] && echo "$(mb "$app_idle") / $(mb "$(status_kb "$app" VmHWM)") MB" || echo "?")" \
    "$( [[ -n "$app" ]] && echo "$((a1 - a0))" || true)"
  [[ -n "$front_rss" ]] && NOTES+=("passenger: the 'passenger start' Ruby front-end process (not in the request path) adds $(mb "$front_rss") MB RSS")
  stop_passenger passenger "$pid" "$wd"
  save_raw passenger "$WORK/passenger.wrk.txt" "$dir/passenger.out" "$dir/passenger.log"
}

want node-direct && bench_node_direct
want ferry && bench_ferry
want passenger && bench_passenger

# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------

echo
echo "Ferry benchmark: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, wrk -t$WRK_THREADS -c$CONNECTIONS -d${DURATION}s --latency, GET / (hello-node)"
echo
echo "| target      |     req/s |      p50 |      p99 | errors |  requests | server RSS idle / peak | CPU/req  | app RSS idle/peak | app CPU/req |"
echo "|-------------|-----------|----------|----------|--------|-----------|------------------------|----------|-------------------|-------------|"
for row in "${ROWS[@]+"${ROWS[@]}"}"; do echo "$row"; done
echo
echo "ratio ferry/node-direct: $(ratio "${RPS[ferry]:-}" "${RPS[node-direct]:-}")   ratio ferry/passenger: $(ratio "${RPS[ferry]:-}" "${RPS[passenger]:-}")"
if (( ${#PASSENGER_FLAGS[@]} > 0 )); then
  echo
  echo "passenger flags: ${PASSENGER_FLAGS[*]}" | sed -e "s#$WORK#<tmp>#g" -e 's#--port [0-9]*#--port <free port>#'
fi
print_loads_and_notes
