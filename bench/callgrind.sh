#!/usr/bin/env bash
# Instructions per request, counted by callgrind: a measure of the hot path
# that, unlike req/s, does not drift with the load on this shared machine.
#
# Runs the static ceiling and `campaignd serve --demo` under callgrind (each
# pinned to CPU 0, as in bench/read_bench.py), zeroes
# the counters after a warm-up, sends a fixed load with wrk, dumps, and
# prints instructions per request for each plus campaignd's costliest
# functions (inclusive). Usage: bench/callgrind.sh [PATH] [TOP]
#   PATH  request path for campaignd (default /api/v4/campaigns/3)
#   TOP   how many functions to list (default 40)
# CAMPAIGND_BIN and CEILING_BIN name other builds to measure (skipping the
# build), e.g. to compare two commits in one run. DATABASE, KEY and SCRIPT
# serve an existing database file instead of the demo's, with that API key,
# sending requests from that wrk Lua script (bench/size_bench.py --keep DIR
# leaves both): e.g. DATABASE=DIR/large.db KEY=$(cat DIR/large.key)
# SCRIPT=DIR/large.lua for random reads over 1,000,000 campaigns. WARMUP sets
# campaignd's uncounted warm-up in whole seconds (default 3): a large
# database's render cache takes many more requests to fill, minutes under
# valgrind (WARMUP=150 for the 1,000,000-campaign case). Needs valgrind and wrk. Note: under valgrind the CPU reports no SHA
# extensions, so key hashing counts at its software cost.
set -euo pipefail
cd "$(dirname "$0")/.."
path=${1:-/api/v4/campaigns/3}
top=${2:-40}
work=$(mktemp -d /tmp/campaignd-callgrind.XXXXXX)
# KEEP=1 keeps the dumps (for callgrind_annotate --tree=caller and the like).
warmup=${WARMUP:-3}
warmup=${warmup%s}
trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; [ -n "${KEEP:-}" ] && echo "dumps kept in $work" || rm -rf "$work"' EXIT

if [ -z "${CAMPAIGND_BIN:-}" ] || [ -z "${CEILING_BIN:-}" ]; then
  cargo build --release --quiet --bin campaignd --example static_ceiling
fi
bin=${CAMPAIGND_BIN:-target/release/campaignd}
ceiling=${CEILING_BIN:-target/release/examples/static_ceiling}

# Count a steady load: warm up for $4 seconds, zero, run wrk, dump; print
# "<requests> <instructions>".
measure() {
  local pid=$1 url=$2 out=$3 warm=$4
  shift 4
  # Warm up (connections, caches), then count.
  wrk -t1 -c8 -d"${warm}s" "$@" "$url" >/dev/null
  callgrind_control -z "$pid" >/dev/null
  local reqs
  reqs=$(wrk -t1 -c8 -d5s "$@" "$url" | awk '/requests in/ {print $1}')
  callgrind_control -d "$pid" >/dev/null
  local dump
  dump=$(ls -t "$out".* | head -1)
  local ir
  ir=$(callgrind_annotate "$dump" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1; exit}')
  echo "$reqs $ir $dump"
}

export CAMPAIGND_DATABASE_URL="sqlite://${DATABASE:-$work/cg.db}"
demo=--demo
[ -n "${DATABASE:-}" ] && demo=
taskset -c 0 valgrind --tool=callgrind --callgrind-out-file="$work/serve.out" \
  "$bin" serve $demo --listen 127.0.0.1:18591 \
  --rate-limit-per-second 1000000000 --rate-limit-burst 1000000000 \
  >"$work/serve.stdout" 2>"$work/serve.stderr" &
serve_pid=$!
if [ -n "${DATABASE:-}" ]; then
  key=$KEY
  for _ in $(seq 600); do curl -sf http://127.0.0.1:18591/healthz >/dev/null 2>&1 && break; sleep 0.1; done
else
  for _ in $(seq 600); do grep -q 'demo API key' "$work/serve.stdout" 2>/dev/null && break; sleep 0.1; done
  key=$(awk -F': ' '/demo API key/ {print $2}' "$work/serve.stdout")
fi
curl -sf -H "Authorization: Bearer $key" "http://127.0.0.1:18591/api/v4/campaigns/3" >"$work/hot.json"

taskset -c 0 valgrind --tool=callgrind --callgrind-out-file="$work/ceiling.out" \
  "$ceiling" 127.0.0.1:18592 "$work/hot.json" 2>/dev/null &
ceiling_pid=$!
for _ in $(seq 600); do curl -sf http://127.0.0.1:18592/ >/dev/null 2>&1 && break; sleep 0.1; done

read -r c_reqs c_ir _ < <(measure "$ceiling_pid" http://127.0.0.1:18592/ "$work/ceiling.out" 3)
read -r s_reqs s_ir s_dump < <(measure "$serve_pid" "http://127.0.0.1:18591$path" "$work/serve.out" "$warmup" \
  -H "Authorization: Bearer $key" ${SCRIPT:+-s "$SCRIPT"})

awk -v cr="$c_reqs" -v ci="$c_ir" -v sr="$s_reqs" -v si="$s_ir" 'BEGIN {
  c = ci / cr; s = si / sr
  printf "ceiling:   %8d requests, %7.0f instructions/request\n", cr, c
  printf "campaignd: %8d requests, %7.0f instructions/request (%.2fx the ceiling)\n", sr, s, s / c
}'
echo
echo "campaignd, inclusive instructions per request, top $top:"
callgrind_annotate --inclusive=yes "$s_dump" 2>/dev/null |
  awk -v n="$s_reqs" -v top="$top" '
    /^-+$/ { sep++; next }
    sep >= 3 && $1 ~ /^[0-9,]+$/ && shown < top {
      ir = $1; gsub(",", "", ir); $1 = ""; $2 = ""
      printf "%8.0f %s\n", ir / n, substr($0, 3); shown++
    }'
