#!/usr/bin/env bash
# Builds Ferry and serves the bundled example Node.js app on http://127.0.0.1:3000 (Ctrl-C stops).
# Try: curl http://127.0.0.1:3000/  and  curl http://127.0.0.1:3000/hello.txt (a static file).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cargo build --release -p ferry
exec target/release/ferry start examples/hello-node --address 127.0.0.1 --port "${PORT:-3000}"
