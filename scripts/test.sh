#!/usr/bin/env bash
# The whole test suite: installs what the tests need, checks formatting and lints, then runs every
# unit and integration test (the integration tests start the real ferry binary and real apps), then
# the loaders' own tests.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
# Each loader's own tests, in its own language (they run the loader against a real work directory).
FERRY_RACK3_GEM_HOME=target/rack3 ruby loaders/ruby/test/run.rb  # Rack 2, then Rack 3
python3 loaders/python/test/run.py
node --test loaders/node/test/*.test.js
