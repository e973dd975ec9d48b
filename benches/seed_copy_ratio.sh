#!/usr/bin/env bash
# Seed benchmark (issue 3, "Performance"): how close `dbkit seed` comes to the physical
# floor of loading the same rows, how much memory it needs, and how time grows with rows.
#
# For each --orgs size (default: 50 500), on two freshly migrated databases:
#   1. times `dbkit seed --orgs N` (generate in Rust + binary COPY + ANALYZE), with
#      its peak RSS (/usr/bin/time);
#   2. writes the identical rows with `dbkit seed --to-files` (not timed against), and
#      times `psql -f load.sql`: `\copy ... with (format binary)` per table + the same
#      ANALYZE, into the second database: the raw COPY floor;
#   3. prints rows, seconds, rows/s of both, the ratio dbkit / raw COPY (target >= 0.8),
#      dbkit's peak RSS (target <= 150 MB) and seconds per million rows (linearity).
#
# Usage:   benches/seed_copy_ratio.sh [ORGS ...]
# Env:     BENCH_SERVER  server URL without database (default: dbkit's local cluster)
#          BENCH_TARGET  migrate up to this version (default: all, i.e. V6 with every
#                        index and the exclusion constraint; 2 = keys only)
#          BENCH_PROFILE a seed profile for both runs (e.g. one with `ids: random`)
#          BENCH_KEEP=1  keep the databases and files afterwards
# Needs:   cargo, psql, awk, /usr/bin/time (GNU time). Builds the release binary first.
set -euo pipefail
cd "$(dirname "$0")/.."

sizes=("$@")
[ ${#sizes[@]} -eq 0 ] && sizes=(50 500)
anchor=2026-01-15 # fixed, so every run loads the very same rows

cargo build --release --quiet
dbkit=$PWD/target/release/dbkit
if [ -n "${BENCH_SERVER:-}" ]; then
    server=${BENCH_SERVER%/}
else
    "$dbkit" db start >/dev/null
    server=$("$dbkit" db url)
    server=${server%/*}
fi
target_args=()
profile_args=()
[ -n "${BENCH_PROFILE:-}" ] && profile_args=(--profile "$BENCH_PROFILE")
[ -n "${BENCH_TARGET:-}" ] && target_args=(--target "$BENCH_TARGET")
work=$(mktemp -d "${TMPDIR:-/tmp}/dbkit-seed-bench.XXXXXX")

fresh() { # fresh migrated database $1
    PGOPTIONS='-c client_min_messages=warning' psql -X -q -d "$server/postgres" -v ON_ERROR_STOP=1 \
        -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1" >/dev/null
    "$dbkit" migrate --migrations migrations "${target_args[@]}" --database-url "$server/$1" >/dev/null
}
calc() { awk "BEGIN { printf \"%.6f\", $1 }"; }
field() { # numeric JSON field $2 of file $1
    sed -n "s/^ *\"$2\": \\([0-9.]*\\),\\{0,1\\}$/\\1/p" "$1"
}
cleanup() {
    if [ -z "${BENCH_KEEP:-}" ]; then
        for n in "${sizes[@]}"; do
            psql -X -q -d "$server/postgres" -c "DROP DATABASE IF EXISTS bench_seed_dbkit_$n WITH (FORCE)" \
                -c "DROP DATABASE IF EXISTS bench_seed_copy_$n WITH (FORCE)" >/dev/null 2>&1 || true
        done
        rm -rf "$work"
    fi
}
trap cleanup EXIT

echo "server: ${server//:*@/:***@}   schema: ${BENCH_TARGET:-all migrations}   profile: ${BENCH_PROFILE:-default}   anchor: $anchor"
results=()
for n in "${sizes[@]}"; do
    a=bench_seed_dbkit_$n b=bench_seed_copy_$n files=$work/files_$n
    fresh "$a"
    fresh "$b"
    /usr/bin/time -f '%e %M' -o "$work/time_dbkit" \
        "$dbkit" seed --orgs "$n" --anchor-date "$anchor" "${profile_args[@]}" --format json --database-url "$server/$a" >"$work/dbkit_$n.json"
    read -r dbkit_s dbkit_kb <"$work/time_dbkit"
    /usr/bin/time -f '%e %M' -o "$work/time_files" \
        "$dbkit" seed --orgs "$n" --anchor-date "$anchor" "${profile_args[@]}" --format json --to-files "$files" >"$work/files_$n.json"
    read -r files_s files_kb <"$work/time_files"
    fp_db=$(sed -n 's/.*"fingerprint": "\(.*\)".*/\1/p' "$work/dbkit_$n.json")
    fp_files=$(sed -n 's/.*"fingerprint": "\(.*\)".*/\1/p' "$work/files_$n.json")
    [ "$fp_db" = "$fp_files" ] || { echo "fingerprints differ: $fp_db vs $fp_files" >&2; exit 1; }
    start=$(date +%s.%N)
    psql -X -q -d "$server/$b" -v ON_ERROR_STOP=1 -f "$files/load.sql" >/dev/null
    end=$(date +%s.%N)
    copy_s=$(calc "$end - $start")
    rows=$(field "$work/dbkit_$n.json" rows)
    appts=$(field "$work/dbkit_$n.json" appointments)
    bytes=$(du -sb "$files" | cut -f1)
    results+=("$(printf '%5s %9s %9s %8.1f %9.0f %8.1f %9.0f %6.2f %9.1f %9.1f %8.1f %9.1f' \
        "$n" "$rows" "$appts" "$dbkit_s" "$(calc "$rows / $dbkit_s")" \
        "$copy_s" "$(calc "$rows / $copy_s")" "$(calc "$copy_s / $dbkit_s")" \
        "$(calc "$dbkit_kb / 1024")" "$(calc "$files_kb / 1024")" \
        "$(calc "$dbkit_s * 1000000 / $rows")" "$(calc "$bytes / 1048576")")")
done
echo
printf '%5s %9s %9s %8s %9s %8s %9s %6s %9s %9s %8s %9s\n' orgs rows appts dbkit_s dbkit_r/s \
    copy_s copy_r/s ratio rss_MB files_MB s/Mrow copy_MB
printf '%s\n' "${results[@]}"
echo
echo "ratio = (dbkit rows/s) / (raw psql \\copy binary rows/s), target >= 0.8; rss_MB = dbkit seed's"
echo "peak RSS (files_MB: the --to-files run's), target <= 150; s/Mrow = dbkit seconds per million rows."
