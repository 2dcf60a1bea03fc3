#!/usr/bin/env bash
# Ferry loader benchmark: a "hello world" Rack, WSGI and Node app with 2 app processes, served by
# Ferry and by the usual servers for each language (Puma, gunicorn, Passenger Standalone, node).
#
# Usage (from the repo root):
#   bash bench/loaders.sh [--duration SECS] [--connections N] [--targets LIST] [--raw-dir DIR]
#                         [--no-build]
#
#   --duration SECS     length of each measured wrk run (default 10)
#   --connections N     concurrent wrk connections (default 16)
#   --targets LIST      comma-separated subset of rack-ferry,rack-puma,rack-passenger,
#                       wsgi-ferry,wsgi-gunicorn,wsgi-passenger,node-ferry,node-ferry-1,node-direct
#                       (default: all of them)
#   --raw-dir DIR       also copy the raw wrk outputs and server logs into DIR
#   --no-build          use target/release/ferry as it is instead of `cargo build --release -p ferry`
#
# Every target is started alone on a 127.0.0.1 port, checked (GET / must return 200 and exactly
# "hello world"), warmed up (2 s of wrk), measured with `wrk -t2 -cN -dSs --latency`, its RSS
# summed right after the run, and stopped before the next one starts. A target that cannot run
# gets an "unavailable: <reason>" row and the run goes on.
# See bench/README.md ("Loader benchmark") for what each target runs and how to read the output.
set -euo pipefail

DURATION=10
CONNECTIONS=16
ALL_TARGETS="rack-ferry,rack-puma,rack-passenger,wsgi-ferry,wsgi-gunicorn,wsgi-passenger,node-ferry,node-ferry-1,node-direct"
TARGETS="$ALL_TARGETS"
RAW_DIR=""
BUILD=1
WARMUP_SECS=2
WRK_THREADS=2
EXPECTED_BODY="hello world"

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }

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
    --no-build) BUILD=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done

[[ "$DURATION" =~ ^[1-9][0-9]*$ ]] || { echo "bench: --duration must be a positive integer (seconds)" >&2; exit 2; }
[[ "$CONNECTIONS" =~ ^[1-9][0-9]*$ ]] || { echo "bench: --connections must be a positive integer" >&2; exit 2; }
# wrk needs at least one connection per thread.
if (( CONNECTIONS < WRK_THREADS )); then WRK_THREADS=$CONNECTIONS; fi
for t in ${TARGETS//,/ }; do
  [[ ",$ALL_TARGETS," == *",$t,"* ]] || { echo "bench: unknown target: $t (known: $ALL_TARGETS)" >&2; exit 2; }
done

if [[ ! -f Cargo.toml || ! -d bench/apps/rack-hello ]]; then
  echo "bench: run this from the repo root (bash bench/loaders.sh)" >&2
  exit 2
fi
REPO_ROOT="$(pwd)"
APPS="$REPO_ROOT/bench/apps"

log() { printf 'bench: %s\n' "$*" >&2; }

# ---------------------------------------------------------------------------
# Process bookkeeping, cleanup and the helpers shared with run.sh and pool.sh: bench/lib.sh
# ---------------------------------------------------------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/ferry-bench-loaders.XXXXXX")"
# Ferry and Passenger run the apps as another user (nobody) when we are root: let it read the copies.
chmod 755 "$WORK"

# shellcheck source=bench/lib.sh
source "$REPO_ROOT/bench/lib.sh"

need wrk
need curl
install_missing || { log "could not install: ${MISSING[*]}"; exit 1; }
require_tools wrk curl

# Interpreters for the apps that Ferry and Passenger start. As root both run the apps as
# `nobody`, which cannot use interpreters under /root (pyenv, rbenv, nvm): prefer /usr/bin.
RUBY_BIN="$(interp ruby)"
PYTHON_BIN="$(interp python3)"
NODE_BIN="$(interp node)"
[[ -z "$NODE_BIN" ]] && NODE_BIN="$(interp nodejs)"

# gunicorn: the first python3 (PATH's, then $PYTHON_BIN) that can import it; run by its real path.
GUNICORN_PY=""
for py in "$(command -v python3 2>/dev/null || true)" "$PYTHON_BIN"; do
  [[ -n "$py" ]] || continue
  if exe="$("$py" -c 'import gunicorn, sys; print(sys.executable)' 2>/dev/null)" && [[ -x "$exe" ]]; then
    GUNICORN_PY="$exe"; break
  fi
done
GUNICORN_VERSION=""
[[ -n "$GUNICORN_PY" ]] && GUNICORN_VERSION="$("$GUNICORN_PY" -c 'import gunicorn; print(gunicorn.__version__)' 2>/dev/null || true)"
PUMA_BIN="$(command -v puma 2>/dev/null || true)"
PASSENGER_BIN="$(command -v passenger 2>/dev/null || true)"

# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------
ROWS=()
declare -A RPS
add_row() { # add_row TARGET WRKFILE RSS
  local rps p50 p99 sock non2xx total errs
  read -r rps p50 p99 sock non2xx total < <(parse_wrk "$2")
  errs=$(( sock + non2xx ))
  RPS[$1]="$rps"
  ROWS+=("$(printf '| %-14s | %9s | %8s | %8s | %6s | %9s | %-20s |' \
    "$1" "$rps" "$p50" "$p99" "$errs" "$total" "$3")")
  (( errs > 0 )) && NOTES+=("$1: $errs wrk errors (socket errors + non-2xx); see the raw wrk output (--raw-dir)")
  return 0
}
add_unavailable() { # add_unavailable TARGET REASON
  local why
  why="$(one_line "$2")"
  ROWS+=("$(printf '| %-14s | unavailable: %s |' "$1" "$why")")
  log "$1: unavailable: $why"
}

# measure TARGET PORT RSS_ROOT...: warm up, run wrk, record the row with the RSS of the roots'
# process trees right after the run.
measure() {
  local target="$1" port="$2"; shift 2
  warm_up "$port" "$target" "$CONNECTIONS"
  log "$target: measuring for ${DURATION}s"
  run_wrk "$port" "$CONNECTIONS" "$DURATION" "$WORK/$target.wrk.txt"
  add_row "$target" "$WORK/$target.wrk.txt" "$(tree_rss "$WORK/$target.procs.txt" "$@")"
  if ! check_body "$port"; then NOTES+=("$target: after the run, $(what_we_got)"); fi
  save_raw "$target" "$WORK/$target.wrk.txt" "$WORK/$target.procs.txt"
}

# ---------------------------------------------------------------------------
# Build
# ---------------------------------------------------------------------------
FERRY_BIN="$REPO_ROOT/target/release/ferry"
FERRY_UNAVAILABLE=""
if want_any rack-ferry wsgi-ferry node-ferry node-ferry-1; then
  build_ferry "use --no-build with an existing target/release/ferry" "no binary at target/release/ferry"
fi

log "duration ${DURATION}s, ${CONNECTIONS} connections, ${WRK_THREADS} wrk threads, $(nproc) CPUs; work dir $WORK"

# ---------------------------------------------------------------------------
# Ferry (any app type)
# ---------------------------------------------------------------------------
# bench_ferry TARGET APP LOADER PROCS INTERPRETER_FLAG INTERPRETER
bench_ferry() {
  local target="$1" app="$2" loader="$3" procs="$4" iflag="$5" ibin="$6"
  local dir
  if [[ -n "$FERRY_UNAVAILABLE" ]]; then add_unavailable "$target" "$FERRY_UNAVAILABLE"; return 0; fi
  if [[ ! -f "$REPO_ROOT/loaders/$loader" ]]; then
    add_unavailable "$target" "loader loaders/$loader is missing"; return 0
  fi
  if [[ -z "$ibin" ]]; then add_unavailable "$target" "no interpreter for $iflag"; return 0; fi
  dir="$(app_copy "$target" "$app")"
  run_ferry "$target" "$dir" "$EXPECTED_BODY" "$procs $app process(es)" \
    "$FERRY_BIN" start "$dir/app" --address 127.0.0.1 --port 0 \
    --max-pool-size "$procs" --min-instances "$procs" "$iflag" "$ibin"
}

# ---------------------------------------------------------------------------
# Passenger Standalone, builtin engine (Rack or WSGI)
# ---------------------------------------------------------------------------
# bench_passenger TARGET APP APP_TYPE STARTUP_FILE INTERPRETER_FLAG INTERPRETER
bench_passenger() {
  local target="$1" app="$2" type="$3" startup="$4" iflag="$5" ibin="$6"
  local dir port
  if [[ -z "$PASSENGER_BIN" ]]; then
    add_unavailable "$target" "the passenger command is not installed (apt-get install passenger)"; return 0
  fi
  if [[ -z "$ibin" ]]; then add_unavailable "$target" "no interpreter for $iflag"; return 0; fi
  dir="$(app_copy "$target" "$app")"
  port="$(free_port)"
  passenger_flags "$dir" "$port" \
    --max-pool-size 2 --min-instances 2 --environment production \
    --app-type "$type" --startup-file "$startup" "$iflag" "$ibin"
  run_passenger "$target" "$dir" "$port" "$EXPECTED_BODY" "${PASSENGER_FLAGS[@]}"
}

# ---------------------------------------------------------------------------
# Servers that listen on a port we pick: puma, gunicorn, node
# ---------------------------------------------------------------------------
# (run_plain in bench/lib.sh: CMD, run in the app copy, must listen on 127.0.0.1:PORT.)
bench_puma() {
  if [[ -z "$PUMA_BIN" ]]; then add_unavailable rack-puma "the puma command is not installed (apt-get install puma)"; return 0; fi
  local port; port="$(free_port)"
  run_plain rack-puma rack-hello "$port" "$EXPECTED_BODY" \
    "$PUMA_BIN" -w 2 -t 1:1 -b "tcp://127.0.0.1:$port" -e production config.ru
}

bench_gunicorn() {
  if [[ -z "$GUNICORN_PY" ]]; then add_unavailable wsgi-gunicorn "no python3 here can import gunicorn (pip install gunicorn)"; return 0; fi
  local port; port="$(free_port)"
  run_plain wsgi-gunicorn wsgi-hello "$port" "$EXPECTED_BODY" \
    "$GUNICORN_PY" -m gunicorn -w 2 -k sync -b "127.0.0.1:$port" passenger_wsgi:application
}

bench_node_direct() {
  if [[ -z "$NODE_BIN" ]]; then add_unavailable node-direct "node is not installed"; return 0; fi
  local port; port="$(free_port)"
  run_plain node-direct node-hello "$port" "$EXPECTED_BODY" env "PORT=$port" "$NODE_BIN" app.js
}

# ---------------------------------------------------------------------------
# Run
# ---------------------------------------------------------------------------
want rack-ferry && bench_ferry rack-ferry rack-hello ruby/rack-loader.rb 2 --ruby "$RUBY_BIN"
want rack-puma && bench_puma
want rack-passenger && bench_passenger rack-passenger rack-hello rack config.ru --ruby "$RUBY_BIN"
want wsgi-ferry && bench_ferry wsgi-ferry wsgi-hello python/wsgi-loader.py 2 --python "$PYTHON_BIN"
want wsgi-gunicorn && bench_gunicorn
want wsgi-passenger && bench_passenger wsgi-passenger wsgi-hello wsgi passenger_wsgi.py --python "$PYTHON_BIN"
want node-ferry && bench_ferry node-ferry node-hello node/node-loader.js 2 --nodejs "$NODE_BIN"
want node-ferry-1 && bench_ferry node-ferry-1 node-hello node/node-loader.js 1 --nodejs "$NODE_BIN"
want node-direct && bench_node_direct

# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------
# ratio_line LABEL A B [GOAL]: "LABEL = R" plus whether R meets GOAL (R >= GOAL).
ratio_line() {
  local r; r="$(ratio "${RPS[$2]:-}" "${RPS[$3]:-}")"
  printf '  %-38s %5s' "$1" "$r"
  if [[ -n "${4:-}" ]]; then
    if [[ "$r" == "n/a" ]]; then printf '   (target >= %s: not measured)' "$4"
    elif awk -v r="$r" -v g="$4" 'BEGIN { exit !(r + 0 >= g + 0) }'; then printf '   (target >= %s: met)' "$4"
    else printf '   (target >= %s: NOT met)' "$4"; fi
  fi
  echo
}

echo
echo "Ferry loader benchmark: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, wrk -t$WRK_THREADS -c$CONNECTIONS -d${DURATION}s --latency, GET / -> \"$EXPECTED_BODY\""
echo "ruby ${RUBY_BIN:-none} ($("${RUBY_BIN:-false}" -e 'print RUBY_VERSION' 2>/dev/null || echo ?)), python ${PYTHON_BIN:-none} ($("${PYTHON_BIN:-false}" -c 'import platform; print(platform.python_version(), end="")' 2>/dev/null || echo ?)), node ${NODE_BIN:-none} ($("${NODE_BIN:-false}" --version 2>/dev/null || echo ?)), puma $("${PUMA_BIN:-false}" --version 2>/dev/null | awk '{print $3}' || echo ?), gunicorn ${GUNICORN_VERSION:-?} (${GUNICORN_PY:-none}), $("${PASSENGER_BIN:-false}" --version 2>/dev/null | head -n1 || echo 'passenger ?')"
echo
echo "| target         |     req/s |      p50 |      p99 | errors |  requests | RSS after the run    |"
echo "|----------------|-----------|----------|----------|--------|-----------|----------------------|"
for row in "${ROWS[@]+"${ROWS[@]}"}"; do echo "$row"; done
echo
echo "Ratios (req/s over req/s; every row has 2 app processes unless its name says otherwise):"
if want_any rack-ferry rack-puma rack-passenger; then
  ratio_line "rack  ferry/passenger" rack-ferry rack-passenger 2.0
  ratio_line "rack  ferry/puma" rack-ferry rack-puma 1.0
fi
if want_any wsgi-ferry wsgi-gunicorn wsgi-passenger; then
  ratio_line "wsgi  ferry/gunicorn" wsgi-ferry wsgi-gunicorn 1.5
  ratio_line "wsgi  ferry/passenger" wsgi-ferry wsgi-passenger
fi
if want_any node-ferry node-ferry-1 node-direct; then
  ratio_line "node  ferry-1/direct (like for like)" node-ferry-1 node-direct 0.9
  ratio_line "node  ferry/direct (2 procs vs 1)" node-ferry node-direct
fi
echo "  (node: node-direct is one node process, so node-ferry-1, Ferry with one node process, is the"
echo "   like-for-like comparison; node-ferry runs two node processes behind Ferry.)"
echo
print_commands
print_loads_and_notes
