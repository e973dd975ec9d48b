#!/usr/bin/env bash
# Seed vs restore on a project's own schema (issue 19, item 3): the salon example
# (examples/salon: a membership helper, a btree_gist exclusion constraint, a
# cross-column CHECK), seeded by the generic row generator, against `pg_restore -j2`
# of a dump of the same rows. One run prints both times, the ratio and dbkit's peak RSS.
#
# For --orgs N (default 50), on the same server:
#   1. a fresh database with the Supabase platform (src/platform/*.sql) and the salon's
#      migrations; `dbkit seed --orgs N` into it, timed with /usr/bin/time (wall
#      seconds, peak RSS);
#   2. `pg_dump -Fd` of that seeded database (not timed), then an empty database and
#      `pg_restore -j2` of the dump into it, timed: pg_restore creates the schema, loads
#      bare tables and builds the indexes and constraints itself, two jobs at a time;
#   3. prints seed_s, restore_s, ratio = restore_s / seed_s (goal >= 1.0) and rss_MB
#      (goal <= 150). Both databases end with the same rows (counted).
#
# Usage:   benches/seed_salon_vs_restore.sh [--orgs N]
# Env:     BENCH_SERVER  server URL without database (default: dbkit's local cluster)
#          BENCH_KEEP=1  keep the databases and the dump afterwards
#          BENCH_NO_BUILD=1  use target/release/dbkit as it is (no cargo build)
# Needs:   cargo, psql, pg_dump, pg_restore, awk, /usr/bin/time (GNU time).
set -euo pipefail
cd "$(dirname "$0")/.."

orgs=50
while [ $# -gt 0 ]; do
    case $1 in
    --orgs) orgs=$2; shift 2 ;;
    *) echo "usage: $0 [--orgs N]" >&2; exit 2 ;;
    esac
done
anchor=2026-01-15 # fixed, so every run loads the very same rows

[ -n "${BENCH_NO_BUILD:-}" ] || cargo build --release --quiet
dbkit=$PWD/target/release/dbkit
if [ -n "${BENCH_SERVER:-}" ]; then
    server=${BENCH_SERVER%/}
else
    "$dbkit" db start >/dev/null
    server=$("$dbkit" db url)
    server=${server%/*}
fi
seeded=bench_salon_seed_$orgs
restored=bench_salon_restore_$orgs
work=$(mktemp -d "${TMPDIR:-/tmp}/dbkit-salon-restore.XXXXXX")
psql_admin() { PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 -d "$server/postgres" "$@" >/dev/null; }
cleanup() {
    if [ -z "${BENCH_KEEP:-}" ]; then
        psql_admin -c "DROP DATABASE IF EXISTS $seeded WITH (FORCE)" \
            -c "DROP DATABASE IF EXISTS $restored WITH (FORCE)" 2>/dev/null || true
        rm -rf "$work"
    else
        echo "kept: $server/$seeded, $server/$restored, $work"
    fi
}
trap cleanup EXIT
calc() { awk "BEGIN { printf \"%.2f\", $1 }"; }
counts() { # rows per salon table of database $1, one line
    psql -X -At -d "$server/$1" -c "SELECT concat_ws(' ', (SELECT count(*) FROM organizations), \
        (SELECT count(*) FROM organization_members), (SELECT count(*) FROM staff), \
        (SELECT count(*) FROM services), (SELECT count(*) FROM clients), (SELECT count(*) FROM bookings))"
}

echo "server: $(sed -E 's#(://[^:/@]*):[^@]*@#\1:***@#' <<<"$server")   orgs: $orgs   anchor: $anchor"
psql_admin -c "DROP DATABASE IF EXISTS $seeded WITH (FORCE)" -c "DROP DATABASE IF EXISTS $restored WITH (FORCE)" \
    -c "CREATE DATABASE $seeded"
# The platform the salon's migrations assume, as dbkit provides it on its local cluster.
for piece in roles auth storage extensions search_path privileges realtime; do
    PGOPTIONS='-c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 -d "$server/$seeded" -f "src/platform/$piece.sql" >/dev/null
done
"$dbkit" migrate --migrations examples/salon/supabase/migrations --database-url "$server/$seeded" >/dev/null

/usr/bin/time -f '%e %M' -o "$work/time_seed" \
    "$dbkit" seed --orgs "$orgs" --anchor-date "$anchor" --format json \
    --database-url "$server/$seeded" >"$work/seed.json"
read -r seed_s seed_kb <"$work/time_seed"

pg_dump -Fd -j2 -f "$work/dump" -d "$server/$seeded"
psql_admin -c "CREATE DATABASE $restored"
start=$(date +%s.%N)
pg_restore -j2 -d "$server/$restored" "$work/dump"
end=$(date +%s.%N)
restore_s=$(calc "$end - $start")

a=$(counts "$seeded")
b=$(counts "$restored")
[ "$a" = "$b" ] || { echo "row counts differ: seed $a, restore $b" >&2; exit 1; }
total=$(psql -X -At -d "$server/$seeded" -c "SELECT sum(n) FROM (SELECT count(*) n FROM organizations UNION ALL \
    SELECT count(*) FROM auth.users UNION ALL SELECT count(*) FROM organization_members UNION ALL \
    SELECT count(*) FROM staff UNION ALL SELECT count(*) FROM services UNION ALL \
    SELECT count(*) FROM clients UNION ALL SELECT count(*) FROM bookings) c")

echo "rows (organizations members staff services clients bookings): $a; total with auth.users: $total"
printf '%8s %10s %7s %7s\n' seed_s restore_s ratio rss_MB
printf '%8.1f %10.1f %6.2fx %7.1f\n' "$seed_s" "$restore_s" "$(calc "$restore_s / $seed_s")" "$(calc "$seed_kb / 1024")"
echo "ratio = restore_s / seed_s (>= 1.0: seed is at least as fast as pg_restore -j2);"
echo "seed_s includes reading the catalog, building every index and constraint and ANALYZE; pg_restore does not ANALYZE."
