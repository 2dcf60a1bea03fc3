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
want() { [[ ",$TARGETS," == *",$1,"* ]]; }
want_any() { local t; for t in "$@"; do want "$t" && return 0; done; return 1; }

if [[ ! -f Cargo.toml || ! -d "bench/apps/$APP" ]]; then
  echo "bench: run this from the repo root (bash bench/pool.sh)" >&2
  exit 2
fi
REPO_ROOT="$(pwd)"
APPS="$REPO_ROOT/bench/apps"

log() { printf 'bench: %s\n' "$*" >&2; }

# ---------------------------------------------------------------------------
# Process bookkeeping and cleanup (bench/lib.sh, shared with run.sh and loaders.sh)
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
interp() { # interp NAME -> /usr/bin/NAME, else NAME on PATH, else empty
  if [[ -x "/usr/bin/$1" ]]; then echo "/usr/bin/$1"; else command -v "$1" 2>/dev/null || true; fi
}
has_rack() { [[ -n "$(interp ruby)" ]] && "$(interp ruby)" -e 'require "rack"' >/dev/null 2>&1; }

missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v curl >/dev/null 2>&1 || missing+=(curl)
[[ -n "$(interp ruby)" ]] || missing+=(ruby)
has_rack || missing+=(ruby-rack)
want puma && ! command -v puma >/dev/null 2>&1 && missing+=(puma)
want passenger && ! command -v passenger >/dev/null 2>&1 && missing+=(passenger)
if (( ${#missing[@]} > 0 )); then
  apt_install "${missing[@]}" || log "could not install: ${missing[*]} (the targets that need them will be unavailable)"
fi
for tool in wrk curl; do
  command -v "$tool" >/dev/null 2>&1 || { log "required tool missing: $tool"; exit 1; }
done

# As root Ferry and Passenger run the app as `nobody`, which cannot use a Ruby under /root
# (rbenv, rvm): prefer /usr/bin/ruby.
RUBY_BIN="$(interp ruby)"
RACK_OK=0; has_rack && RACK_OK=1
PUMA_BIN="$(command -v puma 2>/dev/null || true)"
PASSENGER_BIN="$(command -v passenger 2>/dev/null || true)"
PYTHON_BIN="$(interp python3)"

# ---------------------------------------------------------------------------
# Helpers (as in bench/loaders.sh)
# ---------------------------------------------------------------------------
free_port() {
  if [[ -n "$PYTHON_BIN" ]]; then
    "$PYTHON_BIN" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
  elif [[ -n "$RUBY_BIN" ]]; then
    "$RUBY_BIN" -rsocket -e 's = TCPServer.new("127.0.0.1", 0); puts s.addr[1]; s.close'
  else
    echo $(( 20000 + RANDOM % 20000 ))
  fi
}

# check_body PORT: GET / answers 200 with exactly the expected body. Sets LAST_CODE (000: no
# HTTP answer), LAST_BODY (its first 60 characters, on one line) and LAST_TIME (seconds).
LAST_CODE=""
LAST_BODY=""
LAST_TIME=""
check_body() {
  local f="$WORK/body.$1" out
  rm -f "$f"
  out="$(curl -s --max-time 5 -o "$f" -w '%{http_code} %{time_total}' "http://127.0.0.1:$1/" 2>/dev/null || true)"
  LAST_CODE="${out%% *}"; LAST_TIME="${out##* }"
  [[ -z "$LAST_CODE" ]] && LAST_CODE="000"
  LAST_BODY="$(head -c 60 "$f" 2>/dev/null | tr -c '[:print:]' ' ' || true)"
  [[ "$LAST_CODE" == "200" && -f "$f" && "$(cat "$f"; echo x)" == "${EXPECTED_BODY}x" ]]
}

# what_we_got: the last check_body's answer, for "unavailable" reasons and notes.
what_we_got() {
  if [[ "$LAST_CODE" == "000" ]]; then echo "no HTTP answer to GET /"
  else echo "GET / gave HTTP $LAST_CODE, body \"$LAST_BODY\""; fi
}

# wait_ready PORT SECS [PID]: until GET / answers with the expected body (every 0.2 s, at most
# SECS seconds). Gives up early when PID (the server we started) has exited, or when the server
# has kept answering something else (an error page, say) for 10 s.
wait_ready() {
  local port="$1" deadline=$(( SECONDS + $2 )) watch="${3:-}" wrong_since=""
  while (( SECONDS < deadline )); do
    check_body "$port" && return 0
    if [[ "$LAST_CODE" == "000" ]]; then
      wrong_since=""
    elif [[ -z "$wrong_since" ]]; then
      wrong_since=$SECONDS
    elif (( SECONDS - wrong_since >= 10 )); then
      return 1
    fi
    if [[ -n "$watch" ]] && ! alive "$watch"; then return 1; fi
    sleep 0.2
  done
  return 1
}

# settle PORT: after a run, wait (at most 30 s) until a single GET / is answered about as fast as
# the app can (< 0.25 s), i.e. whatever the last run left queued has been served, so that it does
# not spill into the next run.
settle() {
  local deadline=$(( SECONDS + 30 ))
  sleep 0.5
  while (( SECONDS < deadline )); do
    if check_body "$1" && awk -v t="$LAST_TIME" 'BEGIN { exit !(t + 0 < 0.25) }'; then return 0; fi
    sleep 0.5
  done
  return 1
}

run_wrk() { # run_wrk PORT CONNECTIONS SECS OUTFILE
  local threads="$WRK_THREADS"
  (( $2 < threads )) && threads="$2" # wrk needs at least one connection per thread
  timeout $(( $3 + 60 )) wrk -t"$threads" -c"$2" -d"$3"s --latency --timeout "$WRK_TIMEOUT" \
    "http://127.0.0.1:$1/" >"$4" 2>&1 || true
}

warm_up() { # warm_up PORT NAME
  local i
  for ((i = 0; i < 5; i++)); do curl -s --max-time 5 -o /dev/null "http://127.0.0.1:$1/" || true; done
  run_wrk "$1" "${CONNECTIONS[0]}" "$WARMUP_SECS" "$WORK/$2.warmup.txt"
  settle "$1" || true
  sleep 1
}

# to_ms VALUE: a wrk duration (850.00us, 51.23ms, 1.20s, 1.05m) in ms, 1 decimal; "?" otherwise.
to_ms() {
  awk -v v="$1" 'BEGIN {
    if (match(v, /^[0-9.]+/)) { n = substr(v, 1, RLENGTH) + 0; u = substr(v, RLENGTH + 1) } else { print "?"; exit }
    f = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : (u == "h") ? 3600000 : -1
    if (f < 0) print "?"; else printf "%.1f", n * f
  }'
}

# parse_wrk FILE -> "reqs p50 p99 socket_errors non2xx requests"
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
      printf "%s %s %s %d %d %s\n", rps, p50, p99, sock, non2xx, total
    }' "$1"
}

# tree_pids ROOT_PID...: the roots and all their descendants, each once.
tree_pids() {
  local p d
  for p in "$@"; do
    [[ -n "$p" ]] || continue
    echo "$p"
    while read -r d; do [[ -n "$d" ]] && echo "$d"; done < <(descendants "$p")
  done | sort -un
}

# tree_rss LIST_FILE ROOT_PID... -> "<MB> MB (<N> procs)": the sum of VmRSS over the roots and
# all their descendants (each process counted once), read from /proc/PID/status. LIST_FILE gets
# one line per counted process: pid, VmRSS in kB, command line.
tree_rss() {
  local list="$1" p kb total=0 n=0
  shift
  : >"$list"
  while read -r p; do
    [[ -n "$p" ]] || continue
    kb="$(awk '$1 == "VmRSS:" { print $2 }' "/proc/$p/status" 2>/dev/null || true)"
    [[ -n "$kb" ]] || continue # gone, or a kernel thread
    total=$(( total + kb )); n=$(( n + 1 ))
    printf '%s %s kB %s\n' "$p" "$kb" "$(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null || true)" >>"$list"
  done < <(tree_pids "$@")
  awk -v k="$total" -v n="$n" 'BEGIN { printf "%.1f MB (%d proc%s)", k / 1024, n, n == 1 ? "" : "s" }'
}

# tree_cpu ROOT_PID... -> user+system CPU ticks used so far by the roots and their descendants
# (utime and stime from /proc/PID/stat; the fields after the command name, which may hold spaces).
tree_cpu() {
  local p line total=0
  while read -r p; do
    [[ -n "$p" ]] || continue
    line="$(cat "/proc/$p/stat" 2>/dev/null || true)"
    [[ -n "$line" ]] || continue
    line="${line##*) }"
    total=$(( total + $(awk '{ print $12 + $13 }' <<<"$line") ))
  done < <(tree_pids "$@")
  echo "$total"
}
CLK_TCK="$(getconf CLK_TCK 2>/dev/null || echo 100)"

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
CMDS=()  # "target: command line", in the order the targets ran
NOTES=()
LOADS=() # "target busy%": CPU busy with other work just before each target started

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
  why="$(printf '%s' "$2" | tr '\n\t' '  ' | tr -s ' ' | cut -c1-240)"
  ROW_KEYS+=("$1 -")
  UNAVAILABLE["$1"]="$why"
  log "$1: unavailable: $why"
}

# measure TARGET PORT ROOT...: warm up, then for each connection count run wrk and record the
# row with the CPU used by the roots' process trees during the run (% of one CPU) and their RSS
# right after it.
measure() {
  local target="$1" port="$2" n cpu0 cpu1 t0 t1 cpu_pct out; shift 2
  warm_up "$port" "$target"
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
  if (( BUILD == 1 )); then
    log "cargo build --release -p ferry"
    if ! command -v cargo >/dev/null 2>&1; then
      FERRY_UNAVAILABLE="cargo not found (use --no-build with an existing target/release/ferry, or FERRY_BIN)"
    elif ! cargo build --release -p ferry >&2; then
      FERRY_UNAVAILABLE="cargo build --release -p ferry failed"
    fi
  fi
  if [[ -z "$FERRY_UNAVAILABLE" && ! -x "$FERRY_BIN" ]]; then
    FERRY_UNAVAILABLE="no ferry binary at $FERRY_BIN"
  fi
fi

log "duration ${DURATION}s, connections ${CONNECTIONS[*]}, ${WRK_THREADS} wrk threads, $(nproc) CPUs; work dir $WORK"

# ---------------------------------------------------------------------------
# Ferry
# ---------------------------------------------------------------------------
# bench_ferry TARGET EXTRA_FLAG...
bench_ferry() {
  local target="$1"; shift
  local dir pid port="" i busy cmd
  if [[ -n "$FERRY_UNAVAILABLE" ]]; then add_unavailable "$target" "$FERRY_UNAVAILABLE"; return 0; fi
  if [[ -z "$RUBY_BIN" ]]; then add_unavailable "$target" "ruby is not installed"; return 0; fi
  if (( RACK_OK == 0 )); then add_unavailable "$target" "$RUBY_BIN cannot require \"rack\" (apt-get install ruby-rack)"; return 0; fi
  dir="$(app_copy "$target" "$APP")"
  cmd=("$FERRY_BIN" start "$dir/app" --address 127.0.0.1 --port 0
    --max-pool-size "$PROCS" --min-instances "$PROCS" --max-request-queue-size 0 "$@" --ruby "$RUBY_BIN")
  CMDS+=("$target: ${cmd[*]}")
  busy="$(cpu_busy)"; LOADS+=("$target $busy")
  log "$target: starting ferry with $PROCS $APP processes ${*:+$* }(CPU busy with other work: $busy)"
  # TMPDIR: Ferry's runtime dir (app sockets) lands in our work dir, so nothing is left behind.
  ( cd "$dir/app" && TMPDIR="$dir/tmp" exec setsid "${cmd[@]}" ) \
    >"$dir/ferry.out" 2>"$dir/ferry.err" </dev/null &
  pid=$!
  STARTED_PGIDS+=("$pid")
  for ((i = 0; i < 300; i++)); do
    port="$(sed -n 's#^ferry: listening on http://127\.0\.0\.1:\([0-9][0-9]*\).*#\1#p' "$dir/ferry.out" | head -n1)"
    [[ -n "$port" ]] && break
    alive "$pid" || break
    sleep 0.1
  done
  if [[ -z "$port" ]]; then
    add_unavailable "$target" "no 'ferry: listening on' line within 30 s: $(last_lines "$dir/ferry.err")"
  elif ! wait_ready "$port" 60 "$pid"; then
    add_unavailable "$target" "ferry did not serve \"ok\" ($(what_we_got)): $(last_lines "$dir/ferry.err")"
  else
    measure "$target" "$port" "$pid"
  fi
  # Graceful stop: SIGTERM, bounded wait, then the generic tree kill for anything left over.
  kill -TERM "$pid" 2>/dev/null || true
  wait_gone 150 "$pid" || NOTES+=("$target: ferry did not exit within 15 s of SIGTERM; killed")
  stop_bg "$pid"
  save_raw "$target" "$dir/ferry.out" "$dir/ferry.err"
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
  PASSENGER_PIDFILE="$dir/passenger.pid"
  local flags=(
    --engine builtin --address 127.0.0.1 --port "$port"
    --max-pool-size "$PROCS" --min-instances "$PROCS" --max-request-queue-size 0
    --environment production
    --app-type rack --startup-file config.ru --ruby "$RUBY_BIN"
    --disable-security-update-check --disable-anonymous-telemetry
    --disable-turbocaching
    --no-install-runtime --no-compile-runtime
    --log-file "$dir/passenger.log" --pid-file "$PASSENGER_PIDFILE"
  )
  run_passenger "$target" "$dir" "$port" ok "${flags[@]}"
}

# ---------------------------------------------------------------------------
# Puma: 2 workers x 5 threads, on a port we pick
# ---------------------------------------------------------------------------
bench_puma() {
  local target=puma dir pid port busy
  if [[ -z "$PUMA_BIN" ]]; then add_unavailable "$target" "the puma command is not installed (apt-get install puma)"; return 0; fi
  port="$(free_port)"
  dir="$(app_copy "$target" "$APP")"
  local cmd=("$PUMA_BIN" -w "$PROCS" -t "$THREADS:$THREADS" -b "tcp://127.0.0.1:$port" -e production config.ru)
  CMDS+=("$target: (cd <app copy> && ${cmd[*]})")
  busy="$(cpu_busy)"; LOADS+=("$target $busy")
  log "$target: starting ${cmd[*]} (CPU busy with other work: $busy)"
  start_bg "$dir/app" "$dir/server.log" "${cmd[@]}"
  pid="$SERVER_PID"
  if ! wait_ready "$port" 60 "$pid"; then
    if alive "$pid"; then
      add_unavailable "$target" "did not serve \"ok\" on port $port ($(what_we_got)): $(last_lines "$dir/server.log")"
    else
      add_unavailable "$target" "exited without serving the app: $(last_lines "$dir/server.log")"
    fi
  else
    measure "$target" "$port" "$pid"
  fi
  stop_bg "$pid"
  save_raw "$target" "$dir/server.log"
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
ratio() { # ratio A B -> A/B with 2 decimals, or n/a
  awk -v a="${1:-}" -v b="${2:-}" 'BEGIN {
    if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b + 0 > 0) printf "%.2f", a / b; else printf "n/a" }'
}

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
echo "Commands:"
for c in "${CMDS[@]+"${CMDS[@]}"}"; do
  echo "  $c" | sed -e "s#$REPO_ROOT/#./#g" -e "s#$WORK/[a-z0-9-]*/app#<app copy>#g" -e "s#$WORK/[a-z0-9-]*/#<tmp>/#g" \
    -e 's#--port [1-9][0-9]*#--port <free port>#' -e 's#127\.0\.0\.1:[0-9][0-9]*#127.0.0.1:<free port>#'
done
if (( ${#LOADS[@]} > 0 )); then
  printf 'CPU busy with other work in the 1 s before each target started:'
  for l in "${LOADS[@]}"; do printf '  %s' "$l"; done
  echo
fi
for n in "${NOTES[@]+"${NOTES[@]}"}"; do echo "note: $n"; done
