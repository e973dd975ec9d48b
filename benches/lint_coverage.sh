#!/usr/bin/env bash
# How many statements of real projects dbkit's lints read, and how many they cannot
# (PostgreSQL's grammar rejects them), with `dbkit check --offline`. Each project is
# checked as its team would run it: in its root, with its own layout.
#   benches/lint_coverage.sh [CORPUS]   # CORPUS defaults to ../shared/corpus beside the repo
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
corpus="${1:-$repo/../../shared/corpus}"
[ -d "$corpus" ] || corpus=/work/shared/corpus
dbkit="${DBKIT:-$repo/target/debug/dbkit}"
[ -x "$dbkit" ] || (cd "$repo" && cargo build -q)

printf '%-28s %6s %10s %10s %8s\n' project files statements not_linted findings
total=0; unlinted=0
for dir in "$corpus"/realworld/*/ "$corpus"/realworld2/*/; do
    name="$(basename "$dir")"
    [ "$name" = shim ] && continue
    if [ -d "$dir/supabase/migrations" ]; then
        args=(--migrations "$dir/supabase/migrations")
    else
        args=(--migrations "$dir")
    fi
    json="$(cd "$dir" && "$dbkit" check --offline "${args[@]}" --format json 2>/dev/null || true)"
    read -r files statements not_linted findings < <(python3 -c '
import json, sys
d = json.loads(sys.argv[1]); r = d["ran"]
print(r["files"], r["statements"], len(r["not_linted"]), len(d["findings"]))' "$json")
    printf '%-28s %6s %10s %10s %8s\n' "$name" "$files" "$statements" "$not_linted" "$findings"
    total=$((total + statements)); unlinted=$((unlinted + not_linted))
done
printf '%-28s %6s %10s %10s\n' total '' "$total" "$unlinted"
