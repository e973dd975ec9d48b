#!/usr/bin/env bash
# Index advice as one verified set (issue 20, item 6): on the booking catalog at V3,
# what the catalog reads with each index set, measured the same way.
#
# For --orgs N (default 20), on one server:
#   1. a database at V3 (RLS, no secondary index), seeded with N orgs (seed 42, a fixed
#      anchor date), VACUUM ANALYZE;
#   2. the index sets, each from that database as it is:
#      - index_advisor: Supabase's index_advisor() (single-column, hypopg) on every
#        catalog query (service form), when INDEX_ADVISOR_SQL names its install script
#        (index_advisor--0.2.0.sql from github.com/supabase/index_advisor; it needs
#        hypopg); skipped otherwise;
#      - dbkit hypopg: `dbkit explain --format json` with hypopg, its `index-suggestion`
#        findings applied as printed (today's per-plan advice);
#      - V4: migrations/V4__appointment_indexes.sql, the hand-written set;
#      - verified: `dbkit explain --advise --format json`, the statements of its set;
#   3. per set: a copy of the database (CREATE DATABASE … TEMPLATE), the statements
#      applied one at a time, VACUUM ANALYZE, then `dbkit explain --format json
#      --no-index-suggestions` (every query × largest/median org × service/tenant,
#      median of 5 runs): total shared buffers, total median time, the INSERT's buffers,
#      and how many runs read more than with V4;
#   4. prints the table and the goal: verified reads no more than V4 on any run, and
#      ≤ 0.9 × V4 in total.
#
# Usage:   benches/advice_vs_v4.sh [--orgs N]
# Env:     BENCH_SERVER       server URL without database (default: dbkit's local cluster)
#          DBKIT              the dbkit binary (default: a release build, built if missing)
#          INDEX_ADVISOR_SQL  index_advisor's install script (optional, see above)
#          BENCH_KEEP=1       keep the databases afterwards
# Needs:   cargo, psql, jq, awk.
set -euo pipefail
cd "$(dirname "$0")/.."

orgs=20
while [ $# -gt 0 ]; do
    case $1 in
    --orgs) orgs=$2; shift 2 ;;
    *) echo "usage: $0 [--orgs N]" >&2; exit 2 ;;
    esac
done
anchor=2026-12-07 # fixed, so every run measures the very same rows

if [ -z "${DBKIT:-}" ]; then
    cargo build --release --quiet
    DBKIT=$PWD/target/release/dbkit
fi
if [ -n "${BENCH_SERVER:-}" ]; then
    server=${BENCH_SERVER%/}
else
    "$DBKIT" db start >/dev/null
    server=$("$DBKIT" db url)
    server=${server%/*}
fi
base=bench_advice_v3_$orgs
work=$(mktemp -d "${TMPDIR:-/tmp}/dbkit-advice.XXXXXX")
sets="index_advisor hypopg v4 verified"
psql_on() { PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 -d "$server/$1" "${@:2}"; }
cleanup() {
    if [ -z "${BENCH_KEEP:-}" ]; then
        for db in $base $(for s in $sets; do echo "${base}_$s"; done); do
            psql_on postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" 2>/dev/null || true
        done
        rm -rf "$work"
    else
        echo "kept: the databases $base and ${base}_<set> on the server, and $work"
    fi
}
trap cleanup EXIT

echo "== $base: V3, $orgs orgs" >&2
psql_on postgres -c "DROP DATABASE IF EXISTS $base WITH (FORCE)" -c "CREATE DATABASE $base"
"$DBKIT" --database-url "$server/$base" migrate --target 3 --migrations migrations >/dev/null
"$DBKIT" --database-url "$server/$base" seed --orgs "$orgs" --anchor-date "$anchor" >/dev/null
psql_on "$base" -c "VACUUM ANALYZE"

# --- the index sets, one statement per line ---
: >"$work/index_advisor.sql"
if [ -n "${INDEX_ADVISOR_SQL:-}" ]; then
    echo "== index_advisor" >&2
    advisor=${base}_advisor_run
    psql_on postgres -c "DROP DATABASE IF EXISTS $advisor WITH (FORCE)" -c "CREATE DATABASE $advisor TEMPLATE $base"
    psql_on "$advisor" -c "CREATE EXTENSION IF NOT EXISTS hypopg" -f "$INDEX_ADVISOR_SQL"
    for file in $(awk '$1 == "file:" {print $2}' queries/catalog.yaml); do
        body=$(cat "queries/$file")
        # psql interpolates :'body' (quoted) in what it reads, not in -c.
        echo "SELECT s || ';' FROM index_advisor(:'body') a, unnest(a.index_statements) s" |
            psql_on "$advisor" -At -v body="$body" 2>/dev/null >>"$work/index_advisor.sql" || true
    done
    sort -u -o "$work/index_advisor.sql" "$work/index_advisor.sql"
    psql_on postgres -c "DROP DATABASE $advisor WITH (FORCE)"
else
    sets="hypopg v4 verified"
fi

echo "== dbkit hypopg suggestions" >&2
"$DBKIT" --database-url "$server/$base" explain --format json >"$work/hypopg.json" 2>/dev/null || true
jq -r '[.runs[].findings[] | select(.rule == "index-suggestion") | .evidence.expression] | unique | .[]' \
    "$work/hypopg.json" >"$work/hypopg.sql"

grep -v '^--' migrations/V4__appointment_indexes.sql | tr '\n' ' ' | tr ';' '\n' |
    sed 's/^ *//; /^$/d; s/$/;/' >"$work/v4.sql"

echo "== dbkit explain --advise" >&2
start=$(date +%s)
"$DBKIT" --database-url "$server/$base" explain --advise --no-index-suggestions --format json \
    >"$work/verified.json"
advise_s=$(($(date +%s) - start))
jq -r '.advice.indexes[].statement' "$work/verified.json" >"$work/verified.sql"

# --- measure each set on its own copy ---
measure() { # $1: set name → $work/$1.runs.json
    local db=${base}_$1
    psql_on postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db TEMPLATE $base"
    while IFS= read -r statement; do
        [ -n "$statement" ] && psql_on "$db" -c "$statement"
    done <"$work/$1.sql"
    psql_on "$db" -c "VACUUM ANALYZE"
    "$DBKIT" --database-url "$server/$db" explain --no-index-suggestions --format json \
        >"$work/$1.runs.json" 2>/dev/null
}
for s in $sets; do
    echo "== measure $s ($(grep -c . "$work/$s.sql") indexes)" >&2
    measure "$s"
done

runs() { jq -r '.runs[] | "\(.query)/\(.org)/\(.role) \(.buffers)"' "$work/$1.runs.json"; }
printf '%-14s %8s %10s %10s %8s %14s\n' "set" "indexes" "buffers" "time_ms" "insert" "runs>V4"
for s in $sets; do
    n=$(grep -c . "$work/$s.sql" || true)
    buffers=$(jq '[.runs[].buffers] | add' "$work/$s.runs.json")
    time_ms=$(jq '[.runs[].execution_ms] | add | . * 10 | round / 10' "$work/$s.runs.json")
    insert=$(jq '[.runs[] | select(.query == "booking_insert") | .buffers] | max' "$work/$s.runs.json")
    worse=$(join <(runs v4 | sort) <(runs "$s" | sort) | awk '$3 > $2 {n++} END {print n + 0}')
    printf '%-14s %8s %10s %10s %8s %14s\n' "$s" "$n" "$buffers" "$time_ms" "$insert" "$worse"
done
v4=$(jq '[.runs[].buffers] | add' "$work/v4.runs.json")
verified=$(jq '[.runs[].buffers] | add' "$work/verified.runs.json")
worse=$(join <(runs v4 | sort) <(runs verified | sort) | awk '$3 > $2 {print "  " $1 ": V4 " $2 ", verified " $3}')
echo
echo "verified / V4 buffers: $(awk "BEGIN { printf \"%.3f\", $verified / $v4 }") (goal <= 0.9); runs reading more than with V4: $(printf '%s' "$worse" | grep -c . || true) (goal 0)"
[ -n "$worse" ] && echo "$worse"
echo "explain --advise took ${advise_s} s; the verified set:"
sed 's/^/  /' "$work/verified.sql"
