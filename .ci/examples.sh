#!/usr/bin/env bash
# The "use it in CI" example: examples/python's pytest file against the
# release binary in emulator mode (pytest pinned, in a virtualenv under the
# cargo target directory).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTEST_VERSION=8.3.5
target=${CARGO_TARGET_DIR:-target}
venv=$target/ci/pytest-$PYTEST_VERSION

if ! "$venv/bin/pytest" --version 2> /dev/null | grep -qF "$PYTEST_VERSION"; then
  if ! python3 -m venv --help > /dev/null 2>&1; then
    apt-get update && apt-get install -y --no-install-recommends python3-venv
  fi
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "pytest==$PYTEST_VERSION"
fi
cargo build --release --locked --bin campaignd
CAMPAIGND_BIN="$PWD/$target/release/campaignd" "$venv/bin/pytest" -q -p no:cacheprovider examples/python
