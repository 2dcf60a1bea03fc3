#!/usr/bin/env bash
# Ferry ASGI benchmark (issue 22): a raw ASGI "hello world", a FastAPI JSON endpoint and a 50 ms
# asyncio.sleep endpoint, each served with 2 app processes by Ferry (asgi-loader.py), by uvicorn
# (2 workers, uvloop and httptools) and by Granian (2 workers, ASGI interface).
#
# Usage (from the repo root):
#   bash bench/asgi.sh [--duration SECS] [--targets LIST] [--scenarios LIST] [--raw-dir DIR]
#                      [--no-build]
#
#   --duration SECS     length of each measured wrk run (default 10)
#   --targets LIST      comma-separated subset of ferry,uvicorn,granian (default: all)
#   --scenarios LIST    comma-separated subset of hello-16,hello-64,fastapi-16,fastapi-64,
#                       sleep-256 (NAME-CONNECTIONS; default: all)
#   --raw-dir DIR       also copy the raw wrk outputs and server logs into DIR
#   --no-build          use target/release/ferry as it is instead of `cargo build --release -p ferry`
#
# Each target is started once per app (bench/apps/asgi-hello for hello and sleep, bench/apps/
# fastapi-hello for fastapi) on a 127.0.0.1 port, checked (the body must be exactly the expected
# one), then for each scenario warmed up (2 s of wrk) and measured with
# `wrk -t2 -cN -dSs --latency`; its RSS is summed after the app's last scenario, and it is stopped
# before the next target starts. All servers run the apps with the same python3: the first one
# (PATH's, then /usr/bin/python3) that imports fastapi, uvicorn and granian. As root, Ferry is
# told to run the apps as root too (--user root --allow-root-apps), as uvicorn and Granian do.
# A target that cannot run gets an "unavailable: <reason>" row and the run goes on.
# See bench/README.md ("ASGI benchmark") for how to read the output.
set -euo pipefail

DURATION=10
ALL_TARGETS="ferry,uvicorn,granian"
ALL_SCENARIOS="hello-16,hello-64,fastapi-16,fastapi-64,sleep-256"
TARGETS="$ALL_TARGETS"
SCENARIOS="$ALL_SCENARIOS"
RAW_DIR=""
BUILD=1
WARMUP_SECS=2
WRK_THREADS=2
WRK_TIMEOUT=10

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --duration) DURATION="${2:?--duration needs a value}"; shift 2 ;;
    --duration=*) DURATION="${1#*=}"; shift ;;
    --targets) TARGETS="${2:?--targets needs a value}"; shift 2 ;;
    --targets=*) TARGETS="${1#*=}"; shift ;;
    --scenarios) SCENARIOS="${2:?--scenarios needs a value}"; shift 2 ;;
    --scenarios=*) SCENARIOS="${1#*=}"; shift ;;
    --raw-dir) RAW_DIR="${2:?--raw-dir needs a value}"; shift 2 ;;
    --raw-dir=*) RAW_DIR="${1#*=}"; shift ;;
    --no-build) BUILD=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done

[[ "$DURATION" =~ ^[1-9][0-9]*$ ]] || { echo "bench: --duration must be a positive integer (seconds)" >&2; exit 2; }
for t in ${TARGETS//,/ }; do
  [[ ",$ALL_TARGETS," == *",$t,"* ]] || { echo "bench: unknown target: $t (known: $ALL_TARGETS)" >&2; exit 2; }
done
for s in ${SCENARIOS//,/ }; do
  [[ ",$ALL_SCENARIOS," == *",$s,"* ]] || { echo "bench: unknown scenario: $s (known: $ALL_SCENARIOS)" >&2; exit 2; }
done

if [[ ! -f Cargo.toml || ! -d bench/apps/asgi-hello ]]; then
  echo "bench: run this from the repo root (bash bench/asgi.sh)" >&2
  exit 2
fi
REPO_ROOT="$(pwd)"
APPS="$REPO_ROOT/bench/apps"
# Ferry finds loaders/ (asgi-loader.py) next to its binary's repo; with CARGO_TARGET_DIR outside
# the repo it cannot, so point it at this checkout's loaders.
export FERRY_ROOT="${FERRY_ROOT:-$REPO_ROOT}"

log() { printf 'bench: %s\n' "$*" >&2; }

WORK="$(mktemp -d "${TMPDIR:-/tmp}/ferry-bench-asgi.XXXXXX")"
chmod 755 "$WORK"

# shellcheck source=bench/lib.sh
source "$REPO_ROOT/bench/lib.sh"

need wrk
need curl
install_missing || { log "could not install: ${MISSING[*]}"; exit 1; }
require_tools wrk curl

# One python3 for every server: the first that imports the frameworks and both servers.
PYTHON_BIN=""
for py in "$(command -v python3 2>/dev/null || true)" /usr/bin/python3; do
  [[ -n "$py" && -x "$py" ]] || continue
  if exe="$("$py" -c 'import fastapi, uvicorn, granian, sys; print(sys.executable)' 2>/dev/null)"; then
    PYTHON_BIN="$exe"; break
  fi
done
versions() {
  "$PYTHON_BIN" - <<'EOF' 2>/dev/null || echo "?"
import importlib, platform
out = ['python ' + platform.python_version()]
for m in ('fastapi', 'uvicorn', 'granian', 'uvloop', 'httptools'):
    try:
        out.append('%s %s' % (m, importlib.import_module(m).__version__))
    except Exception:
        out.append('%s missing' % m)
print(', '.join(out))
EOF
}

# ---------------------------------------------------------------------------
# Scenarios: NAME-CONNECTIONS -> app, path, expected body
# ---------------------------------------------------------------------------
scenario_app() { case "$1" in hello-*|sleep-*) echo asgi-hello ;; fastapi-*) echo fastapi-hello ;; esac; }
scenario_path() { case "$1" in sleep-*) echo /sleep ;; *) echo / ;; esac; }
scenario_body() { case "$1" in fastapi-*) echo '{"message":"hello world"}' ;; *) echo 'hello world' ;; esac; }
scenario_conns() { echo "${1##*-}"; }
wanted_scenarios() { # wanted_scenarios APP: the wanted scenarios served by APP, in order
  local s
  for s in ${ALL_SCENARIOS//,/ }; do
    [[ ",$SCENARIOS," == *",$s,"* && "$(scenario_app "$s")" == "$1" ]] && echo "$s"
  done
}

# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------
ROWS=()
declare -A RPS P99
add_row() { # add_row SCENARIO TARGET WRKFILE RSS
  local rps p50 p99 sock non2xx total errs
  read -r rps p50 p99 sock non2xx total < <(parse_wrk "$3")
  errs=$(( sock + non2xx ))
  RPS[$1/$2]="$rps"; P99[$1/$2]="$p99"
  ROWS+=("$(printf '| %-10s | %-8s | %9s | %8s | %8s | %6s | %9s | %-20s |' \
    "$1" "$2" "$rps" "$p50" "$p99" "$errs" "$total" "$4")")
  (( errs > 0 )) && NOTES+=("$1/$2: $errs wrk errors (socket errors + non-2xx); see the raw wrk output (--raw-dir)")
  return 0
}
add_unavailable() { # add_unavailable TARGET REASON: one row for every scenario of the app now measured
  local why s
  why="$(one_line "$2")"
  for s in $(wanted_scenarios "$CURRENT_APP"); do
    ROWS+=("$(printf '| %-10s | %-8s | unavailable: %s |' "$s" "$1" "$why")")
  done
  log "$1: unavailable: $why"
}

# measure TARGET PORT ROOT_PID...: every wanted scenario of CURRENT_APP against one server.
CURRENT_APP=""
measure() {
  local target="$1" port="$2" s conns rss; shift 2
  local scenarios=() wrk_files=()
  while read -r s; do [[ -n "$s" ]] && scenarios+=("$s"); done < <(wanted_scenarios "$CURRENT_APP")
  for s in "${scenarios[@]}"; do
    conns="$(scenario_conns "$s")"
    BENCH_PATH="$(scenario_path "$s")"
    EXPECTED_BODY="$(scenario_body "$s")"
    warm_up "$port" "$s-$target" "$conns" settle
    log "$s/$target: measuring for ${DURATION}s with $conns connections"
    run_wrk "$port" "$conns" "$DURATION" "$WORK/$s-$target.wrk.txt"
    wrk_files+=("$WORK/$s-$target.wrk.txt")
    if ! check_body "$port"; then NOTES+=("$s/$target: after the run, $(what_we_got)"); fi
  done
  rss="$(tree_rss "$WORK/$target-$CURRENT_APP.procs.txt" "$@")"
  for s in "${scenarios[@]}"; do
    add_row "$s" "$target" "$WORK/$s-$target.wrk.txt" "$rss"
  done
  save_raw "$target" ${wrk_files[@]+"${wrk_files[@]}"} "$WORK/$target-$CURRENT_APP.procs.txt"
}

# ---------------------------------------------------------------------------
# Build
# ---------------------------------------------------------------------------
# Where `cargo build --release` puts it (CARGO_TARGET_DIR when set).
FERRY_BIN="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/ferry"
FERRY_UNAVAILABLE=""
if want ferry; then
  build_ferry "use --no-build with an existing target/release/ferry" "no binary at $FERRY_BIN"
fi
if [[ -z "$PYTHON_BIN" ]]; then
  log "no python3 here imports fastapi, uvicorn and granian (scripts/install-deps.sh installs them)"
fi
log "duration ${DURATION}s, ${WRK_THREADS} wrk threads, $(nproc) CPUs; work dir $WORK"

# ---------------------------------------------------------------------------
# Servers
# ---------------------------------------------------------------------------
# The app's module and attribute, for uvicorn and Granian; Ferry's startup file.
app_target() { case "$1" in asgi-hello) echo asgi:app ;; fastapi-hello) echo main:app ;; esac; }
app_startup() { case "$1" in asgi-hello) echo asgi.py ;; fastapi-hello) echo main.py:app ;; esac; }

bench_ferry() {
  local app="$1" dir users=()
  if [[ -n "$FERRY_UNAVAILABLE" ]]; then add_unavailable ferry "$FERRY_UNAVAILABLE"; return 0; fi
  if [[ -z "$PYTHON_BIN" ]]; then add_unavailable ferry "no python3 with fastapi, uvicorn and granian"; return 0; fi
  users=(--user "$(id -un)")
  [[ "$(id -u)" == "0" ]] && users+=(--allow-root-apps)
  # One short copy name for both apps: the preloader's socket lives under the copy's tmp/ and a
  # unix socket path has at most 107 bytes.
  rm -rf "$WORK/ferry"
  dir="$(app_copy ferry "$app")"
  EXPECTED_BODY="$(scenario_body "$(wanted_scenarios "$app" | head -n1)")"
  BENCH_PATH=/
  run_ferry ferry "$dir" "$EXPECTED_BODY" "2 $app processes" \
    "$FERRY_BIN" start "$dir/app" --address 127.0.0.1 --port 0 \
    --max-pool-size 2 --min-instances 2 --app-type asgi --startup-file "$(app_startup "$app")" \
    --python "$PYTHON_BIN" "${users[@]}"
}

bench_uvicorn() {
  local app="$1" port
  if [[ -z "$PYTHON_BIN" ]]; then add_unavailable uvicorn "no python3 with fastapi, uvicorn and granian"; return 0; fi
  port="$(free_port)"
  rm -rf "$WORK/uvicorn" # run_plain copies the app into WORK/TARGET, once per app
  EXPECTED_BODY="$(scenario_body "$(wanted_scenarios "$app" | head -n1)")"
  BENCH_PATH=/
  local loop=(--loop uvloop) http=(--http httptools)
  "$PYTHON_BIN" -c 'import uvloop' 2>/dev/null || { loop=(); NOTES+=("uvicorn: uvloop is not installed"); }
  "$PYTHON_BIN" -c 'import httptools' 2>/dev/null || { http=(); NOTES+=("uvicorn: httptools is not installed (uvicorn uses h11)"); }
  run_plain uvicorn "$app" "$port" "$EXPECTED_BODY" \
    "$PYTHON_BIN" -m uvicorn "$(app_target "$app")" --host 127.0.0.1 --port "$port" --workers 2 \
    ${loop[@]+"${loop[@]}"} ${http[@]+"${http[@]}"} --no-access-log --log-level warning
}

bench_granian() {
  local app="$1" port
  if [[ -z "$PYTHON_BIN" ]]; then add_unavailable granian "no python3 with fastapi, uvicorn and granian"; return 0; fi
  port="$(free_port)"
  rm -rf "$WORK/granian"
  EXPECTED_BODY="$(scenario_body "$(wanted_scenarios "$app" | head -n1)")"
  BENCH_PATH=/
  run_plain granian "$app" "$port" "$EXPECTED_BODY" \
    "$PYTHON_BIN" -m granian --interface asgi --host 127.0.0.1 --port "$port" --workers 2 \
    --log-level warning "$(app_target "$app")"
}

# ---------------------------------------------------------------------------
# Run
# ---------------------------------------------------------------------------
for CURRENT_APP in asgi-hello fastapi-hello; do
  [[ -n "$(wanted_scenarios "$CURRENT_APP")" ]] || continue
  want ferry && bench_ferry "$CURRENT_APP"
  want uvicorn && bench_uvicorn "$CURRENT_APP"
  want granian && bench_granian "$CURRENT_APP"
done

# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------
ratio_line() { # ratio_line SCENARIO OTHER: ferry's req/s over OTHER's, against the 1.0 target
  local r; r="$(ratio "${RPS[$1/ferry]:-}" "${RPS[$1/$2]:-}")"
  printf '  %-10s ferry/%-8s %5s' "$1" "$2" "$r"
  if [[ "$r" == "n/a" ]]; then printf '   (target >= 1.0: not measured)'
  elif awk -v r="$r" 'BEGIN { exit !(r + 0 >= 1.0) }'; then printf '   (target >= 1.0: met)'
  else printf '   (target >= 1.0: NOT met)'; fi
  printf '   p99 %s vs %s\n' "${P99[$1/ferry]:-?}" "${P99[$1/$2]:-?}"
}

echo
echo "Ferry ASGI benchmark: $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) CPUs, wrk -t$WRK_THREADS -d${DURATION}s --latency, 2 app processes per target"
echo "${PYTHON_BIN:-no python3}: $(versions)"
echo
echo "| scenario   | target   |     req/s |      p50 |      p99 | errors |  requests | RSS after its app    |"
echo "|------------|----------|-----------|----------|----------|--------|-----------|----------------------|"
for row in "${ROWS[@]+"${ROWS[@]}"}"; do echo "$row"; done
echo
echo "Ratios (req/s over req/s):"
for s in ${SCENARIOS//,/ }; do
  want uvicorn && ratio_line "$s" uvicorn
  want granian && ratio_line "$s" granian
done
echo
print_commands
print_loads_and_notes
