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

# The other callers: a key of each scope alone, and a key of a second
# contact center that sees none of the demo's data. The demo prints its key
# of every scope and one of campaigns.read alone.
read_key=$(sed -n 's|^demo read-only key: ||p' "$work/stdout")
admin() { CAMPAIGND_DATABASE_URL="sqlite://$work/demo.db" "$target/release/campaignd" "$@"; }
manage_key=$(admin key create --center demo --scope campaigns.manage --name schemathesis)
users_key=$(admin key create --center demo --scope users.read --name schemathesis)
admin center create schemathesis-other > /dev/null
foreign_key=$(admin key create --center schemathesis-other --scope campaigns.read \
  --scope campaigns.manage --scope users.read --name schemathesis)

# One run per caller, each with a seed of its own (the same seed would
# make the same names, which the center already holds). Every phase; the
# stateful one follows the document's links (create -> get, patch, delete,
# lifecycle, users, leads). The demo's own key gets the most cases; the
# others see mostly 403s and 404s and need fewer to cover them.
runs=0
run() {
  local label=$1 key=$2 examples=$3
  shift 3
  runs=$((runs + 1))
  echo "=== schemathesis as $label ($examples cases per operation) ==="
  local start=$SECONDS
  # Hypothesis keeps caches beside the run; keep them out of the work tree.
  HYPOTHESIS_STORAGE_DIRECTORY="$work/hypothesis" \
    "$venv/bin/schemathesis" --config-file .ci/schemathesis.toml run "$base/api/v4/openapi.json" \
      --checks all \
      --max-examples "$examples" \
      --seed "$((seed + runs - 1))" \
      --header "Authorization: Bearer $key" \
      --generation-database none \
      --no-color \
      "$@"
  echo "schemathesis as $label: no failures in $((SECONDS - start))s"
}
few=$((examples / 10 > 0 ? examples / 10 : 1))
run "the demo's key of every scope" "$key" "$examples" "$@"
run "another center's key" "$foreign_key" "$few" "$@"
# A key lacking a scope is refused (403) by every operation that needs it,
# which is the point of these runs: the warning that operations answered
# only 401/403 is expected here. `--warnings` names the warnings shown,
# and one not shown cannot fail the run: every other one of fail-on is
# shown, and still fails it.
# Without campaigns.manage nothing can be created, so no link can be
# followed: those two runs skip the stateful phase.
scoped_warnings=$(sed -n 's/^fail-on = \[\(.*\)\]/\1/p' .ci/schemathesis.toml |
  tr -d '" ' | tr ',' '\n' | grep -vx missing_auth | paste -sd, -) || true
if [ -z "$scoped_warnings" ] || [ -z "$read_key" ]; then
  echo "schemathesis: cannot read warnings.fail-on from .ci/schemathesis.toml, or the demo's read-only key" >&2
  exit 1
fi
run "a manage-only key" "$manage_key" "$few" --warnings "$scoped_warnings" "$@"
run "a read-only key" "$read_key" "$few" --warnings "$scoped_warnings" \
  --phases examples,coverage,fuzzing "$@"
run "a users.read-only key" "$users_key" "$few" --warnings "$scoped_warnings" \
  --phases examples,coverage,fuzzing "$@"
