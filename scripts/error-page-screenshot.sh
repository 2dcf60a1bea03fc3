#!/usr/bin/env bash
# Renders the sample spawn error pages (crates/ferry-spawn/examples/error_page.rs) and screenshots
# them with headless Chromium into docs/error-page-friendly.png and docs/error-page-terse.png.
#
# Needs `chromium` (Debian: apt-get install chromium). Set CHROMIUM to use another binary, and
# ERROR_PAGE_CARGO_ARGS to build the example from somewhere else (default: -p ferry-spawn).
set -euo pipefail
cd "$(dirname "$0")/.."

chromium_bin="${CHROMIUM:-$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)}"
if [[ -z "$chromium_bin" ]]; then
    echo "error-page-screenshot: chromium not found (apt-get install chromium, or set CHROMIUM)" >&2
    exit 1
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# shellcheck disable=SC2086 # ERROR_PAGE_CARGO_ARGS is a list of words.
cargo run --quiet ${ERROR_PAGE_CARGO_ARGS:--p ferry-spawn} --example error_page -- \
    "$work/friendly.html" "$work/terse.html"

# screenshot PAGE PNG WIDTH,HEIGHT
screenshot() {
    "$chromium_bin" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --hide-scrollbars --user-data-dir="$work/profile-$(basename "$2" .png)" \
        --window-size="$3" --screenshot="$2" "file://$1" 2>/dev/null
    echo "wrote $2"
}

mkdir -p docs
screenshot "$work/friendly.html" "$PWD/docs/error-page-friendly.png" 1280,2000
screenshot "$work/terse.html" "$PWD/docs/error-page-terse.png" 1280,900
