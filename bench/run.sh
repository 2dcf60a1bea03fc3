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
want() { [[ ",$TARGETS," == *",$1,"* ]]; }

if [[ ! -f Cargo.toml || ! -f examples/hello-node/app.js ]]; then
  echo "bench: run this from the repo root (bash bench/run.sh)" >&2
  exit 2
fi
REPO_ROOT="$(pwd)"
APP_SRC="$REPO_ROOT/examples/hello-node"
EXPECTED_BODY="Hello from Node.js, served by Ferry!"

log() { printf 'bench: %s\n' "$*" >&2; }

# ---------------------------------------------------------------------------
# Process bookkeeping and cleanup
# ---------------------------------------------------------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/ferry-bench.XXXXXX")"
# Passenger may run the app as another user when we are root: let it read the copy.
chmod 755 "$WORK"

# shellcheck source=bench/lib.sh
source "$REPO_ROOT/bench/lib.sh"

missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v curl >/dev/null 2>&1 || missing+=(curl)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
if (( ${#missing[@]} > 0 )); then
  apt_install "${missing[@]}" || { log "could not install: ${missing[*]}"; exit 1; }
fi
for tool in wrk curl node cargo; do
  command -v "$tool" >/dev/null 2>&1 || { log "required tool missing: $tool"; exit 1; }
done

PASSENGER_UNAVAILABLE=""
if want passenger && ! command -v passenger >/dev/null 2>&1; then
  if ! apt_install passenger || ! command -v passenger >/dev/null 2>&1; then
    PASSENGER_UNAVAILABLE="the passenger package is not installed and apt-get install passenger failed"
  fi
fi

# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------
free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

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

run_wrk() { # run_wrk PORT SECS OUTFILE
  timeout $(( $2 + 60 )) wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$2"s --latency \
    "http://127.0.0.1:$1/" >"$3" 2>&1 || true
}

warm_up() { # warm_up PORT NAME
  local i
  for ((i = 0; i < 5; i++)); do curl -s --max-time 5 -o /dev/null "http://127.0.0.1:$1/" || true; done
  run_wrk "$1" "$WARMUP_SECS" "$WORK/$2.warmup.txt"
  sleep 1
}

# parse_wrk FILE -> "reqs p50 p99 errors requests"
parse_wrk() {
  awk '
    /Requests\/sec:/ { rps = $2 }
    /^ +50%/ { p50 = $2 }
    /^ +99%/ { p99 = $2 }
    /requests in/ { total = $1 }
    /Socket errors:/ {
      for (i = 1; i <= NF; i++) { v = $i; gsub(/,/, "", v); if (v ~ /^[0-9]+$/) sock += v }
    }
    /Non-2xx or 3xx responses:/ { non2xx = $NF }
    END {
      if (rps == "") rps = "?"; if (p50 == "") p50 = "?"; if (p99 == "") p99 = "?"
      if (total == "") total = "?"
      printf "%s %s %s %d %s\n", rps, p50, p99, sock + non2xx, total
    }' "$1"
}

ROWS=()
NOTES=()
LOADS=() # "target busy%": CPU busy with other work just before each target started
declare -A RPS
# add_row TARGET WRKFILE SERVER_RSS SERVER_CPU_TICKS APP_RSS APP_CPU_TICKS
# (CPU ticks: utime+stime consumed during the measured run; empty if unknown)
add_row() {
  local rps p50 p99 errs total
  read -r rps p50 p99 errs total < <(parse_wrk "$2")
  RPS[$1]="$rps"
  ROWS+=("$(printf '| %-11s | %9s | %8s | %8s | %6s | %9s | %-22s | %8s | %-17s | %11s |' \
    "$1" "$rps" "$p50" "$p99" "$errs" "$total" "$3" "$(per_req "$4" "$total")" \
    "$5" "$(per_req "$6" "$total")")")
}
add_unavailable() { # add_unavailable TARGET REASON
  ROWS+=("$(printf '| %-11s | %s |' "$1" "unavailable: $2")")
  NOTES+=("$1: unavailable: $2")
}

CLK_TCK="$(getconf CLK_TCK 2>/dev/null || echo 100)"
cpu_ticks() { # cpu_ticks PID... -> utime+stime of the PIDs that exist (fields after the comm)
  local total=0 v p
  for p in "$@"; do
    v="$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{ print $12 + $13 }' || true)"
    [[ -n "$v" ]] && total=$((total + v))
  done
  echo "$total"
}
per_req() { # per_req TICKS REQUESTS -> "123 us" CPU time per request
  [[ "${1:-}" == "-" ]] && { echo "-"; return 0; }
  awk -v t="${1:-}" -v n="${2:-}" -v hz="$CLK_TCK" 'BEGIN {
    if (t ~ /^[0-9]+$/ && n ~ /^[0-9]+$/ && n > 0) printf "%.0f us", t / hz * 1e6 / n; else printf "?" }'
}

# How busy the CPUs are with other work: % of all CPU time that was not idle over 1 s, sampled
# while none of our servers runs (just before each target starts).
cpu_busy() {
  local a b
  a="$(head -n1 /proc/stat)"; sleep 1; b="$(head -n1 /proc/stat)"
  awk -v a="$a" -v b="$b" 'BEGIN {
    n = split(a, x, " "); split(b, y, " "); tot = 0
    for (i = 2; i <= n; i++) tot += y[i] - x[i]
    idle = (y[5] - x[5]) + (y[6] - x[6])
    if (tot > 0) printf "%.0f%%", 100 * (tot - idle) / tot; else printf "?"
  }'
}

save_raw() { # save_raw FILE...
  [[ -z "$RAW_DIR" ]] && return 0
  mkdir -p "$RAW_DIR"
  local f
  for f in "$@"; do [[ -f "$f" ]] && cp "$f" "$RAW_DIR/" || true; done
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
  local port pid idle busy t0 t1
  port="$(free_port)"
  busy="$(cpu_busy)"; LOADS+=("node-direct $busy")
  log "node-direct: starting node on 127.0.0.1:$port (CPU busy with other work: $busy)"
  PORT="$port" setsid node "$APP_SRC/app.js" >"$WORK/node-direct.log" 2>&1 </dev/null &
  pid=$!
  STARTED_PGIDS+=("$pid")
  if ! wait_http "$port" 150 "$pid"; then
    add_unavailable node-direct "node did not answer on port $port within 30 s"
    kill_tree "$pid"; forget_pgid "$pid"; return 0
  fi
  warm_up "$port" node-direct
  idle="$(status_kb "$pid" VmRSS)"
  log "node-direct: measuring for ${DURATION}s"
  t0="$(cpu_ticks "$pid")"
  run_wrk "$port" "$DURATION" "$WORK/node-direct.wrk.txt"
  t1="$(cpu_ticks "$pid")"
  add_row node-direct "$WORK/node-direct.wrk.txt" \
    "node $(mb "$idle") / $(mb "$(status_kb "$pid" VmHWM)") MB" "$((t1 - t0))" "(same process)" "-"
  kill_tree "$pid"; forget_pgid "$pid"
  save_raw "$WORK/node-direct.wrk.txt" "$WORK/node-direct.log"
}

# ---------------------------------------------------------------------------
# b. ferry
# ---------------------------------------------------------------------------
bench_ferry() {
  local pid port="" i app idle app_idle busy t0 t1 a0 a1
  busy="$(cpu_busy)"; LOADS+=("ferry $busy")
  log "ferry: starting $FERRY_BIN (CPU busy with other work: $busy)"
  setsid "$FERRY_BIN" start "$APP_SRC" --address 127.0.0.1 --port 0 \
    --max-pool-size 1 --min-instances 1 >"$WORK/ferry.out" 2>"$WORK/ferry.err" </dev/null &
  pid=$!
  STARTED_PGIDS+=("$pid")
  for ((i = 0; i < 300; i++)); do
    port="$(sed -n 's#^ferry: listening on http://127\.0\.0\.1:\([0-9][0-9]*\).*#\1#p' "$WORK/ferry.out" | head -n1)"
    [[ -n "$port" ]] && break
    alive "$pid" || break
    sleep 0.1
  done
  if [[ -z "$port" ]]; then
    add_unavailable ferry "no 'ferry: listening on' line within 30 s: $(tail -n 3 "$WORK/ferry.err" | tr '\n' ' ')"
    kill_tree "$pid"; forget_pgid "$pid"; return 0
  fi
  log "ferry: listening on 127.0.0.1:$port; first request spawns the app"
  if ! wait_http "$port" 150 "$pid"; then
    add_unavailable ferry "ferry on port $port did not serve the app within 30 s: $(tail -n 3 "$WORK/ferry.err" | tr '\n' ' ')"
    kill_tree "$pid"; forget_pgid "$pid"; return 0
  fi
  warm_up "$port" ferry
  app="$(app_pid_via "$port")"
  idle="$(status_kb "$pid" VmRSS)"
  app_idle="$( [[ -n "$app" ]] && status_kb "$app" VmRSS || true)"
  log "ferry: measuring for ${DURATION}s (ferry pid $pid, app pid ${app:-?})"
  t0="$(cpu_ticks "$pid")"; a0="$(cpu_ticks $app)"
  run_wrk "$port" "$DURATION" "$WORK/ferry.wrk.txt"
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
  # Graceful stop: SIGTERM, bounded wait, then the generic tree kill for anything left over.
  kill -TERM "$pid" 2>/dev/null || true
  if ! wait_gone 150 "$pid"; then
    NOTES+=("ferry: did not exit within 15 s of SIGTERM; killed")
  fi
  kill_tree "$pid"; forget_pgid "$pid"
  if [[ -n "$app" ]] && alive "$app"; then
    NOTES+=("ferry: app process $app outlived ferry; killed")
    kill -KILL "$app" 2>/dev/null || true
  fi
  save_raw "$WORK/ferry.wrk.txt" "$WORK/ferry.out" "$WORK/ferry.err"
}

# ---------------------------------------------------------------------------
# c. passenger (Standalone, builtin engine)
# ---------------------------------------------------------------------------
PASSENGER_FLAGS=()
bench_passenger() {
  if [[ -n "$PASSENGER_UNAVAILABLE" ]]; then
    add_unavailable passenger "$PASSENGER_UNAVAILABLE"; return 0
  fi
  local dir="$WORK/passenger" port pid wd core app i idle app_idle p busy t0 t1 a0 a1
  mkdir -p "$dir/tmp"
  cp -r "$APP_SRC" "$dir/app"
  chmod -R a+rX "$dir"
  port="$(free_port)"
  PASSENGER_PIDFILE="$dir/passenger.pid"
  PASSENGER_FLAGS=(
    --engine builtin --address 127.0.0.1 --port "$port"
    --max-pool-size 1 --min-instances 1 --environment production
    --app-type node --startup-file app.js --nodejs "$(command -v node)"
    --disable-security-update-check --disable-anonymous-telemetry
    --disable-turbocaching
    --no-install-runtime --no-compile-runtime
    --log-file "$dir/passenger.log" --pid-file "$PASSENGER_PIDFILE"
  )
  busy="$(cpu_busy)"; LOADS+=("passenger $busy")
  log "passenger: $(passenger --version 2>/dev/null | head -n1); starting on 127.0.0.1:$port (CPU busy with other work: $busy)"
  # Passenger resolves --startup-file against the current directory, so start it from the
  # app copy; TMPDIR keeps its passenger-standalone.* temp dir inside our work dir.
  ( cd "$dir/app" && TMPDIR="$dir/tmp" exec setsid passenger start "$dir/app" "${PASSENGER_FLAGS[@]}" \
      >"$dir/passenger.out" 2>&1 </dev/null ) &
  pid=$!
  STARTED_PGIDS+=("$pid")
  if ! wait_http "$port" 300 "$pid"; then
    local why
    why="$( { grep -hE 'ERROR|rror|failed|Could not' "$dir/passenger.out" "$dir/passenger.log" 2>/dev/null || true; } | head -n 2 | tr '\n' ' ' | cut -c1-200 || true)"
    if alive "$pid"; then
      add_unavailable passenger "did not serve the app on port $port within 60 s${why:+: $why}"
    else
      add_unavailable passenger "'passenger start' exited without serving the app${why:+: $why}"
    fi
    timeout 30 passenger stop --pid-file "$PASSENGER_PIDFILE" >/dev/null 2>&1 || true
    kill_tree "$pid"; forget_pgid "$pid"; stop_passenger_leftovers
    save_raw "$dir/passenger.out" "$dir/passenger.log"
    return 0
  fi
  warm_up "$port" passenger
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
  run_wrk "$port" "$DURATION" "$WORK/passenger.wrk.txt"
  t1="$(cpu_ticks $wd $core)"; a1="$(cpu_ticks $app)"
  local agents_label="agents"
  [[ -z "$wd" || -z "$core" ]] && agents_label="agents(partial)"
  add_row passenger "$WORK/passenger.wrk.txt" \
    "$agents_label $(mb "$idle") / $(mb "$(sum_kb VmHWM $wd $core)") MB" "$((t1 - t0))" \
    "$( [[ -n "$app" ]] && echo "$(mb "$app_idle") / $(mb "$(status_kb "$app" VmHWM)") MB" || echo "?")" \
    "$( [[ -n "$app" ]] && echo "$((a1 - a0))" || true)"
  [[ -n "$front_rss" ]] && NOTES+=("passenger: the 'passenger start' Ruby front-end process (not in the request path) adds $(mb "$front_rss") MB RSS")
  log "passenger: stopping"
  timeout 30 passenger stop --pid-file "$PASSENGER_PIDFILE" >/dev/null 2>&1 || true
  wait_gone 150 "$pid" || true
  kill_tree "$pid"; forget_pgid "$pid"
  local left
  left="$( { [[ -n "$wd" ]] && alive "$wd" && echo "$wd"; pids_mentioning_work; } 2>/dev/null | tr '\n' ' ' || true)"
  if [[ -n "${left// /}" ]]; then
    NOTES+=("passenger: processes left after 'passenger stop' ($left); killed")
  fi
  stop_passenger_leftovers
  save_raw "$WORK/passenger.wrk.txt" "$dir/passenger.out" "$dir/passenger.log"
}

want node-direct && bench_node_direct
want ferry && bench_ferry
want passenger && bench_passenger

# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------
ratio() { # ratio A B -> A/B with 2 decimals, or n/a
  awk -v a="${1:-}" -v b="${2:-}" 'BEGIN {
    if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b + 0 > 0) printf "%.2f", a / b; else printf "n/a" }'
}

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
if (( ${#LOADS[@]} > 0 )); then
  printf 'CPU busy with other work in the 1 s before each target started:'
  for l in "${LOADS[@]}"; do printf '  %s' "$l"; done
  echo
fi
for n in "${NOTES[@]+"${NOTES[@]}"}"; do echo "note: $n"; done
