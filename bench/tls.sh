#!/usr/bin/env bash
# Issue 19, TLS: Ferry's TLS and HTTP/2 against Debian's nginx with the same ECDSA P-256
# certificate and the same TLS settings (TLS 1.2 and 1.3, tickets on, no session cache).
#
# Usage (from the repo root):
#   bash bench/tls.sh [--requests N] [--connections N] [--streams N] [--idle N] [--time SECS]
#                     [--raw-dir DIR] [--no-build]
#
#   --requests N      requests per h2load run (default 200000)
#   --connections N   h2load connections (default 16)
#   --streams N       concurrent streams per HTTP/2 connection (default 8)
#   --idle N          idle connections opened for the memory part (default 1000)
#   --time SECS       length of each `openssl s_time` handshake run (default 10)
#   --raw-dir DIR     also keep the raw outputs and server logs in DIR
#   --no-build        use the ferry binary as it is instead of `cargo build --release -p ferry`
#
# The binary is $FERRY_BIN, else $CARGO_TARGET_DIR/release/ferry, else target/release/ferry;
# FERRY_ROOT (default: the repo) is where it finds loaders/.
#
# Parts, each Ferry then nginx:
#   1. handshakes/s: `openssl s_time -new` (full handshakes, TLS 1.3, one client process per
#      core) against a 4 KiB static file;
#   2. static 4 KiB over HTTP/2: `h2load -n REQUESTS -c CONNECTIONS -m STREAMS`;
#   3. Rack hello (bench/apps/rack-hello) over HTTPS/1.1 and over h2: Ferry with its Rack loader
#      (one process) against nginx proxying to Puma (one worker, one thread), same TLS;
#   4. memory per idle connection: IDLE TLS connections that made one HTTP/1.1 request, then
#      IDLE HTTP/2 connections (preface and SETTINGS exchanged), each set's RSS growth / IDLE.
# Needs openssl, h2load (nghttp2-client), nginx, puma, ruby and python3; missing ones are
# installed with apt when running as root.
set -euo pipefail

REQUESTS=200000
CONNECTIONS=16
STREAMS=8
IDLE=1000
TIME=10
RAW_DIR=""
BUILD=1

usage() { sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --requests) REQUESTS="${2:?}"; shift 2 ;;
    --connections) CONNECTIONS="${2:?}"; shift 2 ;;
    --streams) STREAMS="${2:?}"; shift 2 ;;
    --idle) IDLE="${2:?}"; shift 2 ;;
    --time) TIME="${2:?}"; shift 2 ;;
    --raw-dir) RAW_DIR="${2:?}"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown option $1" >&2; usage >&2; exit 64 ;;
  esac
done

REPO="$(cd "$(dirname "$0")/.." && pwd)"
export FERRY_ROOT="${FERRY_ROOT:-$REPO}"
FERRY_BIN="${FERRY_BIN:-${CARGO_TARGET_DIR:-$REPO/target}/release/ferry}"
WORK="$(mktemp -d /tmp/ferry-bench-tls.XXXXXX)"
PIDS=()
log() { printf '[tls-bench] %s\n' "$*" >&2; }
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  [[ -n "$RAW_DIR" ]] && mkdir -p "$RAW_DIR" && cp -r "$WORK"/. "$RAW_DIR"/ 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

missing=()
for tool in openssl:openssl h2load:nghttp2-client nginx:nginx puma:puma ruby:ruby python3:python3; do
  command -v "${tool%%:*}" >/dev/null 2>&1 || missing+=("${tool#*:}")
done
if (( ${#missing[@]} )); then
  if [[ "$(id -u)" == 0 ]]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    log "missing: ${missing[*]} (scripts/install-deps.sh installs them)"; exit 1
  fi
fi
if (( BUILD )); then (cd "$REPO" && cargo build --release -p ferry >&2); fi
[[ -x "$FERRY_BIN" ]] || { log "no ferry binary at $FERRY_BIN"; exit 1; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { # wait_port PORT: until it accepts (20 s)
  local i; for i in $(seq 200); do
    python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$1),1)" 2>/dev/null && return 0
    sleep 0.1
  done; log "nothing listens on $1"; return 1
}
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
tree_rss_kib() { # the RSS of PID and its descendants
  local total=0 pid
  for pid in $1 $(pgrep -P "$1" 2>/dev/null || true); do total=$(( total + $(rss_kib "$pid" || echo 0) )); done
  echo "$total"
}

# The certificate, the files, the configurations.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
  -keyout "$WORK/key.pem" -out "$WORK/cert.pem" -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost" 2>/dev/null
mkdir -p "$WORK/www"
head -c 4096 /dev/urandom > "$WORK/www/4k.bin"
# nginx's workers (www-data) and the app (run as nobody when we are root) read these.
chmod a+rx "$WORK"; chmod -R a+rX "$WORK/www"
FERRY_PORT="$(free_port)"; NGINX_PORT="$(free_port)"; PUMA_PORT="$(free_port)"
cat > "$WORK/ferry.conf" <<EOF
http {
  server {
    listen 127.0.0.1:$FERRY_PORT ssl;
    http2 on;
    ssl_certificate $WORK/cert.pem;
    ssl_certificate_key $WORK/key.pem;
    root $WORK/www;
  }
}
EOF
nginx_conf() { # nginx_conf LOCATION-BODY
  cat > "$WORK/nginx.conf" <<EOF
worker_processes auto;
pid $WORK/nginx.pid;
error_log $WORK/nginx.err;
events { worker_connections 4096; }
http {
  access_log off;
  server {
    listen 127.0.0.1:$NGINX_PORT ssl http2;
    ssl_certificate $WORK/cert.pem;
    ssl_certificate_key $WORK/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    root $WORK/www;
    $1
  }
}
EOF
}
start_ferry() { # start_ferry ARGS...: Ferry in the background; FERRY_PID
  "$FERRY_BIN" "$@" --instance-registry-dir "$WORK/registry" >"$WORK/ferry.out" 2>"$WORK/ferry.err" &
  FERRY_PID=$!; PIDS+=("$FERRY_PID"); wait_port "$FERRY_PORT"
}
stop() { kill "$1" 2>/dev/null || true; wait "$1" 2>/dev/null || true; }
start_nginx() { nginx -c "$WORK/nginx.conf" -g 'daemon off;' & NGINX_PID=$!; PIDS+=("$NGINX_PID"); wait_port "$NGINX_PORT"; }

handshakes() { # handshakes PORT: full handshakes per second, summed over one s_time per core
  local cores i total=0 out clients=()
  cores="$(nproc)"
  for i in $(seq "$cores"); do
    openssl s_time -connect "127.0.0.1:$1" -new -tls1_3 -time "$TIME" -www /4k.bin \
      >"$WORK/s_time.$1.$i" 2>&1 &
    clients+=("$!")
  done
  wait "${clients[@]}" || true
  for i in $(seq "$cores"); do
    # "N connections in S real seconds": whole seconds; divided by --time instead.
    out="$(awk -v t="$TIME" '/connections in [0-9.]+ real seconds/ {print $1/t}' "$WORK/s_time.$1.$i" | tail -1)"
    total="$(python3 -c "print(round($total + ${out:-0}))")"
  done
  echo "$total"
}
h2load_rate() { # h2load_rate URL ARGS...: requests/s (and "failed N" if any failed)
  local url="$1"; shift
  h2load "$@" "$url" >"$WORK/h2load.out" 2>&1 || true
  awk '/^finished in/ {rate=$4} /^requests:/ {failed=$10} END {printf "%s%s\n", rate, (failed>0 ? " (failed " failed ")" : "")}' "$WORK/h2load.out"
}
idle_memory() { # idle_memory PID PORT MODE(h1|h2): KiB per idle connection
  python3 - "$1" "$2" "$3" "$IDLE" <<'PY'
import socket, ssl, sys, time
pid, port, mode, n = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
def rss(p):
    total = 0
    for q in [p] + [int(c) for c in open(f"/proc/{p}/task/{p}/children").read().split()]:
        for line in open(f"/proc/{q}/status"):
            if line.startswith("VmRSS"):
                total += int(line.split()[1])
    return total
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
ctx.set_alpn_protocols(["h2"] if mode == "h2" else ["http/1.1"])
warm = []
def open_one():
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost")
    s.settimeout(10)
    if mode == "h2":
        s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        s.recv(4096)
    else:
        s.sendall(b"GET /4k.bin HTTP/1.1\r\nHost: localhost\r\n\r\n")
        got = b""
        while b"\r\n\r\n" not in got or len(got) - got.index(b"\r\n\r\n") - 4 < 4096:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
    return s
for _ in range(50):
    warm.append(open_one())
time.sleep(1)
before = rss(pid)
conns = [open_one() for _ in range(n)]
time.sleep(2)
after = rss(pid)
print(f"{(after - before) / n:.1f}")
PY
}

RESULTS=()
row() { RESULTS+=("$(printf '%-44s %14s %14s' "$1" "$2" "$3")"); }

# --- Part 1 and 2: static files ----------------------------------------------------------------
log "ferry: static files over TLS on $FERRY_PORT"
start_ferry start --config "$WORK/ferry.conf"
F_HS="$(handshakes "$FERRY_PORT")"
F_H2="$(h2load_rate "https://127.0.0.1:$FERRY_PORT/4k.bin" -n "$REQUESTS" -c "$CONNECTIONS" -m "$STREAMS")"
F_IDLE_H1="$(idle_memory "$FERRY_PID" "$FERRY_PORT" h1 2>>"$WORK/idle.err" || echo n/a)"
F_IDLE_H2="$(idle_memory "$FERRY_PID" "$FERRY_PORT" h2 2>>"$WORK/idle.err" || echo n/a)"
stop "$FERRY_PID"

log "nginx: static files over TLS on $NGINX_PORT"
nginx_conf ""
start_nginx
N_HS="$(handshakes "$NGINX_PORT")"
N_H2="$(h2load_rate "https://127.0.0.1:$NGINX_PORT/4k.bin" -n "$REQUESTS" -c "$CONNECTIONS" -m "$STREAMS")"
NGINX_WORKER="$(pgrep -P "$NGINX_PID" | head -1)"
N_IDLE_H1="$(idle_memory "$NGINX_PID" "$NGINX_PORT" h1 2>>"$WORK/idle.err" || echo n/a)"
N_IDLE_H2="$(idle_memory "$NGINX_PID" "$NGINX_PORT" h2 2>>"$WORK/idle.err" || echo n/a)"
stop "$NGINX_PID"
: "$NGINX_WORKER"

row "TLS 1.3 full handshakes/s (s_time, 4 KiB)" "$F_HS" "$N_HS"
row "static 4 KiB over h2, requests/s" "$F_H2" "$N_H2"
row "RSS per idle TLS HTTP/1.1 connection, KiB" "$F_IDLE_H1" "$N_IDLE_H1"
row "RSS per idle HTTP/2 connection, KiB" "$F_IDLE_H2" "$N_IDLE_H2"

# --- Part 3: Rack hello --------------------------------------------------------------------------
APP="$WORK/rack-hello"; cp -r "$REPO/bench/apps/rack-hello" "$APP"; chmod -R a+rX "$APP"
# nobody cannot use an interpreter under /root (rbenv and the like): Debian's when there is one.
RUBY_BIN="$(command -v /usr/bin/ruby || command -v ruby)"
log "ferry: Rack hello over TLS"
start_ferry start "$APP" --address 127.0.0.1 --port "$FERRY_PORT" --ssl \
  --ssl-certificate "$WORK/cert.pem" --ssl-certificate-key "$WORK/key.pem" \
  --max-pool-size 1 --min-instances 1 --environment production --ruby "$RUBY_BIN"
h2load_rate "https://127.0.0.1:$FERRY_PORT/" -n 200 -c 1 >/dev/null # the app process is up
F_RACK_H1="$(h2load_rate "https://127.0.0.1:$FERRY_PORT/" --h1 -n "$REQUESTS" -c "$CONNECTIONS")"
F_RACK_H2="$(h2load_rate "https://127.0.0.1:$FERRY_PORT/" -n "$REQUESTS" -c "$CONNECTIONS" -m "$STREAMS")"
stop "$FERRY_PID"

log "nginx + puma: Rack hello over TLS"
(cd "$APP" && exec puma -e production -w 0 -t 1:1 -b "tcp://127.0.0.1:$PUMA_PORT" config.ru \
  >"$WORK/puma.log" 2>&1) & PUMA_PID=$!; PIDS+=("$PUMA_PID"); wait_port "$PUMA_PORT"
nginx_conf "location / { proxy_pass http://127.0.0.1:$PUMA_PORT; proxy_http_version 1.1; proxy_set_header Connection \"\"; }"
start_nginx
N_RACK_H1="$(h2load_rate "https://127.0.0.1:$NGINX_PORT/" --h1 -n "$REQUESTS" -c "$CONNECTIONS")"
N_RACK_H2="$(h2load_rate "https://127.0.0.1:$NGINX_PORT/" -n "$REQUESTS" -c "$CONNECTIONS" -m "$STREAMS")"
stop "$NGINX_PID"; stop "$PUMA_PID"
row "Rack hello over HTTPS/1.1, requests/s" "$F_RACK_H1" "$N_RACK_H1"
row "Rack hello over h2, requests/s" "$F_RACK_H2" "$N_RACK_H2"

printf '%-44s %14s %14s\n' "" "ferry" "nginx"
printf '%s\n' "${RESULTS[@]}"
printf 'requests=%s connections=%s streams=%s idle=%s s_time=%ss cores=%s\n' \
  "$REQUESTS" "$CONNECTIONS" "$STREAMS" "$IDLE" "$TIME" "$(nproc)"
