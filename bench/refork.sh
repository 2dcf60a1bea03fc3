#!/usr/bin/env bash
# Re-forking (issue 22): private dirty memory per worker after warm-up, for workers forked from
# the cold preloader (smart spawning, the default) and for workers forked from a warmed worker
# promoted to template (`--refork-after`). Target: re-forked <= 60 % of smart for the Rails app.
#
#   rails   bench/apps/rails-lazy: a one-file Rails app that loads and compiles on first use
#           (eager_load off, an ERB view, I18n, libraries required in the action, a cache)
#   rack    crates/ferry-test-support/apps/refork-rack: builds LAZY_ENTRIES strings on first use
#   python  crates/ferry-test-support/apps/refork-wsgi: the same in WSGI
#
# For each app, two runs of `ferry start` with --min-instances = --max-pool-size = WORKERS:
#   smart   warm-up: REQUESTS requests per worker (the pool spreads sequential requests over
#           the workers: least busy, then least recently used), then measure;
#   refork  --refork-after N: requests until the template is a re-forked worker (`ferry status
#           --format json`) and every worker is its child (the roll is over), then REQUESTS
#           requests per worker, then measure.
# "private dirty" is Private_Dirty from /proc/PID/smaps_rollup (what Ferry's memory limits
# read), per worker: median, min and max; "pss" is the median proportional set size.
#
# Usage (from anywhere; as root: Ruby's Rails comes from apt when missing):
#   bash bench/refork.sh [--apps rails,rack,python] [--workers N] [--requests N]
#                        [--refork-after N] [--lazy-entries N] [--no-build]
# Environment: CARGO_TARGET_DIR (where the release `ferry` is built), FERRY_BIN (use this
# binary; implies --no-build).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
REPO_ROOT="$PWD"

APPS_WANTED="rails,rack,python"
WORKERS=4
REQUESTS=100
REFORK_AFTER=50
LAZY_ENTRIES=""
BUILD=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --apps) APPS_WANTED="${2:?--apps needs a value}"; shift 2 ;;
    --workers) WORKERS="${2:?--workers needs a value}"; shift 2 ;;
    --requests) REQUESTS="${2:?--requests needs a value}"; shift 2 ;;
    --refork-after) REFORK_AFTER="${2:?--refork-after needs a value}"; shift 2 ;;
    --lazy-entries) LAZY_ENTRIES="${2:?--lazy-entries needs a value}"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    -h|--help) sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "refork.sh: unknown argument: $1" >&2; exit 2 ;;
  esac
done

WORK="$(mktemp -d /tmp/ferry-refork-bench.XXXXXX)"
chmod 755 "$WORK"
log() { echo "refork.sh: $*" >&2; }
# shellcheck source=bench/lib.sh
source "$REPO_ROOT/bench/lib.sh"

if [[ -n "${FERRY_BIN:-}" ]]; then
  BUILD=0
else
  FERRY_BIN="${CARGO_TARGET_DIR:-$REPO_ROOT/target}/release/ferry"
fi
FERRY_UNAVAILABLE=""
build_ferry "install Rust" "no ferry binary at $FERRY_BIN"
[[ -z "$FERRY_UNAVAILABLE" ]] || { log "$FERRY_UNAVAILABLE"; exit 1; }
export FERRY_ROOT="$REPO_ROOT"
require_tools curl python3

have_rails() { ruby -e 'require "rails"; require "action_controller/railtie"' >/dev/null 2>&1; }

ROWS=()  # "app mode workers median min max pss"
NOTES=()

# private_dirty PID -> Private_Dirty in KiB; pss PID -> Pss in KiB.
private_dirty() { awk '/^Private_Dirty:/ {print $2}' "/proc/$1/smaps_rollup" 2>/dev/null || true; }
pss() { awk '/^Pss:/ {print $2}' "/proc/$1/smaps_rollup" 2>/dev/null || true; }

# status_json REGISTRY: `ferry status --format json` of the one instance there.
status_json() { "$FERRY_BIN" status --format json --no-header --instance-registry-dir "$1" 2>/dev/null || true; }

# pool_facts REGISTRY: "PRELOADER REFORKED WORKER..." from the status (pids of processes taking
# requests), or nothing.
pool_facts() {
  status_json "$1" | python3 -c '
import json, sys
try:
    pool = json.load(sys.stdin)
except ValueError:
    sys.exit(0)
g = (pool.get("groups") or [{}])[0]
p = g.get("preloader") or {}
alive = [str(x["pid"]) for x in g.get("processes", []) if x.get("life_state") == "alive"]
print(p.get("pid", 0), str(p.get("reforked", False)).lower(), " ".join(alive))'
}

# ppid_of PID: its parent (the fields after the command name, which may hold spaces).
ppid_of() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $2}' || echo 0; }

# requests PORT N: N sequential GET / on kept connections (curl batches of 50 URLs).
requests() {
  local port="$1" left="$2" n urls
  while (( left > 0 )); do
    n=$(( left < 50 ? left : 50 ))
    urls=()
    for ((i = 0; i < n; i++)); do urls+=(-o /dev/null "http://127.0.0.1:$port/"); done
    curl -s -f "${urls[@]}" || { log "a request failed"; return 1; }
    left=$(( left - n ))
  done
}

# wait_workers REGISTRY COUNT [TEMPLATE_ONLY]: until COUNT processes take requests (and, with
# TEMPLATE_ONLY, the preloader is a re-forked template whose children they all are). Sends
# requests meanwhile when PORT is set (re-forking needs traffic). Prints the facts line.
wait_workers() {
  local registry="$1" count="$2" template_only="${3:-}" port="${4:-}" facts pre reforked w ok
  for ((t = 0; t < 600; t++)); do
    facts="$(pool_facts "$registry")"
    read -r pre reforked w_list <<<"${facts:-0 false}" || true
    # shellcheck disable=SC2206
    local ws=(${w_list:-})
    ok=1
    (( ${#ws[@]} == count )) || ok=0
    if [[ -n "$template_only" ]]; then
      [[ "$reforked" == "true" ]] || ok=0
      for w in "${ws[@]+"${ws[@]}"}"; do [[ "$(ppid_of "$w")" == "$pre" ]] || ok=0; done
    fi
    if (( ok == 1 )); then echo "$facts"; return 0; fi
    if [[ -n "$port" ]]; then requests "$port" 10 || true; else sleep 0.1; fi
  done
  return 1
}

# run APP_NAME APP_DIR MODE
run() {
  local name="$1" app="$2" mode="$3" dir reg out err pid port facts pre workers w values
  dir="$WORK/$name-$mode"; reg="$dir/registry"
  mkdir -p "$dir/tmp" "$reg"
  local args=(start "$app" --address 127.0.0.1 --port 0 --user "$(id -un)" --allow-root-apps
              --min-instances "$WORKERS" --max-pool-size "$WORKERS" --pool-idle-time 0
              --max-preloader-idle-time 0 --instance-registry-dir "$reg")
  [[ -n "$LAZY_ENTRIES" ]] && args+=(--envvar "LAZY_ENTRIES=$LAZY_ENTRIES")
  [[ "$mode" == "refork" ]] && args+=(--refork-after "$REFORK_AFTER")
  out="$dir/ferry.out"; err="$dir/ferry.err"
  log "$name/$mode: ferry ${args[*]}"
  start_bg "$dir" "$out" "$err" env TMPDIR="$dir/tmp" "$FERRY_BIN" "${args[@]}"
  pid="$SERVER_PID"
  port="$(ferry_port "$out" "$pid")"
  if [[ -z "$port" ]]; then
    NOTES+=("$name/$mode: ferry did not start: $(last_lines "$err")"); stop_term "$pid" "ferry"; return
  fi
  requests "$port" 1 || { NOTES+=("$name/$mode: the app does not answer: $(last_lines "$err")"); stop_term "$pid" "ferry"; return; }
  if ! wait_workers "$reg" "$WORKERS" >/dev/null; then
    NOTES+=("$name/$mode: $WORKERS workers did not come up"); stop_term "$pid" "ferry"; return
  fi
  if [[ "$mode" == "refork" ]]; then
    if ! facts="$(wait_workers "$reg" "$WORKERS" template "$port")"; then
      facts="$(pool_facts "$reg")"
      local parents=""
      for w in ${facts#* * }; do parents+=" $w<-$(ppid_of "$w")"; done
      NOTES+=("$name/$mode: no re-forked template with $WORKERS children: preloader ${facts%% *}, workers$parents")
      stop_term "$pid" "ferry"; return
    fi
  fi
  requests "$port" $(( REQUESTS * WORKERS )) || NOTES+=("$name/$mode: a warm-up request failed")
  facts="$(pool_facts "$reg")"
  read -r pre _ workers <<<"$facts"
  values=()
  local psses=()
  for w in $workers; do values+=("$(private_dirty "$w")"); psses+=("$(pss "$w")"); done
  ROWS+=("$name $mode ${#values[@]} $(median_of "${values[@]}") $(printf '%s\n' "${values[@]}" | sort -n | head -1) $(printf '%s\n' "${values[@]}" | sort -n | tail -1) $(median_of "${psses[@]}") $pre")
  stop_term "$pid" "$name/$mode: ferry"
}

IFS=, read -r -a wanted <<<"$APPS_WANTED"
for name in "${wanted[@]}"; do
  case "$name" in
    rails)
      if ! have_rails; then
        apt_install ruby-rails >/dev/null 2>&1 || true
      fi
      if ! have_rails; then NOTES+=("rails: Rails is not installed (apt-get install ruby-rails)"); continue; fi
      app="$REPO_ROOT/bench/apps/rails-lazy" ;;
    rack) app="$REPO_ROOT/crates/ferry-test-support/apps/refork-rack" ;;
    python) app="$REPO_ROOT/crates/ferry-test-support/apps/refork-wsgi" ;;
    *) log "unknown app: $name"; exit 2 ;;
  esac
  run "$name" "$app" smart
  run "$name" "$app" refork
done

echo "ruby: $(ruby -v 2>/dev/null || echo missing); python: $(python3 -V 2>&1); rails: $(ruby -e 'require "rails"; print Rails.version' 2>/dev/null || echo missing)"
echo "CPUs: $(nproc); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "workers: $WORKERS; warm-up: $REQUESTS requests per worker; --refork-after $REFORK_AFTER"
echo
printf '%-7s %-7s %7s %16s %10s %10s %10s %8s\n' app mode workers "private dirty" min max pss "vs smart"
printf '%-7s %-7s %7s %16s %10s %10s %10s %8s\n' "" "" "" "(median KiB)" KiB KiB KiB ""
declare -A SMART=()
for row in "${ROWS[@]+"${ROWS[@]}"}"; do
  read -r app mode n med min max p _ <<<"$row"
  [[ "$mode" == "smart" ]] && SMART[$app]="$med"
  vs=""
  if [[ "$mode" == "refork" && -n "${SMART[$app]:-}" && "${SMART[$app]}" != "0" ]]; then
    vs="$(awk -v a="$med" -v b="${SMART[$app]}" 'BEGIN { printf "%.0f %%", 100 * a / b }')"
  fi
  printf '%-7s %-7s %7s %16s %10s %10s %10s %8s\n' "$app" "$mode" "$n" "$med" "$min" "$max" "$p" "$vs"
done
for note in "${NOTES[@]+"${NOTES[@]}"}"; do echo "note: $note"; done
