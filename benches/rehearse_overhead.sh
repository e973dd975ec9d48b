#!/usr/bin/env bash
# Rehearse overhead (issue 12): what `dbkit rehearse`'s lock sampling costs the
# migrations it watches. Same statements, same data, no booking traffic on either side:
#   1. a database migrated to V$BEFORE and seeded like the lab (`dbkit seed --orgs N`,
#      default profile and seed, ANALYZE), then `dbkit migrate --format json`: the sum of
#      the per-migration times is the plain cost;
#   2. `dbkit rehearse --before $BEFORE --orgs N --clients 0 --format json`: the lab is
#      built the same way, every statement runs under the probe (pg_locks and
#      pg_stat_activity sampled every 10 ms from another connection, locks and
#      relfilenodes read before and after each statement); the sum of each file's
#      `wall_ms` (first step's start to last step's end, the probe's reads included)
#      is the observed cost.
# Each side runs ROUNDS times (alternating); the best of each is compared. Prints both
# and the overhead (target <= 10 %).
#
# Usage:   benches/rehearse_overhead.sh [ORGS]        (default 50)
# Env:     BENCH_SERVER  server URL without database (default: dbkit's local cluster)
#          BEFORE        version the pending migrations start from (default 3)
#          ROUNDS        runs of each side (default 2)
# Needs:   cargo, psql, awk. Builds the release binary first.
set -euo pipefail
cd "$(dirname "$0")/.."

orgs=${1:-50}
before=${BEFORE:-3}
rounds=${ROUNDS:-2}
cargo build --release --quiet
dbkit=$PWD/target/release/dbkit
if [ -n "${BENCH_SERVER:-}" ]; then
    server=${BENCH_SERVER%/}
else
    "$dbkit" db start >/dev/null
    server=$("$dbkit" db url)
    server=${server%/*}
fi
db=dbkit_rehearse_overhead
work=$(mktemp -d "${TMPDIR:-/tmp}/dbkit-rehearse-overhead.XXXXXX")
trap 'rm -rf "$work"; psql -X -q -d "$server/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true' EXIT

sum_ms() { # sum of every "ms" field in JSON file $1
    grep -o '"ms": [0-9.]*' "$1" | awk '{ s += $2 } END { printf "%.1f", s }'
}

best_plain=""
best_probed=""
for round in $(seq "$rounds"); do
    PGOPTIONS='-c client_min_messages=warning' psql -X -q -d "$server/postgres" -v ON_ERROR_STOP=1 \
        -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >/dev/null
    "$dbkit" migrate --migrations migrations --target "$before" --database-url "$server/$db" >/dev/null
    "$dbkit" seed --orgs "$orgs" --database-url "$server/$db" >/dev/null
    "$dbkit" migrate --migrations migrations --format json --database-url "$server/$db" >"$work/migrate.json"
    plain=$(sum_ms "$work/migrate.json")

    "$dbkit" rehearse --migrations migrations --before "$before" --orgs "$orgs" --clients 0 \
        --max-stall 10m --format json --database-url "$server/postgres" >"$work/rehearse.json"
    # Each file's wall time under the probe, its snapshots included.
    probed=$(grep -o '"wall_ms": [0-9.]*' "$work/rehearse.json" | awk '{ s += $2 } END { printf "%.1f", s }')
    echo "round $round: dbkit migrate ${plain} ms, under rehearse's probe ${probed} ms"
    best_plain=$(awk -v a="$plain" -v b="${best_plain:-$plain}" 'BEGIN { print (a < b ? a : b) }')
    best_probed=$(awk -v a="$probed" -v b="${best_probed:-$probed}" 'BEGIN { print (a < b ? a : b) }')
done
awk -v p="$best_plain" -v q="$best_probed" -v o="$orgs" 'BEGIN {
    printf "%s orgs, V'"$before"' -> head, best of '"$rounds"': migrate %.0f ms, rehearse (probe, no traffic) %.0f ms, overhead %+.1f %% (target <= 10 %%)\n", o, p, q, (q / p - 1) * 100
}'
