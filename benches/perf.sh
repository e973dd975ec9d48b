#!/usr/bin/env bash
# Issue 14's figures in one run: `dbkit seed` vs `pg_restore -j2` of its own rows
# (benches/seed_vs_restore.sh), and `dbkit explain --before 3` cold vs warm — the warm
# run clones the lab's templates (dbkit_cache_*) that the cold run stored — with dbkit's
# peak RSS for each.
#
# The explain runs use a local cluster of their own in a temporary directory, so the
# cold run starts with an empty cache and your .dbkit/pg is not touched.
#
# Usage:   benches/perf.sh [--orgs N]          (default 50; explain always uses --orgs N)
# Env:     PERF_SKIP_SEED=1  only the explain cold/warm part
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

cargo build --release --quiet
dbkit=$PWD/target/release/dbkit

if [ -z "${PERF_SKIP_SEED:-}" ]; then
    echo "== seed vs pg_restore -j2 ($orgs orgs)"
    benches/seed_vs_restore.sh --orgs "$orgs"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/dbkit-perf.XXXXXX")
chmod 755 "$work" # the postgres user (dbkit runs the server as it when root) enters it
cleanup() { (cd "$work" && "$dbkit" db destroy --yes >/dev/null 2>&1) || true; rm -rf "$work"; }
trap cleanup EXIT
cd "$work"
"$dbkit" db start >/dev/null

timed() { # label, then the command; prints "label seconds rss_MB"
    local label=$1
    shift
    /usr/bin/time -f "%e %M" -o "$work/time.txt" "$@" >"$work/$label.json" 2>"$work/$label.err"
    read -r secs kb <"$work/time.txt"
    echo "$label $secs $(awk "BEGIN { printf \"%.1f\", $kb / 1024 }")"
}

echo "== explain --before 3 --orgs $orgs, cold (empty cache) then warm"
cold=$(timed cold "$dbkit" explain --before 3 --orgs "$orgs" --format json)
warm=$(timed warm "$dbkit" explain --before 3 --orgs "$orgs" --format json)
read -r _ cold_s cold_rss <<<"$cold"
read -r _ warm_s warm_rss <<<"$warm"
grep -o '"lab cache: [^"]*"' "$work/warm.json" || echo "(warm run: no cache note)"
"$dbkit" db status | tail -n 1
printf 'explain_cold_s %s\nexplain_warm_s %s\nwarm/cold %s (goal <= 0.25)\npeak_rss_MB cold %s, warm %s\n' \
    "$cold_s" "$warm_s" "$(awk "BEGIN { printf \"%.2f\", $warm_s / $cold_s }")" "$cold_rss" "$warm_rss"
