#!/usr/bin/env bash
# Installs what building Ferry and running its tests need on Debian: Node.js and Python 3 for the
# test apps, curl for the demo, and Debian's `passenger` package (which brings Ruby): the
# compatibility tests run Passenger 6's own loaders under Ferry's spawner. Rust itself comes from rustup (https://rustup.rs); this script only
# checks for it, because Debian's own cargo is too old.
set -euo pipefail

need=()
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v python3 >/dev/null 2>&1 || need+=(python3)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v cc >/dev/null 2>&1 || need+=(gcc)
command -v ruby >/dev/null 2>&1 || need+=(ruby)
[ -f /usr/share/passenger/helper-scripts/node-loader.js ] || need+=(passenger)

if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
  echo "installing: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo not found: install Rust with rustup (https://rustup.rs), then run this again." >&2
  exit 1
fi
