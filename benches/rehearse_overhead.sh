#!/usr/bin/env bash
# Rehearse overhead (issue 12): what `dbkit rehearse`'s lock sampling costs the
# migrations it watches. Same statements, same data, same settings, no booking traffic
# on either side:
#   1. `dbkit rehearse --before $BEFORE --orgs N --clients 0 --cache --format json`:
#      the lab database is seeded at V$BEFORE (or cloned from the lab's template of
#      it), every statement runs under the probe (pg_locks and pg_stat_activity sampled
#      from another connection, locks and relfilenodes read before and after each
#      statement); the sum of each file's `wall_ms` (first step's start to last step's
#      end, the probe's reads included) is the observed cost;
#   2. a database cloned from that very template (byte for byte the data the lab
#      started from), given the lab's build settings (src/lab/mod.rs `TUNE`), then
#      `dbkit migrate --format json`: the sum of the per-migration times is the plain
#      cost.
# Each side runs ROUNDS times, alternating which goes first. On a shared 2-core machine
# one statement's time swings by a third from run to run with the other processes'
# load (V6's exclusion constraint: 13 to 22 s, same data, back to back), so each
# migration's best time on each side is kept and the sums of those are compared.
# Prints every round, per migration, and the overhead (target <= 10 %).
#
# Usage:   benches/rehearse_overhead.sh [ORGS]        (default 50)
# Env:     BENCH_SERVER  server URL without database (default: dbkit's local cluster)
#          BEFORE        version the pending migrations start from (default 3)
#          ROUNDS        runs of each side (default 2)
#          DBKIT         a dbkit binary to use (default: build the release one)
# Needs:   cargo, psql, awk. Builds the release binary first. Leaves the lab's template
#          (`dbkit db prune-cache` removes it).
set -euo pipefail
cd "$(dirname "$0")/.."

orgs=${1:-50}
before=${BEFORE:-3}
rounds=${ROUNDS:-2}
if [ -n "${DBKIT:-}" ]; then
    dbkit=$DBKIT
else
    cargo build --release --quiet
    dbkit=$PWD/target/release/dbkit
fi
if [ -n "${BENCH_SERVER:-}" ]; then
    server=${BENCH_SERVER%/}
else
    "$dbkit" db start >/dev/null
    server=$("$dbkit" db url)
    server=${server%/*}
fi
db=dbkit_rehearse_overhead
work=$(mktemp -d "${TMPDIR:-/tmp}/dbkit-rehearse-overhead.XXXXXX")
admin() { PGOPTIONS='-c client_min_messages=warning' psql -X -q -At -d "$server/postgres" -v ON_ERROR_STOP=1 "$@"; }
trap 'rm -rf "$work"; admin -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true' EXIT

# "ms" of each applied migration (dbkit migrate), "wall_ms" of each rehearsed one, as
# "version ms" lines.
per_migration() { # $1 file, $2 field
    grep -oE "\"($2|version)\": [0-9.]+" "$1" | awk -v f="\"$2\":" '
        $1 == f { ms = $2 } $1 == "\"version\":" { v = $2 }
        ms != "" && v != "" { print v, ms; ms = ""; v = "" }'
}
total() { awk '{ s += $2 } END { printf "%.1f", s }'; }

template=""
probe() {
    "$dbkit" rehearse --migrations migrations --before "$before" --orgs "$orgs" --clients 0 \
        --max-stall 10m --cache --format json --database-url "$server/postgres" >"$work/rehearse.json"
    template=$(grep -oE '"lab_cache": "(stored|reused) dbkit_cache_[0-9a-f]+' "$work/rehearse.json" | grep -oE 'dbkit_cache_[0-9a-f]+' || true)
    if [ -z "$template" ]; then
        echo "rehearse kept no template of its seeded database: $(grep lab_cache "$work/rehearse.json" || echo 'no lab_cache')" >&2
        exit 1
    fi
    per_migration "$work/rehearse.json" wall_ms >"$work/probed"
}
plain() {
    admin -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" \
        -c "CREATE DATABASE $db TEMPLATE $template STRATEGY FILE_COPY" \
        -c "ALTER DATABASE $db SET maintenance_work_mem = '512MB'" \
        -c "ALTER DATABASE $db SET max_parallel_maintenance_workers = 2" \
        -c "ALTER DATABASE $db SET synchronous_commit = off" >/dev/null
    "$dbkit" migrate --migrations migrations --format json --database-url "$server/$db" >"$work/migrate.json"
    per_migration "$work/migrate.json" ms >"$work/plain"
}

: >"$work/all_plain"
: >"$work/all_probed"
for round in $(seq "$rounds"); do
    # The template exists once the first rehearsal stored it: then alternate.
    if [ -z "$template" ] || [ $((round % 2)) -eq 1 ]; then probe; plain; else plain; probe; fi
    cat "$work/plain" >>"$work/all_plain"
    cat "$work/probed" >>"$work/all_probed"
    echo "round $round: dbkit migrate $(total <"$work/plain") ms, under rehearse's probe $(total <"$work/probed") ms" \
        "(per version, migrate/probed: $(join "$work/plain" "$work/probed" | awk '{ printf "V%s %.0f/%.0f ", $1, $2, $3 }'))"
done
best() { # each version's lowest time, summed
    awk '!($1 in b) || $2 < b[$1] { b[$1] = $2 } END { for (v in b) s += b[v]; printf "%.1f", s }' "$1"
}
awk -v p="$(best "$work/all_plain")" -v q="$(best "$work/all_probed")" -v o="$orgs" 'BEGIN {
    printf "%s orgs, V'"$before"' -> head, best of '"$rounds"' per migration: migrate %.0f ms, rehearse (probe, no traffic) %.0f ms, overhead %+.1f %% (target <= 10 %%)\n", o, p, q, (q / p - 1) * 100
}'
