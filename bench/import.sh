#!/usr/bin/env bash
# Times `campaignd campaign import` of N generated campaigns (default 100000)
# into a fresh SQLite database with the release build, with its peak RSS,
# then checks the file with PRAGMA integrity_check and times the export of
# the same campaigns.
#
# Usage: bench/import.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}
cargo build --release --quiet
bin=target/release/campaignd
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export CAMPAIGND_DATABASE_URL="sqlite://$work/bench.db"

python3 bench/gen_campaigns.py "$n" > "$work/in.ndjson"
printf 'input: %d campaigns, %s bytes of NDJSON\n' "$n" "$(stat -c %s "$work/in.ndjson")"
"$bin" center create bench > /dev/null

start=$(date +%s.%N)
/usr/bin/time -f '%M' -o "$work/rss" "$bin" campaign import --center bench "$work/in.ndjson"
end=$(date +%s.%N)
import_s=$(echo "$end - $start" | bc -l)
rss_kib=$(cat "$work/rss")

start=$(date +%s.%N)
"$bin" campaign export --center bench "$work/out.ndjson" 2> /dev/null
end=$(date +%s.%N)
export_s=$(echo "$end - $start" | bc -l)

check=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('PRAGMA integrity_check').fetchone()[0])" "$work/bench.db")
printf 'import: %.2f s (%.0f campaigns/s, wall clock including process start), peak RSS %d MiB\n' "$import_s" "$(echo "$n / $import_s" | bc -l)" "$((rss_kib / 1024))"
printf 'export: %.2f s (import/export ratio %.2f)\n' "$export_s" "$(echo "$import_s / $export_s" | bc -l)"
printf 'database: %s bytes, integrity_check: %s\n' "$(stat -c %s "$work/bench.db")" "$check"
