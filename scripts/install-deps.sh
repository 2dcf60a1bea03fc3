#!/usr/bin/env bash
# Installs what building Ferry and running its tests need on Debian:
# - interpreters for the test apps: Node.js, Python 3, Ruby with Rack;
# - the frameworks the tests run unmodified: Sinatra (apt), Flask, FastAPI, Starlette and Django
#   (pip), Express (npm, into its fixture directory);
# - the servers the benchmarks compare with: Puma (apt), gunicorn, uvicorn and Granian (pip), and
#   Debian's `passenger` package, whose own loaders the compatibility tests also run under Ferry;
# - uvloop (pip, optional): the ASGI loader runs on it when it is installed;
# - curl for the demo, a C compiler for Rust's build scripts;
# - prometheus_client (pip) and setpriv (util-linux) for the admin tests;
# - issue 19, TLS: openssl (the TLS tests' s_client), nghttp2-client (h2load) and nginx for
#   bench/tls.sh.
# Rust itself comes from rustup (https://rustup.rs); this script only checks for it, because
# Debian's own cargo is too old.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi

need=()
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
command -v python3 >/dev/null 2>&1 || need+=(python3)
python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v setpriv >/dev/null 2>&1 || need+=(util-linux)
command -v cc >/dev/null 2>&1 || need+=(gcc)
command -v ruby >/dev/null 2>&1 || need+=(ruby)
ruby -e 'require "rack"' >/dev/null 2>&1 || need+=(ruby-rack)
ruby -e 'require "sinatra/base"' >/dev/null 2>&1 || need+=(ruby-sinatra)
command -v puma >/dev/null 2>&1 || need+=(puma)
[ -f /usr/share/passenger/helper-scripts/node-loader.js ] || need+=(passenger)
# Issue 19, TLS:
command -v openssl >/dev/null 2>&1 || need+=(openssl)
command -v h2load >/dev/null 2>&1 || need+=(nghttp2-client)
command -v nginx >/dev/null 2>&1 || need+=(nginx)

if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

# Flask and gunicorn for whichever python3 is first on PATH (Debian's refuses plain pip
# installs into the system, PEP 668, hence the fallback flag).
# prometheus_client: the admin tests parse /metrics with the real Prometheus text parser.
if ! python3 -c 'import flask, gunicorn, prometheus_client' >/dev/null 2>&1; then
  echo "installing: flask gunicorn prometheus_client (pip)"
  python3 -m pip install -q flask gunicorn prometheus_client 2>/dev/null \
    || python3 -m pip install -q --break-system-packages flask gunicorn prometheus_client
fi

# Issue 22, ASGI: the ASGI frameworks the tests run (crates/ferry/tests/asgi.rs), and uvicorn
# (with httptools, its fastest HTTP parser) and Granian, which bench/asgi.sh compares with.
asgi_modules='fastapi, starlette, django, uvicorn, httptools, granian'
if ! python3 -c "import $asgi_modules" >/dev/null 2>&1; then
  echo "installing: fastapi starlette django uvicorn[standard] granian (pip)"
  python3 -m pip install -q fastapi starlette django 'uvicorn[standard]' granian 2>/dev/null \
    || python3 -m pip install -q --break-system-packages fastapi starlette django 'uvicorn[standard]' granian
fi
# uvloop is optional (the loader falls back on asyncio's own loop): not fatal here.
python3 -c 'import uvloop' >/dev/null 2>&1 \
  || python3 -m pip install -q uvloop 2>/dev/null \
  || python3 -m pip install -q --break-system-packages uvloop \
  || echo "warning: uvloop could not be installed; the ASGI loader will use asyncio's own event loop" >&2

# Express, into the fixture that uses it (not committed).
express=crates/ferry-test-support/apps/express
if [ ! -d "$express/node_modules/express" ]; then
  echo "installing: express (npm, into $express)"
  npm ci --omit=dev --no-audit --no-fund --silent --prefix "$express"
fi

# Rack 3 for the Ruby loader's second test pass (Debian 12 ships Rack 2). Not fatal here: without
# it that pass is skipped, and says so (under CI, CI=true, it fails instead).
sh loaders/ruby/test/install-rack3.sh target/rack3 \
  || echo "warning: Rack 3 could not be installed; the Rack 3 loader tests will be skipped (failed under CI)" >&2

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo not found: install Rust with rustup (https://rustup.rs), then run this again." >&2
  exit 1
fi
