# Process bookkeeping, cleanup, package installs and server runs shared by the bench/ scripts
# (run.sh, loaders.sh, pool.sh, admin.sh, routing.sh, slow-clients.sh; parallel-spawn.sh uses the
# bookkeeping only).
#
# Sourced, not run. Top-level code only defines variables and functions and installs the traps.
#
# Expects from the sourcing script: `WORK` (its private temp directory, which identifies the
# processes it started) and `log`. The other helpers use, when they are called: `APPS` (where
# app_copy finds apps), `RAW_DIR` (empty: keep no raw files), `REPO_ROOT`, `TARGETS`,
# `EXPECTED_BODY` (check_body), `WRK_THREADS`, `WARMUP_SECS` and optionally `WRK_TIMEOUT` (wrk
# runs), `BENCH_HOST` (a Host header) and `BENCH_PATH` (instead of `/`) for every request, `BUILD`, `FERRY_BIN`, `FERRY_UNAVAILABLE` (build_ferry), `PASSENGER_BIN`, and the
# functions `measure TARGET PORT ROOT_PID...` and `add_unavailable TARGET REASON`.
#
# Defines:
# - bookkeeping: STARTED_PGIDS and PASSENGER_PIDFILE (set them as servers start), the `cleanup`
#   EXIT trap (installed here), `descendants`, `pids_mentioning_work`, `alive`, `wait_gone`,
#   `kill_tree`, `stop_passenger_leftovers`, `forget_pgid`;
# - tools: `apt_install`, `need`/MISSING, `install_missing`, `require_tools`, `interp`, `want`,
#   `want_any`, `build_ferry`;
# - results: CMDS, NOTES, LOADS, `cpu_busy`, `sample_load` (sets CPU_BUSY), `one_line`, `ratio`,
#   `print_commands`, `print_loads_and_notes`;
# - HTTP and wrk: `free_port`, `check_body` (sets LAST_CODE, LAST_BODY, LAST_TIME), `what_we_got`,
#   `wait_ready`, `settle`, `run_wrk`, `warm_up`, `parse_wrk`;
# - process trees: `tree_pids`, `tree_rss`, CLK_TCK, `cpu_ticks`, `tree_cpu`;
# - servers: `save_raw`, `last_lines`, `app_copy`, `start_bg` (sets SERVER_PID), `stop_bg`,
#   `stop_term`, `ferry_port`, `run_ferry`, `run_plain`, `passenger_flags` (sets PASSENGER_FLAGS),
#   `start_passenger`, `passenger_why`, `stop_passenger`, `run_passenger`;
# - limits, flags and figures: `raise_nofile` (sets NOFILE_NOTE), `ferry_has_flag`, `loaders_root`,
#   `median_of`, `kv`.
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

# kill_tree PID: kill a server: SIGTERM to its process group and to every descendant (Ferry puts
# app processes into their own process groups), bounded wait, then SIGKILL what is left.
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
# stop_passenger_leftovers: kill the Passenger watchdog of PASSENGER_PIDFILE, what is below it,
# and every process that mentions WORK (SIGTERM, bounded wait, SIGKILL).
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

# cleanup: the EXIT trap; stops every server still running, removes WORK, keeps the exit status.
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

forget_pgid() { # forget_pgid PID: drop PID from STARTED_PGIDS (it has been stopped)
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

# Packages to install, collected by `need` (and by the sourcing script) for install_missing.
MISSING=()
# need CMD [PKG]: add PKG (default: CMD) to MISSING unless CMD is on PATH.
need() { command -v "$1" >/dev/null 2>&1 || MISSING+=("${2:-$1}"); }

# install_missing: apt_install what MISSING lists, if anything (fails as apt_install does).
install_missing() { (( ${#MISSING[@]} == 0 )) || apt_install "${MISSING[@]}"; }

require_tools() { # require_tools TOOL...: exit 1, with a log line, unless every TOOL is on PATH
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || { log "required tool missing: $tool"; exit 1; }
  done
}

interp() { # interp NAME -> /usr/bin/NAME, else NAME on PATH, else empty
  if [[ -x "/usr/bin/$1" ]]; then echo "/usr/bin/$1"; else command -v "$1" 2>/dev/null || true; fi
}

# want TARGET: TARGET is in the comma-separated TARGETS.
want() { [[ ",$TARGETS," == *",$1,"* ]]; }
# want_any TARGET...: at least one of them is wanted.
want_any() { local t; for t in "$@"; do want "$t" && return 0; done; return 1; }

# build_ferry NO_CARGO_HINT NO_BINARY_REASON: unless BUILD is 0, `cargo build --release -p ferry`;
# sets FERRY_UNAVAILABLE when cargo is missing ("cargo not found (NO_CARGO_HINT)") or fails, or
# when FERRY_BIN is not executable afterwards (NO_BINARY_REASON).
build_ferry() {
  if (( BUILD == 1 )); then
    log "cargo build --release -p ferry"
    if ! command -v cargo >/dev/null 2>&1; then
      FERRY_UNAVAILABLE="cargo not found ($1)"
    elif ! cargo build --release -p ferry >&2; then
      FERRY_UNAVAILABLE="cargo build --release -p ferry failed"
    fi
  fi
  if [[ -z "$FERRY_UNAVAILABLE" && ! -x "$FERRY_BIN" ]]; then
    FERRY_UNAVAILABLE="$2"
  fi
}

# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------
CMDS=()  # "target: command line", in the order the targets ran
NOTES=() # printed as "note: ..." lines at the end
LOADS=() # "target busy%": CPU busy with other work just before each target started

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

CPU_BUSY=""
# sample_load TARGET: cpu_busy, into CPU_BUSY and (as "TARGET busy%") LOADS.
sample_load() { CPU_BUSY="$(cpu_busy)"; LOADS+=("$1 $CPU_BUSY"); }

# one_line TEXT: TEXT on one line, spaces squeezed, at most 240 characters (unavailable reasons).
one_line() { printf '%s' "$1" | tr '\n\t' '  ' | tr -s ' ' | cut -c1-240; }

ratio() { # ratio A B -> A/B with 2 decimals, or n/a
  awk -v a="${1:-}" -v b="${2:-}" 'BEGIN {
    if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b + 0 > 0) printf "%.2f", a / b; else printf "n/a" }'
}

# print_commands: "Commands:" and CMDS, our paths and free ports replaced by placeholders.
print_commands() {
  local c
  echo "Commands:"
  for c in "${CMDS[@]+"${CMDS[@]}"}"; do
    echo "  $c" | sed -e "s#$REPO_ROOT/#./#g" -e "s#$WORK/[a-z0-9-]*/app#<app copy>#g" -e "s#$WORK/[a-z0-9-]*/#<tmp>/#g" \
      -e 's#--port [1-9][0-9]*#--port <free port>#' -e 's#127\.0\.0\.1:[0-9][0-9]*#127.0.0.1:<free port>#' \
      -e 's#PORT=[0-9][0-9]*#PORT=<free port>#'
  done
}

# print_loads_and_notes: the "CPU busy with other work" line (if any target started), then NOTES.
print_loads_and_notes() {
  local l n
  if (( ${#LOADS[@]} > 0 )); then
    printf 'CPU busy with other work in the 1 s before each target started:'
    for l in "${LOADS[@]}"; do printf '  %s' "$l"; done
    echo
  fi
  for n in "${NOTES[@]+"${NOTES[@]}"}"; do echo "note: $n"; done
}

# ---------------------------------------------------------------------------
# HTTP and wrk
# ---------------------------------------------------------------------------
# free_port: a free 127.0.0.1 port, from PYTHON_BIN, else NODE_BIN, else RUBY_BIN (those the
# sourcing script set), else a random one.
free_port() {
  if [[ -n "${PYTHON_BIN:-}" ]]; then
    "$PYTHON_BIN" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
  elif [[ -n "${NODE_BIN:-}" ]]; then
    "$NODE_BIN" -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
  elif [[ -n "${RUBY_BIN:-}" ]]; then
    "$RUBY_BIN" -rsocket -e 's = TCPServer.new("127.0.0.1", 0); puts s.addr[1]; s.close'
  else
    echo $(( 20000 + RANDOM % 20000 ))
  fi
}

# check_body PORT: GET / answers 200 with exactly EXPECTED_BODY. Sets LAST_CODE (000: no HTTP
# answer), LAST_BODY (its first 60 characters, on one line) and LAST_TIME (seconds).
LAST_CODE=""
LAST_BODY=""
LAST_TIME=""
check_body() {
  local f="$WORK/body.$1" out
  rm -f "$f"
  out="$(curl -s --max-time 5 -o "$f" -w '%{http_code} %{time_total}' ${BENCH_HOST:+-H "Host: $BENCH_HOST"} \
    "http://127.0.0.1:$1${BENCH_PATH:-/}" 2>/dev/null || true)"
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

# run_wrk PORT CONNECTIONS SECS OUTFILE: wrk -tWRK_THREADS --latency (--timeout WRK_TIMEOUT if set).
run_wrk() {
  local threads="$WRK_THREADS" extra=()
  (( $2 < threads )) && threads="$2" # wrk needs at least one connection per thread
  [[ -n "${WRK_TIMEOUT:-}" ]] && extra=(--timeout "$WRK_TIMEOUT")
  [[ -n "${BENCH_HOST:-}" ]] && extra+=(-H "Host: $BENCH_HOST")
  timeout $(( $3 + 60 )) wrk -t"$threads" -c"$2" -d"$3"s --latency ${extra[@]+"${extra[@]}"} \
    "http://127.0.0.1:$1${BENCH_PATH:-/}" >"$4" 2>&1 || true
}

# warm_up PORT NAME CONNECTIONS [settle]: 5 curl requests, WARMUP_SECS of wrk, (settle PORT,) 1 s rest.
warm_up() {
  local i
  for ((i = 0; i < 5; i++)); do
    curl -s --max-time 5 -o /dev/null ${BENCH_HOST:+-H "Host: $BENCH_HOST"} \
      "http://127.0.0.1:$1${BENCH_PATH:-/}" || true
  done
  run_wrk "$1" "$3" "$WARMUP_SECS" "$WORK/$2.warmup.txt"
  if [[ "${4:-}" == settle ]]; then settle "$1" || true; fi
  sleep 1
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

# ---------------------------------------------------------------------------
# Process trees: memory and CPU
# ---------------------------------------------------------------------------
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

# shellcheck disable=SC2034 # CLK_TCK: used by the sourcing scripts (CPU ticks per second)
CLK_TCK="$(getconf CLK_TCK 2>/dev/null || echo 100)"

# cpu_ticks PID... -> user+system CPU ticks used so far by the PIDs that exist (utime and stime
# from /proc/PID/stat; the fields after the command name, which may hold spaces).
cpu_ticks() {
  local p line total=0
  for p in "$@"; do
    line="$(cat "/proc/$p/stat" 2>/dev/null || true)"
    [[ -n "$line" ]] || continue
    line="${line##*) }"
    total=$(( total + $(awk '{ print $12 + $13 }' <<<"$line") ))
  done
  echo "$total"
}

# tree_cpu ROOT_PID... -> cpu_ticks of the roots and all their descendants.
tree_cpu() {
  local pids=() p
  while read -r p; do [[ -n "$p" ]] && pids+=("$p"); done < <(tree_pids "$@")
  cpu_ticks ${pids[@]+"${pids[@]}"}
}

# ---------------------------------------------------------------------------
# Running servers
# ---------------------------------------------------------------------------
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

# app_copy TARGET APP: a private, world-readable copy of APPS/APP for one target (WORK/TARGET/app).
app_copy() {
  local dir="$WORK/$1"
  mkdir -p "$dir/tmp"
  cp -r "$APPS/$2" "$dir/app"
  chmod -R a+rX "$dir"
  echo "$dir"
}

# start_bg DIR OUT ERR CMD...: start CMD in DIR as the leader of a new process group, stdout to
# OUT, stderr to ERR (OUT too when ERR is the same file), stdin from /dev/null. `setsid` execs in
# place (the subshell is not a group leader), so the new process's pid is $! and it leads its own
# group. Sets SERVER_PID.
SERVER_PID=""
start_bg() {
  local dir="$1" out="$2" err="$3"; shift 3
  if [[ "$err" == "$out" ]]; then
    ( cd "$dir" && exec setsid "$@" ) >"$out" 2>&1 </dev/null &
  else
    ( cd "$dir" && exec setsid "$@" ) >"$out" 2>"$err" </dev/null &
  fi
  SERVER_PID=$!
  STARTED_PGIDS+=("$SERVER_PID")
}

# stop_bg PID: stop a server we started and everything below it.
stop_bg() { kill_tree "$1"; forget_pgid "$1"; }

# stop_term PID WHO: SIGTERM, a bounded wait (15 s, else the note "WHO did not exit within 15 s
# of SIGTERM; killed"), then stop_bg for anything left over.
stop_term() {
  kill -TERM "$1" 2>/dev/null || true
  wait_gone 150 "$1" || NOTES+=("$2 did not exit within 15 s of SIGTERM; killed")
  stop_bg "$1"
}

# ferry_port OUT PID: the port of the "ferry: listening on http://127.0.0.1:PORT" line in OUT,
# waited for up to 30 s (less if PID exits); empty if none.
ferry_port() {
  local i port=""
  for ((i = 0; i < 300; i++)); do
    port="$(sed -n 's#^ferry: listening on http://127\.0\.0\.1:\([0-9][0-9]*\).*#\1#p' "$1" | head -n1)"
    [[ -n "$port" ]] && break
    alive "$2" || break
    sleep 0.1
  done
  echo "$port"
}

# run_ferry TARGET DIR EXPECTED WHAT CMD...: start the ferry command CMD (`ferry start DIR/app
# --port 0 ...`) in the app copy DIR, log it as "starting ferry with WHAT", wait until it serves
# EXPECTED (as named in the unavailable reason), `measure` it, stop it (SIGTERM first).
run_ferry() {
  local target="$1" dir="$2" expected="$3" what="$4" pid port; shift 4
  CMDS+=("$target: $*")
  sample_load "$target"
  log "$target: starting ferry with $what (CPU busy with other work: $CPU_BUSY)"
  # TMPDIR: Ferry's runtime dir (app sockets) lands in our work dir, so nothing is left behind.
  start_bg "$dir/app" "$dir/ferry.out" "$dir/ferry.err" env TMPDIR="$dir/tmp" "$@"
  pid="$SERVER_PID"
  port="$(ferry_port "$dir/ferry.out" "$pid")"
  if [[ -z "$port" ]]; then
    add_unavailable "$target" "no 'ferry: listening on' line within 30 s: $(last_lines "$dir/ferry.err")"
  elif ! wait_ready "$port" 60 "$pid"; then
    add_unavailable "$target" "ferry did not serve \"$expected\" ($(what_we_got)): $(last_lines "$dir/ferry.err")"
  else
    measure "$target" "$port" "$pid"
  fi
  stop_term "$pid" "$target: ferry"
  save_raw "$target" "$dir/ferry.out" "$dir/ferry.err"
}

# run_plain TARGET APP PORT EXPECTED CMD...: start CMD in a copy of APP (it must listen on
# 127.0.0.1:PORT), wait until it serves EXPECTED (as named in the unavailable reason), `measure`
# it, stop it.
run_plain() {
  local target="$1" app="$2" port="$3" expected="$4" dir pid; shift 4
  dir="$(app_copy "$target" "$app")"
  CMDS+=("$target: (cd <app copy> && $*)")
  sample_load "$target"
  log "$target: starting $* (CPU busy with other work: $CPU_BUSY)"
  start_bg "$dir/app" "$dir/server.log" "$dir/server.log" "$@"
  pid="$SERVER_PID"
  if ! wait_ready "$port" 60 "$pid"; then
    if alive "$pid"; then
      add_unavailable "$target" "did not serve \"$expected\" on port $port ($(what_we_got)): $(last_lines "$dir/server.log")"
    else
      add_unavailable "$target" "exited without serving the app: $(last_lines "$dir/server.log")"
    fi
  else
    measure "$target" "$port" "$pid"
  fi
  stop_bg "$pid"
  save_raw "$target" "$dir/server.log"
}

# passenger_flags DIR PORT FLAG...: set PASSENGER_FLAGS to the `passenger start` flags every bench
# uses (builtin engine on 127.0.0.1:PORT, FLAG..., no update check, telemetry, turbocaching,
# runtime install or compile, log and pid file in DIR) and PASSENGER_PIDFILE to DIR/passenger.pid.
PASSENGER_FLAGS=()
passenger_flags() {
  local dir="$1" port="$2"; shift 2
  PASSENGER_PIDFILE="$dir/passenger.pid"
  # shellcheck disable=SC2034 # used by the sourcing scripts
  PASSENGER_FLAGS=(
    --engine builtin --address 127.0.0.1 --port "$port"
    "$@"
    --disable-security-update-check --disable-anonymous-telemetry
    --disable-turbocaching
    --no-install-runtime --no-compile-runtime
    --log-file "$dir/passenger.log" --pid-file "$PASSENGER_PIDFILE"
  )
}

# start_passenger TARGET DIR PORT FLAG...: `passenger start DIR/app FLAG...` from inside the app
# copy, output to DIR/passenger.out; sets SERVER_PID.
start_passenger() {
  local target="$1" dir="$2" port="$3"; shift 3
  sample_load "$target"
  log "$target: $("$PASSENGER_BIN" --version 2>/dev/null | head -n1); starting on 127.0.0.1:$port (CPU busy with other work: $CPU_BUSY)"
  # Passenger resolves --startup-file against the current directory, so start it from the
  # app copy; TMPDIR keeps its passenger-standalone.* temp dir inside our work dir.
  start_bg "$dir/app" "$dir/passenger.out" "$dir/passenger.out" \
    env TMPDIR="$dir/tmp" "$PASSENGER_BIN" start "$dir/app" "$@"
}

# passenger_why DIR: the first two error lines of Passenger's output and log in DIR, on one line.
passenger_why() {
  { grep -hE 'ERROR|rror|failed|Could not' "$1/passenger.out" "$1/passenger.log" 2>/dev/null || true; } |
    head -n 2 | tr '\n' ' ' | cut -c1-200 || true
}

# stop_passenger TARGET PID [WATCHDOG_PID]: `passenger stop`, stop PID (`passenger start`) and
# whatever is left (a note says what was), forget PASSENGER_PIDFILE.
stop_passenger() {
  local target="$1" pid="$2" wd="${3:-}" left
  log "$target: stopping"
  timeout 30 "$PASSENGER_BIN" stop --pid-file "$PASSENGER_PIDFILE" >/dev/null 2>&1 || true
  wait_gone 150 "$pid" || true
  stop_bg "$pid"
  left="$( { [[ -n "$wd" ]] && alive "$wd" && echo "$wd"; pids_mentioning_work; } 2>/dev/null | tr '\n' ' ' || true)"
  [[ -n "${left// /}" ]] && NOTES+=("$target: processes left after 'passenger stop' ($left); killed")
  stop_passenger_leftovers
  PASSENGER_PIDFILE=""
}

# run_passenger TARGET DIR PORT EXPECTED FLAG...: start `passenger start DIR/app FLAG...` (FLAG
# must include --port PORT and --pid-file "$PASSENGER_PIDFILE"), wait until it serves EXPECTED,
# `measure` it, stop it and everything it left.
run_passenger() {
  local target="$1" dir="$2" port="$3" expected="$4" pid wd why; shift 4
  CMDS+=("$target: passenger start <app copy> $*")
  start_passenger "$target" "$dir" "$port" "$@"
  pid="$SERVER_PID"
  if ! wait_ready "$port" 60 "$pid"; then
    why="$(passenger_why "$dir")"
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
    # apps); not the `passenger start` Ruby front end, which is not in the request path.
    measure "$target" "$port" "${wd:-$pid}"
    if [[ -n "$wd" ]]; then
      NOTES+=("$target: not counted: the 'passenger start' Ruby front end (not in the request path), $(awk '$1 == "VmRSS:" { printf "%.1f MB", $2 / 1024 }' "/proc/$pid/status" 2>/dev/null || echo '?') RSS")
    fi
  fi
  stop_passenger "$target" "$pid"
  save_raw "$target" "$dir/passenger.out" "$dir/passenger.log"
}

# ---------------------------------------------------------------------------
# Limits, flags and small figures (bench/slow-clients.sh)
# ---------------------------------------------------------------------------
NOFILE_NOTE=""
# raise_nofile WANT: raise this shell's RLIMIT_NOFILE (inherited by everything started after it) to
# at least WANT open files: the soft limit up to the hard one, and as root the hard one too (never
# above /proc/sys/fs/nr_open). Sets NOFILE_NOTE to what was done, or why WANT is out of reach;
# returns 1 then.
# shellcheck disable=SC2034 # NOFILE_NOTE: read by the sourcing scripts
raise_nofile() {
  local want="$1" soft hard max
  soft="$(ulimit -Sn)"; hard="$(ulimit -Hn)"
  [[ "$soft" == unlimited ]] && { NOFILE_NOTE="open files: unlimited"; return 0; }
  if (( soft >= want )); then NOFILE_NOTE="open files: $soft (enough for $want)"; return 0; fi
  if [[ "$hard" != unlimited ]] && (( hard < want )) && [[ "$(id -u)" == "0" ]]; then
    max="$(cat /proc/sys/fs/nr_open 2>/dev/null || echo 1048576)"
    (( want <= max )) && ulimit -Hn "$want" 2>/dev/null && hard="$want"
  fi
  if [[ "$hard" == unlimited ]] || (( hard >= want )); then
    ulimit -Sn "$want"
    NOFILE_NOTE="open files: soft limit raised from $soft to $want (hard $hard)"
    return 0
  fi
  ulimit -Sn "$hard"
  NOFILE_NOTE="open files: only $hard allowed (the hard limit; $want wanted: raise it, as root with CAP_SYS_RESOURCE)"
  return 1
}

# ferry_has_flag BIN FLAG: `BIN start --help` lists FLAG (so an older binary can run without it).
ferry_has_flag() { "$1" start --help 2>/dev/null | grep -qE -- "(^|[ ,])$2([ =<\[]|$)"; }

# loaders_root BIN: the nearest directory above BIN that holds loaders/ (where that ferry finds its
# loaders when FERRY_ROOT is unset), or nothing.
loaders_root() {
  local d
  d="$(cd "$(dirname "$1")" 2>/dev/null && pwd -P)" || return 0
  while [[ -n "$d" ]]; do
    [[ -d "$d/loaders" ]] && { echo "$d"; return 0; }
    [[ "$d" == / ]] && return 0
    d="$(dirname "$d")"
  done
}

# median_of VALUE... -> the median of the numbers among the VALUEs (mean of the two middle ones for
# an even count, 2 decimals), or n/a.
median_of() {
  printf '%s\n' "$@" | { grep -E '^[0-9]+(\.[0-9]+)?$' || true; } | sort -g | awk '
    { v[NR] = $1 } END {
      if (NR == 0) { printf "n/a"; exit }
      if (NR % 2) printf "%.2f", v[(NR + 1) / 2]; else printf "%.2f", (v[NR / 2] + v[NR / 2 + 1]) / 2
    }'
}

# kv FILE KEY: the value of the last KEY=VALUE line of FILE (empty if none).
kv() { { sed -n "s/^$2=//p" "$1" 2>/dev/null || true; } | tail -n1; }
