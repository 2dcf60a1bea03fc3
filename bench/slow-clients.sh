#!/usr/bin/env bash
# Ferry's slow-client benchmark (issue 16): what buffering request and response bodies costs, and
# what it buys. Four parts, chosen with --parts:
#
#   throughput  hello-world requests/s of this tree's Ferry against a baseline ferry binary
#               (--baseline), Node app (1 process) and Rack app (2 processes), in interleaved
#               rounds: medians, their ratio, CPU per request (target: ratio >= 0.95).
#   uploads     N concurrent uploads of S MiB to an app with 2 processes that reads the body and
#               answers its length: Ferry's peak RSS (its process only; target: < 200 MiB).
#   idle        K idle keep-alive connections (one GET each, then nothing) to Ferry serving the
#               Node hello app, and to nginx serving a static file: RSS per connection (target
#               for Ferry: <= 4 KiB).
#   slow        N clients reading 1 MiB responses at 10 KiB/s from a 2-process Rack app while a
#               one-connection probe times GET / for SECS; its p99 against the same probe on the
#               idle server, for Ferry, Passenger (builtin engine) and Puma (-w 2 -t 1:1)
#               (target: Ferry's p99 <= 2x its idle p99).
#
# Usage (from the repo root):
#   bash bench/slow-clients.sh [--parts LIST] [--targets LIST] [--baseline PATH]
#       [--baseline-root DIR] [--duration SECS] [--connections N] [--rounds N] [--uploads N]
#       [--upload-mib S] [--upload-app rack|wsgi] [--upload-timeout SECS] [--idle K] [--slow N]
#       [--slow-secs SECS] [--slow-mss BYTES] [--probe-keepalive] [--raw-dir DIR] [--no-build]
#
#   --parts LIST          comma-separated subset of throughput,uploads,idle,slow (default: all)
#   --targets LIST        comma-separated subset of ferry,baseline,passenger,puma,nginx: the servers
#                         to run in the parts that have them (default: all; baseline needs --baseline)
#   --baseline PATH       the ferry binary to compare with (today's main, built elsewhere); it also
#                         gets a row in uploads, idle and slow
#   --baseline-root DIR   where the baseline finds loaders/ (default: the nearest directory above
#                         PATH that holds loaders/, else this repo)
#   --duration SECS       throughput: length of each measured wrk run (default 10)
#   --connections N       throughput: wrk connections (default 16)
#   --rounds N            throughput: rounds of (ferry, baseline) for each app (default 3)
#   --uploads N           uploads: concurrent uploads (default 1000)
#   --upload-mib S        uploads: MiB per upload (default 10)
#   --upload-app APP      uploads: rack or wsgi (default wsgi)
#   --upload-timeout SECS uploads: the client gives up on unfinished uploads after SECS (default 900)
#   --idle K              idle: connections (default 10000)
#   --slow N              slow: slow clients (default 200)
#   --slow-secs SECS      slow: length of each probe run, idle and under the slow clients (default 30)
#   --slow-mss BYTES      slow: the TCP segment size the slow clients announce (default 1448, as on
#                         Ethernet; 0 keeps loopback's 64 KiB, whose large send buffers swallow a
#                         1 MiB response at once and hide what the issue is about)
#   --probe-keepalive     slow: the probe sends all its requests on one keep-alive connection
#                         (default: a new connection per request, as new clients would; Puma keeps
#                         serving a kept connection while new ones starve)
#   --raw-dir DIR         also keep the raw outputs (wrk, client results) and the servers' logs in DIR
#   --no-build            use the ferry binary as it is instead of `cargo build --release -p ferry`
#
# The ferry binary is $FERRY_BIN when set (used as is, no build), else the one `cargo build
# --release -p ferry` makes: $CARGO_TARGET_DIR/release/ferry, else target/release/ferry. It runs
# with FERRY_ROOT set to this repo, so it uses this tree's loaders/.
# Work files, Ferry's instance dirs and so the buffered request bodies go to a temp dir under
# $TMPDIR (default /tmp): the uploads part refuses to start when N x S MiB would not fit there.
# See bench/README.md ("Slow clients, uploads and idle connections") for how to read the output.
set -euo pipefail

ALL_PARTS="throughput,uploads,idle,slow"
PARTS="$ALL_PARTS"
ALL_TARGETS="ferry,baseline,passenger,puma,nginx"
TARGETS="$ALL_TARGETS"
BASELINE=""
BASELINE_ROOT=""
DURATION=10
CONNECTIONS=16
ROUNDS=3
UPLOADS=1000
UPLOAD_MIB=10
UPLOAD_APP=wsgi
UPLOAD_TIMEOUT=900
IDLE=10000
SLOW=200
SLOW_SECS=30
SLOW_RATE=10240   # bytes per second per slow client
SLOW_RCVBUF=4096  # SO_RCVBUF of each slow client (the kernel doubles it)
SLOW_MSS=1448     # TCP_MAXSEG of each slow client: Ethernet-sized segments (see --slow-mss)
SLOW_SETTLE=2     # seconds between the slow clients' requests and the probe
PROBE_KEEPALIVE=0 # 1: the probe sends all its requests on one keep-alive connection
BIG_BYTES=1048576 # what GET /big answers (bench/apps/rack-big)
RAW_DIR=""
BUILD=1
WARMUP_SECS=2
WRK_THREADS=2

usage() { sed -n '2,55p' "$0" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --parts|--targets|--baseline|--baseline-root|--duration|--connections|--rounds|--uploads|\
    --upload-mib|--upload-app|--upload-timeout|--idle|--slow|--slow-secs|--slow-mss|--raw-dir)
      [[ $# -ge 2 ]] || { echo "bench: $1 needs a value" >&2; exit 2; }
      opt="${1#--}"; val="$2"; shift 2 ;;
    --*=*) opt="${1%%=*}"; opt="${opt#--}"; val="${1#*=}"; shift ;;
    --no-build) BUILD=0; shift; continue ;;
    --probe-keepalive) PROBE_KEEPALIVE=1; shift; continue ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  case "$opt" in
    parts) PARTS="$val" ;; targets) TARGETS="$val" ;; baseline) BASELINE="$val" ;;
    baseline-root) BASELINE_ROOT="$val" ;; duration) DURATION="$val" ;;
    connections) CONNECTIONS="$val" ;; rounds) ROUNDS="$val" ;; uploads) UPLOADS="$val" ;;
    upload-mib) UPLOAD_MIB="$val" ;; upload-app) UPLOAD_APP="$val" ;;
    upload-timeout) UPLOAD_TIMEOUT="$val" ;; idle) IDLE="$val" ;; slow) SLOW="$val" ;;
    slow-secs) SLOW_SECS="$val" ;; slow-mss) SLOW_MSS="$val" ;; raw-dir) RAW_DIR="$val" ;;
    *) echo "bench: unknown argument: --$opt" >&2; usage >&2; exit 2 ;;
  esac
done

for v in DURATION CONNECTIONS ROUNDS UPLOADS UPLOAD_MIB UPLOAD_TIMEOUT IDLE SLOW SLOW_SECS; do
  [[ "${!v}" =~ ^[1-9][0-9]*$ ]] || { echo "bench: --$(tr '_A-Z' '-a-z' <<<"$v") must be a positive integer" >&2; exit 2; }
done
for p in ${PARTS//,/ }; do
  [[ ",$ALL_PARTS," == *",$p,"* ]] || { echo "bench: unknown part: $p (known: $ALL_PARTS)" >&2; exit 2; }
done
for t in ${TARGETS//,/ }; do
  [[ ",$ALL_TARGETS," == *",$t,"* ]] || { echo "bench: unknown target: $t (known: $ALL_TARGETS)" >&2; exit 2; }
done
[[ "$SLOW_MSS" =~ ^[0-9]+$ ]] || { echo "bench: --slow-mss must be a number of bytes (0: loopback's)" >&2; exit 2; }
[[ "$UPLOAD_APP" == rack || "$UPLOAD_APP" == wsgi ]] || { echo "bench: --upload-app must be rack or wsgi" >&2; exit 2; }
if (( CONNECTIONS < WRK_THREADS )); then WRK_THREADS=$CONNECTIONS; fi
if [[ -n "$BASELINE" ]]; then
  [[ "$BASELINE" == /* ]] || BASELINE="$(pwd)/$BASELINE"
  [[ -x "$BASELINE" && -f "$BASELINE" ]] || { echo "bench: --baseline $BASELINE is not an executable file" >&2; exit 2; }
fi

if [[ ! -f Cargo.toml || ! -d bench/apps/rack-big || ! -f bench/clients/slow_clients.py ]]; then
  echo "bench: run this from the repo root (bash bench/slow-clients.sh)" >&2
  exit 2
fi
REPO_ROOT="$(pwd)"
APPS="$REPO_ROOT/bench/apps"
CLIENT="$REPO_ROOT/bench/clients/slow_clients.py"

log() { printf 'bench: %s\n' "$*" >&2; }
part() { [[ ",$PARTS," == *",$1,"* ]]; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/ferry-bench-slow.XXXXXX")"
# Ferry, Passenger and nginx run the apps and workers as another user (nobody) when we are root:
# let it read the copies.
chmod 755 "$WORK"

# shellcheck source=bench/lib.sh
source "$REPO_ROOT/bench/lib.sh"

# ---------------------------------------------------------------------------
# Room for the uploads: N x S MiB of request bodies may be on disk at once (Ferry buffers bodies
# in its instance dir's tmp/, inside WORK). Checked before anything else runs.
# ---------------------------------------------------------------------------
UPLOAD_DISK_NOTE=""
if part uploads; then
  need_kb=$(( UPLOADS * UPLOAD_MIB * 1024 ))
  free_kb="$(df -Pk "$WORK" | awk 'NR == 2 { print $4 }')"
  UPLOAD_DISK_NOTE="$(awk -v f="$free_kb" -v n="$need_kb" -v d="$(df -P "$WORK" | awk 'NR == 2 { print $6 }')" \
    'BEGIN { printf "temp dir on %s: %.1f GiB free, the uploads need up to %.0f MiB", d, f / 1048576, n / 1024 }')"
  log "$UPLOAD_DISK_NOTE"
  if (( free_kb < need_kb )); then
    echo "bench: not enough room for the uploads: $UPLOADS x $UPLOAD_MIB MiB of request bodies may be" >&2
    echo "bench: buffered at once under $WORK ($UPLOAD_DISK_NOTE)." >&2
    echo "bench: point TMPDIR at a bigger disk, or lower --uploads / --upload-mib, or leave out" >&2
    echo "bench: the part (--parts throughput,idle,slow)." >&2
    exit 2
  fi
fi

# ---------------------------------------------------------------------------
# Tools: wrk, curl and python3 (the clients) always; ruby and rack for the Rack apps; node for the
# Node app; puma, passenger and nginx for their targets. One apt-get run (when root).
# ---------------------------------------------------------------------------
has_rack() { [[ -n "$(interp ruby)" ]] && "$(interp ruby)" -e 'require "rack"' >/dev/null 2>&1; }

need wrk
need curl
[[ -n "$(interp python3)" ]] || MISSING+=(python3)
if part throughput || part slow || { part uploads && [[ "$UPLOAD_APP" == rack ]]; }; then
  [[ -n "$(interp ruby)" ]] || MISSING+=(ruby)
  has_rack || MISSING+=(ruby-rack)
fi
if part throughput || part idle; then [[ -n "$(interp node)$(interp nodejs)" ]] || MISSING+=(nodejs); fi
if part slow; then
  want puma && need puma
  want passenger && need passenger
fi
if part idle && want nginx; then need nginx; fi
install_missing || log "could not install: ${MISSING[*]} (the targets that need them will be unavailable)"
require_tools wrk curl

# As root Ferry and Passenger run the apps as `nobody`, which cannot use interpreters under /root
# (pyenv, rbenv, nvm): prefer /usr/bin.
RUBY_BIN="$(interp ruby)"
PYTHON_BIN="$(interp python3)"
NODE_BIN="$(interp node)"
[[ -z "$NODE_BIN" ]] && NODE_BIN="$(interp nodejs)"
RACK_OK=0; has_rack && RACK_OK=1
PUMA_BIN="$(command -v puma 2>/dev/null || true)"
PASSENGER_BIN="$(command -v passenger 2>/dev/null || true)"
NGINX_BIN="$(command -v nginx 2>/dev/null || true)"
[[ -z "$NGINX_BIN" && -x /usr/sbin/nginx ]] && NGINX_BIN=/usr/sbin/nginx
[[ -n "$PYTHON_BIN" ]] || { log "required tool missing: python3 (the clients)"; exit 1; }

# Open files: the idle part holds K connections in the client and K in the server, the others N.
# Everything started from here on inherits the limit (Ferry also raises its own soft limit).
nofile_want=1024
part idle && (( IDLE + 1024 > nofile_want )) && nofile_want=$(( IDLE + 1024 ))
part uploads && (( UPLOADS + 1024 > nofile_want )) && nofile_want=$(( UPLOADS + 1024 ))
part slow && (( SLOW + 1024 > nofile_want )) && nofile_want=$(( SLOW + 1024 ))
raise_nofile "$nofile_want" || NOTES+=("$NOFILE_NOTE")
log "$NOFILE_NOTE"
if part idle; then
  read -r port_lo port_hi </proc/sys/net/ipv4/ip_local_port_range || true
  if [[ -n "${port_hi:-}" ]] && (( IDLE > port_hi - port_lo )); then
    NOTES+=("idle: $IDLE connections from one address need more local ports than net.ipv4.ip_local_port_range ($port_lo-$port_hi) has")
  fi
fi

# ---------------------------------------------------------------------------
# Ferry binaries: this tree's (built unless --no-build or FERRY_BIN) and the baseline
# ---------------------------------------------------------------------------
FERRY_UNAVAILABLE=""
if [[ -n "${FERRY_BIN:-}" ]]; then
  BUILD=0
  [[ "$FERRY_BIN" == /* ]] || FERRY_BIN="$REPO_ROOT/$FERRY_BIN"
else
  FERRY_BIN="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/ferry"
fi
if want ferry; then
  build_ferry "use --no-build with an existing binary, or FERRY_BIN" "no ferry binary at $FERRY_BIN"
fi
FERRY_VERSION="$("$FERRY_BIN" --version 2>/dev/null | head -n1 || true)"

BASELINE_VERSION=""
if [[ -z "$BASELINE" ]]; then
  if want baseline; then
    NOTES+=("baseline: not run (no --baseline given)")
    TARGETS="$(tr ',' '\n' <<<"$TARGETS" | { grep -vx baseline || true; } | paste -sd, -)"
  fi
else
  if [[ -z "$BASELINE_ROOT" ]]; then
    BASELINE_ROOT="$(loaders_root "$BASELINE")"
    if [[ -z "$BASELINE_ROOT" ]]; then
      BASELINE_ROOT="$REPO_ROOT"
      NOTES+=("baseline: no loaders/ above $BASELINE; it used this tree's loaders (--baseline-root to choose)")
    fi
  fi
  BASELINE_VERSION="$("$BASELINE" --version 2>/dev/null | head -n1 || true)"
fi

log "parts $PARTS, targets $TARGETS, $(nproc) CPUs; work dir $WORK"

# ---------------------------------------------------------------------------
# Shared by the parts
# ---------------------------------------------------------------------------
ROWS_VAR=""   # the name of the current part's row array (add_unavailable appends to it)
MEASURE_FN="" # the current part's measure function (run_ferry, run_plain, run_passenger call `measure`)
measure() { "$MEASURE_FN" "$@"; }

add_unavailable() { # add_unavailable TARGET REASON
  local -n rows="$ROWS_VAR"
  local why
  why="$(one_line "$2")"
  rows+=("$(printf '| %-22s | unavailable: %s |' "$1" "$why")")
  log "$1: unavailable: $why"
}

FERRY_RUNS=0
# ferry_run WHICH LABEL APP EXPECTED WHAT FLAG...: start ferry (WHICH: ferry = this tree's binary,
# baseline = --baseline) on a copy of APP with FLAG... via run_ferry, which waits until GET /
# answers EXPECTED, calls `measure LABEL PORT PID` and stops it.
ferry_run() {
  local which="$1" label="$2" app="$3" expected="$4" what="$5" bin root dir; shift 5
  if [[ "$which" == baseline ]]; then bin="$BASELINE"; root="$BASELINE_ROOT"
  else bin="$FERRY_BIN"; root="$REPO_ROOT"
    if [[ -n "$FERRY_UNAVAILABLE" ]]; then add_unavailable "$label" "$FERRY_UNAVAILABLE"; return 0; fi
  fi
  # A short directory name: Ferry's runtime dir goes to DIR/tmp (run_ferry's TMPDIR), and the
  # Ruby preloader's socket in it must fit a unix socket path (at most 107 bytes).
  FERRY_RUNS=$(( FERRY_RUNS + 1 ))
  dir="$(app_copy "f$FERRY_RUNS" "$app")"
  run_ferry "$label" "$dir" "$expected" "$what" \
    env FERRY_ROOT="$root" "$bin" start "$dir/app" --address 127.0.0.1 --port 0 \
    --instance-registry-dir "$dir/registry" "$@"
  rm -rf "$dir" # buffered bodies, sockets, the app copy: free the disk before the next run
}

# client_run NAME SECS MODE ARG...: run the Python client (results in WORK/NAME.out, log in
# WORK/NAME.log, both kept with --raw-dir), for at most SECS. It runs in its own process group,
# waited for with `wait`, so that Ctrl-C or SIGTERM reaches the EXIT trap at once, which stops it.
client_run() {
  local name="$1" limit="$2" pid rc=0; shift 2
  start_bg "$WORK" "$WORK/$name.out" "$WORK/$name.log" timeout "$limit" "$PYTHON_BIN" "$CLIENT" "$@"
  pid="$SERVER_PID"
  wait "$pid" || rc=$?
  forget_pgid "$pid"
  (( rc == 0 )) || NOTES+=("$name: the client exited with status $rc ($(last_lines "$WORK/$name.log"))")
  save_raw "$name" "$WORK/$name.out" "$WORK/$name.log"
}

# verdict OK: "met" or "NOT met".
verdict() { if [[ "$1" == 1 ]]; then echo met; else echo "NOT met"; fi; }

mib() { awk -v k="${1:-}" 'BEGIN { if (k ~ /^[0-9]+$/) printf "%.1f", k / 1024; else printf "?" }'; }

# ---------------------------------------------------------------------------
# Part 1: throughput, this tree's Ferry vs the baseline
# ---------------------------------------------------------------------------
TP_ROWS=()
declare -A TP_RPS TP_FCPU TP_TCPU # "app which" -> space-separated values, one per round
TP_KEY=""

# per_req_us TICKS REQUESTS -> CPU microseconds per request (no unit), or ?
per_req_us() {
  awk -v t="${1:-}" -v n="${2:-}" -v hz="$CLK_TCK" 'BEGIN {
    if (t ~ /^[0-9]+$/ && n ~ /^[0-9]+$/ && n > 0) printf "%.1f", t / hz * 1e6 / n; else printf "?" }'
}

measure_throughput() {
  local target="$1" port="$2" pid="$3" f0 f1 t0 t1 rps p50 p99 sock non2xx total errs fcpu tcpu
  warm_up "$port" "$target" "$CONNECTIONS"
  log "$target: measuring for ${DURATION}s"
  f0="$(cpu_ticks "$pid")"; t0="$(tree_cpu "$pid")"
  run_wrk "$port" "$CONNECTIONS" "$DURATION" "$WORK/$target.wrk.txt"
  f1="$(cpu_ticks "$pid")"; t1="$(tree_cpu "$pid")"
  read -r rps p50 p99 sock non2xx total < <(parse_wrk "$WORK/$target.wrk.txt")
  errs=$(( sock + non2xx ))
  fcpu="$(per_req_us $(( f1 - f0 )) "$total")"
  tcpu="$(per_req_us $(( t1 - t0 )) "$total")"
  TP_RPS[$TP_KEY]="${TP_RPS[$TP_KEY]:-} $rps"
  TP_FCPU[$TP_KEY]="${TP_FCPU[$TP_KEY]:-} $fcpu"
  TP_TCPU[$TP_KEY]="${TP_TCPU[$TP_KEY]:-} $tcpu"
  TP_ROWS+=("$(printf '| %-22s | %9s | %8s | %8s | %6s | %9s | %10s | %10s | %5s |' \
    "$target" "$rps" "$p50" "$p99" "$errs" "$total" "$fcpu" "$tcpu" "$CPU_BUSY")")
  (( errs > 0 )) && NOTES+=("$target: $errs wrk errors (socket errors + non-2xx)")
  if ! check_body "$port"; then NOTES+=("$target: after the run, $(what_we_got)"); fi
  save_raw "$target" "$WORK/$target.wrk.txt"
}

part_throughput() {
  local round app which
  ROWS_VAR=TP_ROWS; MEASURE_FN=measure_throughput; EXPECTED_BODY="hello world"
  log "throughput: $ROUNDS rounds, ${DURATION}s per run, $CONNECTIONS connections"
  for ((round = 1; round <= ROUNDS; round++)); do
    for app in node rack; do
      for which in ferry baseline; do
        want "$which" || continue
        TP_KEY="$app $which"
        local label="tp-$app-$which-$round"
        if [[ "$app" == node ]]; then
          if [[ -z "$NODE_BIN" ]]; then add_unavailable "$label" "node is not installed"; continue; fi
          ferry_run "$which" "$label" node-hello "hello world" "the Node hello app, 1 process (round $round)" \
            --max-pool-size 1 --min-instances 1 --nodejs "$NODE_BIN"
        else
          if [[ -z "$RUBY_BIN" || $RACK_OK == 0 ]]; then add_unavailable "$label" "ruby with rack is not installed"; continue; fi
          ferry_run "$which" "$label" rack-hello "hello world" "the Rack hello app, 2 processes (round $round)" \
            --max-pool-size 2 --min-instances 2 --ruby "$RUBY_BIN"
        fi
      done
    done
  done
}

report_throughput() {
  local app mf mb
  echo "1. Throughput: hello world, ${DURATION}s per run, wrk -t$WRK_THREADS -c$CONNECTIONS, $ROUNDS rounds (ferry, then baseline, per app and round)"
  echo "   ferry:    ${FERRY_VERSION:-?} ($FERRY_BIN)"
  [[ -n "$BASELINE" ]] && echo "   baseline: ${BASELINE_VERSION:-?} ($BASELINE)"
  echo
  printf '| %-22s | %9s | %8s | %8s | %6s | %9s | %10s | %10s | %5s |\n' run "req/s" p50 p99 errors requests "ferry us/r" "all us/r" busy
  printf '|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n' ------------------------ ----------- ---------- ---------- -------- ----------- ------------ ------------ -------
  for row in "${TP_ROWS[@]+"${TP_ROWS[@]}"}"; do echo "$row"; done
  echo
  for app in node rack; do
    # shellcheck disable=SC2086 # one value per round
    mf="$(median_of ${TP_RPS[$app ferry]:-})"
    # shellcheck disable=SC2086
    mb="$(median_of ${TP_RPS[$app baseline]:-})"
    local r; r="$(ratio "$mf" "$mb")"
    printf '%-5s median req/s: ferry %s, baseline %s: %sx' "$app:" "$mf" "$mb" "$r"
    if [[ "$r" == n/a ]]; then printf '   (target >= 0.95: not measured)\n'
    else printf '   (target >= 0.95: %s)\n' "$(verdict "$(awk -v r="$r" 'BEGIN { print (r + 0 >= 0.95) ? 1 : 0 }')")"; fi
    # shellcheck disable=SC2086
    printf '       median CPU us/request: ferry process %s (baseline %s), ferry and its apps %s (baseline %s)\n' \
      "$(median_of ${TP_FCPU[$app ferry]:-})" "$(median_of ${TP_FCPU[$app baseline]:-})" \
      "$(median_of ${TP_TCPU[$app ferry]:-})" "$(median_of ${TP_TCPU[$app baseline]:-})"
  done
}

# ---------------------------------------------------------------------------
# Part 2: concurrent uploads, Ferry's peak RSS
# ---------------------------------------------------------------------------
UP_ROWS=()

measure_uploads() {
  local target="$1" port="$2" pid="$3" out ok failed peak hwm top met
  log "$target: $UPLOADS uploads of $UPLOAD_MIB MiB ($UPLOAD_DISK_NOTE)"
  client_run "$target" $(( UPLOAD_TIMEOUT + 60 )) upload --port "$port" --count "$UPLOADS" \
    --mib "$UPLOAD_MIB" --timeout "$UPLOAD_TIMEOUT" --rss-pid "$pid" --disk-path "$WORK"
  out="$WORK/$target.out"
  ok="$(kv "$out" ok)"; failed="$(kv "$out" failed)"
  peak="$(kv "$out" rss_peak_kb)"; hwm="$(kv "$out" hwm_kb)"
  top="${peak:-0}"; [[ -n "$hwm" ]] && (( hwm > top )) && top="$hwm"
  met=0; [[ "$failed" == 0 ]] && (( top > 0 && top < 200 * 1024 )) && met=1
  UP_ROWS+=("$(printf '| %-22s | %5s | %6s | %7s | %6s | %9s | %10s | %9s | %9s | %-9s |' \
    "$target" "${ok:-?}" "${failed:-?}" "$(kv "$out" secs)" "$(kv "$out" mib_per_s)" \
    "$(mib "$(kv "$out" rss_before_kb)")" "$(mib "$peak")" "$(mib "$hwm")" \
    "$(mib "$(kv "$out" disk_peak_used_kb)")" "$(verdict "$met")")")
  [[ "${failed:-1}" != 0 ]] && NOTES+=("$target: failures: $(kv "$out" failures); first: $(kv "$out" first_failure)")
  return 0
}

part_uploads() {
  local which app flag bin size_flag=()
  ROWS_VAR=UP_ROWS; MEASURE_FN=measure_uploads; EXPECTED_BODY="0"
  if [[ "$UPLOAD_APP" == rack ]]; then
    app=rack-upload; flag=(--ruby "$RUBY_BIN")
    [[ -n "$RUBY_BIN" && $RACK_OK == 1 ]] || { add_unavailable "uploads" "ruby with rack is not installed"; return 0; }
  else
    app=wsgi-upload; flag=(--python "$PYTHON_BIN")
  fi
  for which in ferry baseline; do
    want "$which" || continue
    if [[ "$which" == baseline ]]; then bin="$BASELINE"; else bin="$FERRY_BIN"; fi
    # A ferry that limits request bodies (issue 16) gets a limit the uploads fit in.
    size_flag=()
    ferry_has_flag "$bin" --client-max-body-size && size_flag=(--client-max-body-size $(( UPLOAD_MIB * 1048576 )))
    ferry_run "$which" "up-$which" "$app" "0" "$app, 2 processes" \
      --max-pool-size 2 --min-instances 2 --max-request-queue-size 0 "${flag[@]}" "${size_flag[@]+"${size_flag[@]}"}"
  done
}

report_uploads() {
  echo "2. Uploads: $UPLOADS concurrent uploads of $UPLOAD_MIB MiB each (Content-Length), ${UPLOAD_APP}-upload app with 2 processes"
  echo "   ${UPLOAD_DISK_NOTE}"
  echo
  printf '| %-22s | %5s | %6s | %7s | %6s | %9s | %10s | %9s | %9s | %-9s |\n' target ok failed "time s" "MiB/s" "RSS MiB" "peak MiB" "HWM MiB" "disk MiB" "< 200 MiB"
  printf '|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n' ------------------------ ------- -------- --------- -------- ----------- ------------ ----------- ----------- -----------
  for row in "${UP_ROWS[@]+"${UP_ROWS[@]}"}"; do echo "$row"; done
  echo "   (RSS: Ferry's process alone, before the uploads; peak: the highest of its VmRSS sampled every 100 ms during"
  echo "    them; HWM: its VmHWM after them; disk: the most the temp dir's free space went down; target: peak and"
  echo "    HWM under 200 MiB with every upload answered with its length)"
}

# ---------------------------------------------------------------------------
# Part 3: idle keep-alive connections, memory per connection
# ---------------------------------------------------------------------------
IDLE_ROWS=()

measure_idle() {
  local target="$1" port="$2" pid="$3" pids out per met=0 goal="-"
  if [[ "$target" == idle-nginx ]]; then
    pids="$(tree_pids "$pid" | paste -sd, -)" # the master and its worker
  else
    pids="$pid" # Ferry's process, not its app's
  fi
  log "$target: $IDLE idle connections (RSS of $pids)"
  client_run "$target" 600 idle --port "$port" --count "$IDLE" --pids "$pids"
  out="$WORK/$target.out"
  per="$(kv "$out" per_conn_bytes)"
  if [[ "$target" != idle-nginx ]]; then
    [[ "$per" =~ ^-?[0-9]+$ ]] && (( per <= 4096 )) && [[ "$(kv "$out" still_open)" == "$IDLE" ]] && met=1
    goal="$(verdict "$met")"
  fi
  IDLE_ROWS+=("$(printf '| %-22s | %6s | %6s | %6s | %6s | %10s | %10s | %10s | %10s | %-8s |' \
    "$target" "$(kv "$out" opened)" "$(kv "$out" still_open)" "$(kv "$out" failed)" "$(kv "$out" open_secs)" \
    "$(mib "$(kv "$out" rss_before_kb)")" "$(mib "$(kv "$out" rss_idle_kb)")" \
    "$(mib "$(kv "$out" rss_after_close_kb)")" \
    "$(awk -v b="$per" 'BEGIN { if (b ~ /^-?[0-9]+$/) printf "%.2f", b / 1024; else printf "?" }')" "$goal")")
  [[ "$(kv "$out" failed)" != 0 ]] && NOTES+=("$target: $(kv "$out" failed) connections failed; first: $(kv "$out" first_failure)")
  return 0
}

# nginx_conf DIR PORT: a minimal nginx configuration serving DIR/app on 127.0.0.1:PORT, everything
# it writes (pid, logs, temp paths) under DIR/nginx, one worker with room for the idle connections.
nginx_conf() {
  local dir="$1" port="$2" p="$1/nginx"
  mkdir -p "$p/logs" "$p/tmp"
  cat >"$p/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $p/nginx.pid;
error_log $p/logs/error.log;
worker_rlimit_nofile $(( IDLE + 1024 ));
events { worker_connections $(( IDLE + 512 )); }
http {
  access_log off;
  keepalive_timeout 600s;
  keepalive_requests 1000;
  client_body_temp_path $p/tmp/body;
  proxy_temp_path $p/tmp/proxy;
  fastcgi_temp_path $p/tmp/fastcgi;
  uwsgi_temp_path $p/tmp/uwsgi;
  scgi_temp_path $p/tmp/scgi;
  server {
    listen 127.0.0.1:$port;
    root $dir/app;
    index index.html;
  }
}
EOF
}

part_idle() {
  local which bin port dir extra=()
  ROWS_VAR=IDLE_ROWS; MEASURE_FN=measure_idle; EXPECTED_BODY="hello world"
  for which in ferry baseline; do
    want "$which" || continue
    if [[ -z "$NODE_BIN" ]]; then add_unavailable "idle-$which" "node is not installed"; continue; fi
    if [[ "$which" == baseline ]]; then bin="$BASELINE"; else bin="$FERRY_BIN"; fi
    # A ferry with issue 16's limits: keep the connections open longer than the part lasts, and
    # let all of them in.
    extra=()
    ferry_has_flag "$bin" --keepalive-timeout && extra+=(--keepalive-timeout 600)
    ferry_has_flag "$bin" --max-connections && extra+=(--max-connections $(( IDLE + 512 )))
    ferry_run "$which" "idle-$which" node-hello "hello world" "the Node hello app, 1 process" \
      --max-pool-size 1 --min-instances 1 --max-request-queue-size 0 --nodejs "$NODE_BIN" \
      "${extra[@]+"${extra[@]}"}"
  done
  if want nginx; then
    if [[ -z "$NGINX_BIN" ]]; then add_unavailable idle-nginx "nginx is not installed (apt-get install nginx)"; return 0; fi
    port="$(free_port)"
    dir="$WORK/idle-nginx"
    nginx_conf "$dir" "$port"
    # run_plain copies the app to $dir/app, which the configuration serves.
    run_plain idle-nginx static-hello "$port" "hello world" \
      "$NGINX_BIN" -p "$dir/nginx" -c "$dir/nginx/nginx.conf" -e "$dir/nginx/logs/error.log"
    save_raw idle-nginx "$dir/nginx/nginx.conf" "$dir/nginx/logs/error.log"
  fi
}

report_idle() {
  echo "3. Idle connections: $IDLE keep-alive connections, one GET / each, then idle"
  [[ -n "$NGINX_BIN" ]] && want nginx && echo "   $("$NGINX_BIN" -v 2>&1 | head -n1), 1 worker, a static file"
  echo
  printf '| %-22s | %6s | %6s | %6s | %6s | %10s | %10s | %10s | %10s | %-8s |\n' target opened "open" failed "secs" "RSS before" "RSS idle" "RSS closed" "KiB/conn" "<= 4 KiB"
  printf '|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n' ------------------------ -------- -------- -------- -------- ------------ ------------ ------------ ------------ ----------
  for row in "${IDLE_ROWS[@]+"${IDLE_ROWS[@]}"}"; do echo "$row"; done
  echo "   (RSS in MiB: Ferry's process alone (not its app), nginx's master and worker; before the connections, with"
  echo "    all of them idle, and 1 s after the client closed them. KiB/conn = (RSS idle - RSS before) / connections"
  echo "    opened. open: connections the server had not closed when the idle RSS was read; secs: time to open them)"
}

# ---------------------------------------------------------------------------
# Part 4: slow clients against a 2-process Rack app
# ---------------------------------------------------------------------------
SLOW_ROWS=()

# probe_fields OUT -> "p50 p99 requests errors+timeouts" of a probe run ("?" for what is missing)
probe_fields() {
  local e t
  e="$(kv "$1" errors)"; t="$(kv "$1" timeouts)"
  if [[ "$e" =~ ^[0-9]+$ && "$t" =~ ^[0-9]+$ ]]; then e=$(( e + t )); else e="?"; fi
  echo "$(kv "$1" p50_ms | grep . || echo '?') $(kv "$1" p99_ms | grep . || echo '?') $(kv "$1" requests | grep . || echo '?') $e"
}

measure_slow() {
  local target="$1" port="$2" pid="$3" i code size slow_pid ready="$WORK/$1.ready" rss
  local ip50 ip99 ireq ierr sp50 sp99 sreq serr r met probe_flag=()
  (( PROBE_KEEPALIVE == 1 )) && probe_flag=(--keepalive)
  for ((i = 0; i < 5; i++)); do curl -s --max-time 5 -o /dev/null "http://127.0.0.1:$port/" || true; done
  read -r code size < <(curl -s --max-time 30 -o /dev/null -w '%{http_code} %{size_download}\n' \
    "http://127.0.0.1:$port/big" 2>/dev/null || echo "000 0")
  [[ "$code" == 200 && "$size" == "$BIG_BYTES" ]] || NOTES+=("$target: GET /big gave HTTP $code, $size bytes (expected $BIG_BYTES)")
  sleep 1

  log "$target: probe on the idle server, ${SLOW_SECS}s"
  client_run "$target-idle" $(( SLOW_SECS + 60 )) probe --port "$port" --secs "$SLOW_SECS" "${probe_flag[@]+"${probe_flag[@]}"}"
  read -r ip50 ip99 ireq ierr < <(probe_fields "$WORK/$target-idle.out")

  log "$target: $SLOW slow clients ($SLOW_RATE bytes/s each, SO_RCVBUF $SLOW_RCVBUF, MSS $SLOW_MSS), then the probe for ${SLOW_SECS}s"
  rm -f "$ready"
  start_bg "$WORK" "$WORK/$target-slow.out" "$WORK/$target-slow.log" \
    "$PYTHON_BIN" "$CLIENT" slow --port "$port" --clients "$SLOW" --path /big --rate "$SLOW_RATE" \
    --rcvbuf "$SLOW_RCVBUF" --mss "$SLOW_MSS" --max-secs $(( SLOW_SECS + 120 )) --ready-file "$ready"
  slow_pid="$SERVER_PID"
  for ((i = 0; i < 300; i++)); do [[ -s "$ready" ]] && break; alive "$slow_pid" || break; sleep 0.1; done
  [[ -s "$ready" ]] || NOTES+=("$target: the slow clients had not all sent their request after 30 s; probing anyway")
  sleep "$SLOW_SETTLE"
  client_run "$target-busy" $(( SLOW_SECS + 60 )) probe --port "$port" --secs "$SLOW_SECS" "${probe_flag[@]+"${probe_flag[@]}"}"
  read -r sp50 sp99 sreq serr < <(probe_fields "$WORK/$target-busy.out")
  rss="$(tree_rss "$WORK/$target.procs.txt" "$pid")"
  kill -TERM "$slow_pid" 2>/dev/null || true
  wait_gone 150 "$slow_pid" || NOTES+=("$target: the slow clients did not stop within 15 s of SIGTERM; killed")
  stop_bg "$slow_pid"
  save_raw "$target" "$WORK/$target-slow.out" "$WORK/$target-slow.log" "$WORK/$target.procs.txt"

  local out="$WORK/$target-slow.out"
  r="$(awk -v a="$sp99" -v b="$ip99" 'BEGIN {
    if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf(a / b < 100 ? "%.1f" : "%.0f", a / b); else printf "n/a" }')"
  met="-"
  if [[ "$target" == slow-ferry || "$target" == slow-baseline ]]; then
    met="$(verdict "$(awk -v r="$r" -v e="$serr" 'BEGIN { print (r != "n/a" && r + 0 <= 2 && e == 0) ? 1 : 0 }')")"
  fi
  SLOW_ROWS+=("$(printf '| %-16s | %8s | %8s | %9s | %9s | %6s | %11s | %6s | %9s | %9s | %-18s | %-7s |' \
    "$target" "$ip50" "$ip99" "$sp50" "$sp99" "${r}x" "$ireq/$sreq" "$ierr/$serr" \
    "$(kv "$out" got_bytes)/$SLOW" "$(kv "$out" kib_per_s_per_client)" "$rss" "$met")")
  [[ "$(kv "$out" errors)" != 0 ]] && NOTES+=("$target: $(kv "$out" errors) slow clients failed; first: $(kv "$out" first_error)")
  [[ "$ierr$serr" != 00 ]] && NOTES+=("$target: probe errors or timeouts (idle/slow: $ierr/$serr); first: $(kv "$WORK/$target-idle.out" first_error) / $(kv "$WORK/$target-busy.out" first_error)")
  return 0
}

part_slow() {
  local which dir port
  ROWS_VAR=SLOW_ROWS; MEASURE_FN=measure_slow; EXPECTED_BODY="hello world"
  if [[ -z "$RUBY_BIN" || $RACK_OK == 0 ]]; then add_unavailable slow "ruby with rack is not installed"; return 0; fi
  for which in ferry baseline; do
    want "$which" || continue
    ferry_run "$which" "slow-$which" rack-big "hello world" "the rack-big app, 2 processes" \
      --max-pool-size 2 --min-instances 2 --max-request-queue-size 0 --ruby "$RUBY_BIN"
  done
  if want passenger; then
    if [[ -z "$PASSENGER_BIN" ]]; then
      add_unavailable slow-passenger "the passenger command is not installed (apt-get install passenger)"
    else
      dir="$(app_copy slow-passenger rack-big)"
      port="$(free_port)"
      passenger_flags "$dir" "$port" \
        --max-pool-size 2 --min-instances 2 --max-request-queue-size 0 --environment production \
        --app-type rack --startup-file config.ru --ruby "$RUBY_BIN"
      run_passenger slow-passenger "$dir" "$port" "hello world" "${PASSENGER_FLAGS[@]}"
    fi
  fi
  if want puma; then
    if [[ -z "$PUMA_BIN" ]]; then
      add_unavailable slow-puma "the puma command is not installed (apt-get install puma)"
    else
      port="$(free_port)"
      run_plain slow-puma rack-big "$port" "hello world" \
        "$PUMA_BIN" -w 2 -t 1:1 -b "tcp://127.0.0.1:$port" -e production config.ru
    fi
  fi
}

report_slow() {
  echo "4. Slow clients: $SLOW clients reading GET /big ($BIG_BYTES bytes) at $SLOW_RATE bytes/s each (SO_RCVBUF $SLOW_RCVBUF, MSS $SLOW_MSS); a probe times GET /, a"
  echo "   $( ((PROBE_KEEPALIVE == 1)) && echo "keep-alive connection" || echo "new connection per request") for ${SLOW_SECS}s, first on the idle server, then ${SLOW_SETTLE}s after every slow client has sent its request"
  echo
  printf '| %-16s | %8s | %8s | %9s | %9s | %6s | %11s | %6s | %9s | %9s | %-18s | %-7s |\n' \
    target "idle p50" "idle p99" "slow p50" "slow p99" "p99 x" "probe reqs" "errors" "slow got" "KiB/s/cl" "RSS during" "<= 2x"
  printf '|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|%s|\n' ------------------ ---------- ---------- ----------- ----------- -------- ------------- -------- ----------- ----------- -------------------- ---------
  for row in "${SLOW_ROWS[@]+"${SLOW_ROWS[@]}"}"; do echo "$row"; done
  echo "   (latencies in ms, nearest rank over every probe request, a request that timed out (30 s) counting as its"
  echo "    wait; p99 x = slow p99 / idle p99; probe reqs and errors (errors + timeouts): idle/slow; slow got: slow"
  echo "    clients that received at least one byte; KiB/s/cl: what they read, per client and second; RSS during: the"
  echo "    server's process tree (Passenger: from its watchdog) with the slow clients connected)"
}

# ---------------------------------------------------------------------------
# Run
# ---------------------------------------------------------------------------
part throughput && part_throughput
part uploads && part_uploads
part idle && part_idle
part slow && part_slow

# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------
echo
echo "Ferry slow-client benchmark (issue 16): $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, parts $PARTS"
echo "ruby ${RUBY_BIN:-none} ($("${RUBY_BIN:-false}" -e 'print RUBY_VERSION' 2>/dev/null || echo ?)), python ${PYTHON_BIN:-none} ($("${PYTHON_BIN:-false}" -c 'import platform; print(platform.python_version(), end="")' 2>/dev/null || echo ?)), node ${NODE_BIN:-none} ($("${NODE_BIN:-false}" --version 2>/dev/null || echo ?)), ferry ${FERRY_VERSION:-?}${BASELINE:+, baseline ${BASELINE_VERSION:-?}}"
echo "$NOFILE_NOTE"
for p in ${PARTS//,/ }; do
  echo
  "report_$p"
done
echo
print_commands
print_loads_and_notes
