#!/usr/bin/env bash
# Runs schemathesis against a live demo server: every request the served
# OpenAPI document allows must be answered as the document says (status,
# headers, body), and every request it forbids must be refused. Builds the
# release binary, serves the demo on a free loopback port over a database of
# its own, and always stops the server.
#
# Usage: .ci/schemathesis.sh [more `schemathesis run` options]
#   SCHEMATHESIS_EXAMPLES  test cases per operation and phase (default 500)
#   SCHEMATHESIS_SEED      the generation seed (default fixed, so a run can be
#                          repeated; pass another to explore)
#   SCHEMATHESIS_VENV      where schemathesis is installed (default under the
#                          cargo target directory)
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
target=${CARGO_TARGET_DIR:-target}
venv=${SCHEMATHESIS_VENV:-$target/ci/schemathesis-$SCHEMATHESIS_VERSION}
examples=${SCHEMATHESIS_EXAMPLES:-500}
seed=${SCHEMATHESIS_SEED:-20261201}

if ! "$venv/bin/schemathesis" --version 2> /dev/null | grep -qF "$SCHEMATHESIS_VERSION"; then
  if ! python3 -m venv --help > /dev/null 2>&1; then
    apt-get update && apt-get install -y --no-install-recommends python3-venv
  fi
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
if ! command -v curl > /dev/null; then
  apt-get update && apt-get install -y --no-install-recommends curl
fi

cargo build --release --locked --bin campaignd

work=$(mktemp -d)
server=
stop() {
  local status=$?
  if [ -n "$server" ]; then
    kill "$server" 2> /dev/null || true
    wait "$server" 2> /dev/null || true
  fi
  if [ "$status" -ne 0 ] && [ -s "$work/stderr" ]; then
    echo "--- the demo server's log, last 40 lines ---" >&2
    tail -n 40 "$work/stderr" >&2
  fi
  rm -rf "$work"
}
trap stop EXIT
trap 'exit 130' INT TERM

# Port 0: the kernel picks a free port, and the server prints its address.
# The files exist before the server starts: the loop below may read them
# before the background shell has opened them.
: > "$work/stdout"
: > "$work/stderr"
CAMPAIGND_DATABASE_URL="sqlite://$work/demo.db" "$target/release/campaignd" serve --demo \
  --listen 127.0.0.1:0 --rate-limit-per-second 100000 --rate-limit-burst 100000 \
  --write-rate-limit-per-second 100000 --write-rate-limit-burst 100000 \
  > "$work/stdout" 2> "$work/stderr" &
server=$!

base=
key=
for _ in $(seq 100); do
  base=$(sed -n 's|^campaignd is listening on ||p' "$work/stdout")
  key=$(sed -n 's|^demo API key: ||p' "$work/stdout")
  if [ -n "$base" ] && [ -n "$key" ] && curl -fsS -o /dev/null "$base/healthz" 2> /dev/null; then
    break
  fi
  if ! kill -0 "$server" 2> /dev/null; then
    echo "schemathesis: the demo server exited before it answered" >&2
    exit 1
  fi
  sleep 0.1
done
if [ -z "$key" ] || ! curl -fsS -o /dev/null "$base/healthz"; then
  echo "schemathesis: the demo server did not answer /healthz within 10s" >&2
  exit 1
fi

start=$SECONDS
# Hypothesis keeps caches beside the run; keep them out of the work tree.
HYPOTHESIS_STORAGE_DIRECTORY="$work/hypothesis" \
  "$venv/bin/schemathesis" --config-file .ci/schemathesis.toml run "$base/api/v4/openapi.json" \
    --checks all \
    --max-examples "$examples" \
    --seed "$seed" \
    --header "Authorization: Bearer $key" \
    --generation-database none \
    --no-color \
    "$@"
echo "schemathesis: no failures in $((SECONDS - start))s"
