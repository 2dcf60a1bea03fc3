#!/usr/bin/env bash
# The whole test suite: installs what the tests need, checks formatting and lints, then runs every
# unit and integration test (the integration tests start the real ferry binary and real apps).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
