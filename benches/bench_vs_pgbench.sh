#!/usr/bin/env bash
# dbkit bench vs pgbench, and before (V3) vs after (head). See benches/README.md.
#
#   benches/bench_vs_pgbench.sh [--orgs 50] [--duration 15] [--rounds 2] [--clients "1 10 30"]
#                               [--fresh] [--build-only] [--no-before]
#
# SERVER (default postgres://postgres@127.0.0.1:5499) must be a PostgreSQL 15+ server
# with btree_gist, where this user may create databases. The script builds, once:
#   dbkit_bench_v3_<orgs>   migrations V1..V3 + benches/fixture.sql (-v orgs=<orgs>)
#   dbkit_bench_head_<orgs> a copy of it (CREATE DATABASE … TEMPLATE) migrated to head
# so both hold identical rows. Then, on the head database:
#   for 1, 10 and 30 clients: `dbkit bench --concurrency C --duration D --pool-size C`
#   and `pgbench -M prepared -c C -T D -f benches/booking.pgbench -l` (per-transaction
#   log → p95), each preceded by removing both tools' rows and VACUUM ANALYZE
#   appointments; prints throughput of both, the ratio (target ≥ 1.0) and both p95s.
#   All of it ROUNDS times (--rounds, default 2; even rounds run pgbench first, so
#   neither tool always goes first), then per client count every round's ratio and the
#   ratio of the summed throughputs.
# And at 5 concurrent clients, `dbkit bench` on the V3 and the head database: p95
# before and after (target: cut ≥ 10×).
set -euo pipefail
cd "$(dirname "$0")/.."
ORGS=50 DURATION=15 ROUNDS=2 CLIENTS="1 10 30" FRESH=0 BUILD_ONLY=0 BEFORE=1
while [ $# -gt 0 ]; do
  case "$1" in
    --orgs) ORGS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --clients) CLIENTS=$2; shift 2 ;;
    --no-before) BEFORE=0; shift ;;
    --fresh) FRESH=1; shift ;;
    --build-only) BUILD_ONLY=1; shift ;;
    *) echo "usage: $0 [--orgs N] [--duration SECONDS] [--rounds N] [--clients \"1 10 30\"] [--fresh] [--build-only] [--no-before]" >&2; exit 2 ;;
  esac
done
SERVER=${SERVER:-postgres://postgres@127.0.0.1:5499}
DBKIT=${DBKIT:-target/release/dbkit}
V3=dbkit_bench_v3_$ORGS HEAD=dbkit_bench_head_$ORGS
[ "$BUILD_ONLY" = 1 ] || [ -x "$DBKIT" ] || cargo build --release --quiet
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT

apply() { # apply migration files V<from>..V<to> to database $1
  local db=$1 from=$2 to=$3 f v
  for f in migrations/V*__*.sql; do
    v=$(basename "$f" | sed -E 's/^V([0-9]+)__.*/\1/')
    if [ "$v" -ge "$from" ] && [ "$v" -le "$to" ]; then
      if head -1 "$f" | grep -q 'dbkit:no-transaction'; then
        psql "$SERVER/$db" -q -v ON_ERROR_STOP=1 -f "$f"
      else
        psql "$SERVER/$db" -q -v ON_ERROR_STOP=1 -1 -f "$f"
      fi
    fi
  done
}

exists() { [ "$(psql "$SERVER/postgres" -Atc "SELECT count(*) FROM pg_database WHERE datname = '$1'")" = 1 ]; }

if [ "$FRESH" = 1 ] || ! exists "$HEAD"; then
  psql "$SERVER/postgres" -q -c "DROP DATABASE IF EXISTS $HEAD" -c "DROP DATABASE IF EXISTS $V3" -c "CREATE DATABASE $V3"
  start=$(date +%s)
  apply "$V3" 1 3
  psql "$SERVER/$V3" -q -v ON_ERROR_STOP=1 -v orgs="$ORGS" -f benches/fixture.sql >/dev/null
  psql "$SERVER/postgres" -q -c "CREATE DATABASE $HEAD TEMPLATE $V3"
  apply "$HEAD" 4 999
  psql "$SERVER/$HEAD" -q -c "ANALYZE"
  echo "built $V3 and $HEAD in $(( $(date +%s) - start ))s"
fi
[ "$BUILD_ONLY" = 1 ] && exit 0
psql "$SERVER/$HEAD" -Atc "SELECT 'data: ' || (SELECT count(*) FROM orgs) || ' orgs, ' || (SELECT count(*) FROM providers) || ' providers, ' || (SELECT count(*) FROM appointments) || ' appointments'"

p95_of_log() { # pgbench per-transaction logs: 3rd field is the latency in µs
  cat "$@" | awk '{print $3}' | sort -n | awk '{a[NR]=$1} END {i=int(NR*0.95); if (i<1) i=1; printf "%.2f", a[i]/1000}'
}

settle() { psql "$SERVER/$1" -q -c "DELETE FROM appointments WHERE notes = 'pgbench run' OR notes LIKE 'dbkit-bench run %'" -c "VACUUM ANALYZE appointments"; }

run_dbkit() { # $1 clients, $2 round
  settle "$HEAD"
  "$DBKIT" --database-url "$SERVER/$HEAD" bench --concurrency "$1" --duration "${DURATION}s" \
    --pool-size "$1" --budget-p95-ms 100000 --format json > "$WORK/dbkit_$1_$2.json"
}

run_pgbench() { # $1 clients, $2 round
  settle "$HEAD"
  local j=$(( $1 < 2 ? $1 : 2 ))
  mkdir -p "$WORK/pg_$1_$2"
  (cd "$WORK/pg_$1_$2" && pgbench -n -M prepared -D orgs="$ORGS" -c "$1" -j "$j" -T "$DURATION" \
     -f "$OLDPWD/benches/booking.pgbench" -l "$SERVER/$HEAD" > out 2>&1) || { cat "$WORK/pg_$1_$2/out"; exit 1; }
}

printf '\n%-6s %-8s %14s %14s %8s %12s %12s\n' round clients dbkit_tps pgbench_tps ratio dbkit_p95 pgbench_p95
for R in $(seq "$ROUNDS"); do
  for C in $CLIENTS; do
    if [ $((R % 2)) = 1 ]; then run_dbkit "$C" "$R"; run_pgbench "$C" "$R"; else run_pgbench "$C" "$R"; run_dbkit "$C" "$R"; fi
    d_tps=$(jq '.scenarios[0].throughput_rps' "$WORK/dbkit_${C}_$R.json")
    d_p95=$(jq '.scenarios[0].p95_ms' "$WORK/dbkit_${C}_$R.json")
    d_err=$(jq '.scenarios[0].errors' "$WORK/dbkit_${C}_$R.json")
    p_tps=$(sed -nE 's/^tps = ([0-9.]+) .*/\1/p' "$WORK/pg_${C}_$R/out")
    p_p95=$(p95_of_log "$WORK/pg_${C}_$R"/pgbench_log.*)
    ratio=$(awk -v a="$d_tps" -v b="$p_tps" 'BEGIN {printf "%.2f", a/b}')
    echo "$C $R $d_tps $p_tps $ratio" >> "$WORK/ratios"
    printf '%-6s %-8s %14.1f %14.1f %7sx %10.2fms %10.2fms   (dbkit errors: %s)\n' "$R" "$C" "$d_tps" "$p_tps" "$ratio" "$d_p95" "$p_p95" "$d_err"
  done
done
settle "$HEAD"

echo
echo "ratio dbkit / pgbench by client count (target ≥ 1.0), $ROUNDS round(s) of ${DURATION}s:"
for C in $CLIENTS; do
  awk -v c="$C" '$1 == c {r = r sprintf(" %.2fx", $5); d += $3; p += $4}
    END {printf "%3s clients: rounds%s; summed throughput %.2fx\n", c, r, d / p}' "$WORK/ratios"
done
[ "$BEFORE" = 1 ] || exit 0

echo
echo "before (V3) vs after (head), dbkit bench at 5 concurrent clients, $ORGS orgs:"
for DB in "$V3" "$HEAD"; do
  "$DBKIT" --database-url "$SERVER/$DB" bench --concurrency 5 --requests "${BEFORE_REQUESTS:-200}" \
    --budget-p95-ms 100000 --format json > "$WORK/ba_$DB.json"
done
b=$(jq '.scenarios[0].p95_ms' "$WORK/ba_$V3.json"); a=$(jq '.scenarios[0].p95_ms' "$WORK/ba_$HEAD.json")
bt=$(jq '.scenarios[0].throughput_rps' "$WORK/ba_$V3.json"); at=$(jq '.scenarios[0].throughput_rps' "$WORK/ba_$HEAD.json")
printf 'p95 before %.1f ms (%.1f req/s), after %.2f ms (%.1f req/s): %sx faster at p95 (target ≥ 10x)\n' \
  "$b" "$bt" "$a" "$at" "$(awk -v b="$b" -v a="$a" 'BEGIN {printf "%.1f", b/a}')"
