# Process bookkeeping, cleanup, package installs and server runs shared by the bench/ scripts.
#
# Sourced, not run. Expects from the sourcing script: `WORK` (its private temp directory, which
# identifies the processes it started) and `log`; for the server helpers also `APPS` (bench/apps)
# and `RAW_DIR` (empty: keep no raw files). Defines STARTED_PGIDS and PASSENGER_PIDFILE (set them
# as servers start), the `cleanup` EXIT trap (installed here), `kill_tree`, `forget_pgid`,
# `alive`, `wait_gone`, `apt_install`, and `cpu_busy`, `save_raw`, `last_lines`, `app_copy`,
# `start_bg`/`stop_bg`.
# shellcheck shell=bash

# PIDs of process-group leaders we started with setsid (one per server).
STARTED_PGIDS=()

# All descendants of a PID (children, grandchildren, ...), one per line.
descendants() {
  local root="$1" table
  table="$(ps -e -o pid=,ppid= 2>/dev/null || true)"
  awk -v root="$root" '
    { parent[$1] = $2; pids[NR] = $1 }
    END {
      want[root] = 1; changed = 1
      while (changed) {
        changed = 0
        for (i in pids) { p = pids[i]; if (!(p in want) && (parent[p] in want)) { want[p] = 1; changed = 1 } }
      }
      for (p in want) if (p != root) print p
    }' <<<"$table"
}

# PIDs whose command line mentions our private work directory (Passenger's agents and the apps
# it spawns mention it; nobody else's processes can). This script's own process group is skipped.
MY_PGID="$(ps -o pgid= -p $$ | tr -d ' ')"
pids_mentioning_work() {
  local f pid pg
  for f in /proc/[0-9]*/cmdline; do
    pid="${f#/proc/}"; pid="${pid%/cmdline}"
    [[ "$pid" == "$$" ]] && continue
    if tr '\0' ' ' 2>/dev/null <"$f" | grep -qF -- "$WORK"; then
      pg="$(ps -o pgid= -p "$pid" 2>/dev/null | tr -d ' ' || true)"
      [[ -z "$pg" || "$pg" == "$MY_PGID" ]] && continue
      echo "$pid"
    fi
  done
}

alive() { # alive PID: running and not a zombie
  local st
  st="$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || true)"
  [[ -n "$st" && "$st" != "Z" ]]
}

# wait_gone TRIES PID...: wait (0.1 s per try) until none of the PIDs is alive.
wait_gone() {
  local tries="$1"; shift
  local i p any
  for ((i = 0; i < tries; i++)); do
    any=0
    for p in "$@"; do if alive "$p"; then any=1; break; fi; done
    (( any == 0 )) && return 0
    sleep 0.1
  done
  return 1
}

# Kill a server: SIGTERM to its process group and to every descendant (Ferry puts app
# processes into their own process groups), bounded wait, then SIGKILL what is left.
kill_tree() {
  local leader="$1" pids p
  pids=("$leader")
  while read -r p; do [[ -n "$p" ]] && pids+=("$p"); done < <(descendants "$leader")
  kill -TERM -- "-$leader" 2>/dev/null || true
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  if ! wait_gone 100 "${pids[@]}"; then
    kill -KILL -- "-$leader" 2>/dev/null || true
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    wait_gone 50 "${pids[@]}" || true
  fi
  wait "$leader" 2>/dev/null || true
}

PASSENGER_PIDFILE=""
stop_passenger_leftovers() {
  local pids=() p wd
  if [[ -n "$PASSENGER_PIDFILE" && -s "$PASSENGER_PIDFILE" ]]; then
    wd="$(cat "$PASSENGER_PIDFILE" 2>/dev/null || true)"
    if [[ "$wd" =~ ^[0-9]+$ ]] && alive "$wd"; then
      pids+=("$wd")
      while read -r p; do [[ -n "$p" ]] && pids+=("$p"); done < <(descendants "$wd")
    fi
  fi
  while read -r p; do [[ -n "$p" ]] && pids+=("$p"); done < <(pids_mentioning_work)
  (( ${#pids[@]} == 0 )) && return 0
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  if ! wait_gone 100 "${pids[@]}"; then
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    wait_gone 50 "${pids[@]}" || true
  fi
}

cleanup() {
  local rc=$? pgid
  trap - EXIT INT TERM
  for pgid in "${STARTED_PGIDS[@]+"${STARTED_PGIDS[@]}"}"; do
    if alive "$pgid" || [[ -n "$(descendants "$pgid")" ]]; then kill_tree "$pgid"; fi
  done
  stop_passenger_leftovers
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

forget_pgid() {
  local keep=() p
  for p in "${STARTED_PGIDS[@]+"${STARTED_PGIDS[@]}"}"; do [[ "$p" != "$1" ]] && keep+=("$p"); done
  STARTED_PGIDS=("${keep[@]+"${keep[@]}"}")
}

# ---------------------------------------------------------------------------
# Tools
# ---------------------------------------------------------------------------
APT_UPDATED=0
apt_install() { # apt_install PKG...: best effort, root only
  if [[ "$(id -u)" != "0" ]] || ! command -v apt-get >/dev/null 2>&1; then
    log "cannot install $* (not root or no apt-get)"
    return 1
  fi
  if (( APT_UPDATED == 0 )); then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive timeout 600 apt-get update -qq >&2 || return 1
    APT_UPDATED=1
  fi
  log "apt-get install -y $*"
  DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq "$@" >&2
}

# ---------------------------------------------------------------------------
# Running servers (loaders.sh and pool.sh; they define WORK, APPS and RAW_DIR)
# ---------------------------------------------------------------------------
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

save_raw() { # save_raw TARGET FILE...: copy the files into RAW_DIR, named TARGET.<name>
  [[ -z "$RAW_DIR" ]] && return 0
  mkdir -p "$RAW_DIR"
  local target="$1" f name; shift
  for f in "$@"; do
    [[ -f "$f" ]] || continue
    name="$(basename "$f")"
    [[ "$name" == "$target".* ]] || name="$target.$name"
    cp "$f" "$RAW_DIR/$name" || true
  done
}

last_lines() { # last_lines FILE...: the last 3 lines of the files, on one line
  tail -q -n 3 "$@" 2>/dev/null | tr '\n' ' ' | cut -c1-200 || true
}

# app_copy TARGET APP: a private, world-readable copy of bench/apps/APP for one target.
app_copy() {
  local dir="$WORK/$1"
  mkdir -p "$dir/tmp"
  cp -r "$APPS/$2" "$dir/app"
  chmod -R a+rX "$dir"
  echo "$dir"
}

# start_bg DIR LOG CMD...: start CMD in DIR as the leader of a new process group, stdout and
# stderr to LOG. `setsid` execs in place (the subshell is not a group leader), so the new
# process's pid is $! and it leads its own group. Sets SERVER_PID.
SERVER_PID=""
start_bg() {
  local dir="$1" out="$2"; shift 2
  ( cd "$dir" && exec setsid "$@" ) >"$out" 2>&1 </dev/null &
  SERVER_PID=$!
  STARTED_PGIDS+=("$SERVER_PID")
}

# stop_bg PID: stop a server we started and everything below it.
stop_bg() { kill_tree "$1"; forget_pgid "$1"; }

# run_passenger TARGET DIR PORT EXPECTED FLAG...: start `passenger start DIR/app FLAG...` (FLAG
# must include --port PORT and --pid-file "$PASSENGER_PIDFILE"), wait until it serves EXPECTED,
# `measure` it (the sourcing script's), stop it and everything it left. Uses the sourcing script's
# CMDS, LOADS, NOTES, PASSENGER_BIN, wait_ready, what_we_got, add_unavailable and measure.
run_passenger() {
  local target="$1" dir="$2" port="$3" expected="$4" pid wd busy why; shift 4
  local flags=("$@")
  CMDS+=("$target: passenger start <app copy> ${flags[*]}")
  busy="$(cpu_busy)"; LOADS+=("$target $busy")
  log "$target: $("$PASSENGER_BIN" --version 2>/dev/null | head -n1); starting on 127.0.0.1:$port (CPU busy with other work: $busy)"
  # Passenger resolves --startup-file against the current directory, so start it from the
  # app copy; TMPDIR keeps its passenger-standalone.* temp dir inside our work dir.
  ( cd "$dir/app" && TMPDIR="$dir/tmp" exec setsid "$PASSENGER_BIN" start "$dir/app" "${flags[@]}" ) \
    >"$dir/passenger.out" 2>&1 </dev/null &
  pid=$!
  STARTED_PGIDS+=("$pid")
  if ! wait_ready "$port" 60 "$pid"; then
    why="$( { grep -hE 'ERROR|rror|failed|Could not' "$dir/passenger.out" "$dir/passenger.log" 2>/dev/null || true; } | head -n 2 | tr '\n' ' ' | cut -c1-200 || true)"
    if alive "$pid"; then
      add_unavailable "$target" "did not serve \"$expected\" on port $port ($(what_we_got))${why:+: $why}"
    else
      add_unavailable "$target" "'passenger start' exited without serving the app${why:+: $why}"
    fi
  else
    wd="$(cat "$PASSENGER_PIDFILE" 2>/dev/null || true)"
    [[ "$wd" =~ ^[0-9]+$ ]] || wd=""
    [[ -z "$wd" ]] && NOTES+=("$target: no watchdog pid in the pid file; RSS counts 'passenger start' and everything below it")
    # RSS and CPU: the watchdog and everything below it (core, the Ruby preloader if any, the
    # apps);
    # not the `passenger start` Ruby front end, which is not in the request path.
    measure "$target" "$port" "${wd:-$pid}"
    if [[ -n "$wd" ]]; then
      NOTES+=("$target: not counted: the 'passenger start' Ruby front end (not in the request path), $(awk '$1 == "VmRSS:" { printf "%.1f MB", $2 / 1024 }' "/proc/$pid/status" 2>/dev/null || echo '?') RSS")
    fi
  fi
  log "$target: stopping"
  timeout 30 "$PASSENGER_BIN" stop --pid-file "$PASSENGER_PIDFILE" >/dev/null 2>&1 || true
  wait_gone 150 "$pid" || true
  stop_bg "$pid"
  local left
  left="$(pids_mentioning_work | tr '\n' ' ' || true)"
  [[ -n "${left// /}" ]] && NOTES+=("$target: processes left after 'passenger stop' ($left); killed")
  stop_passenger_leftovers
  PASSENGER_PIDFILE=""
  save_raw "$target" "$dir/passenger.out" "$dir/passenger.log"
}
