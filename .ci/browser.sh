#!/usr/bin/env bash
# The Campaigns page in a real browser: Debian's Chromium (never a browser
# download) driven by playwright-core from npm, against a live
# `campaignd serve --demo` built from this tree (tests/browser/run.mjs).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/chromium ]; then
  apt-get update
  apt-get install -y --no-install-recommends chromium
fi
if ! command -v npm > /dev/null; then
  apt-get update
  apt-get install -y --no-install-recommends nodejs npm
fi
# playwright-core alone: it downloads no browser.
(cd tests/browser && npm ci --no-audit --no-fund)
cargo build --locked --bin campaignd
node tests/browser/run.mjs --campaignd target/debug/campaignd
