#!/usr/bin/env bash
# The action's step: run `dbkit review` on the migrations a pull request adds or
# changes, in the project's own layout, and keep one sticky comment on the pull
# request up to date (found by its marker, edited, never duplicated). Writes the SARIF
# log for the upload step. Exits with dbkit's code: 1 when a finding reaches
# --fail-on, 2 when the review could not run (the comment then says why).
#
# Environment (the action sets it; the tests set it too):
#   DBKIT          the binary (default: dbkit on PATH)
#   MIGRATIONS     the migrations directory (default: supabase/migrations when it
#                  exists, else migrations)
#   BASE_REF       the branch the pull request merges into (git diff against it)
#   CHANGED        newline-separated changed paths (instead of git diff; tests)
#   FAIL_ON        error | warning | info (default error)
#   ARGS           further arguments for dbkit review (word-split)
#   SARIF          where to write the SARIF log (default dbkit.sarif)
#   COMMENT        "false" to leave the pull request alone
#   GH_REPO, PR    owner/name and the pull request's number, for the comment
set -uo pipefail

dbkit="${DBKIT:-dbkit}"
marker='<!-- dbkit-review -->'
fail_on="${FAIL_ON:-error}"
sarif="${SARIF:-dbkit.sarif}"
out="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/dbkit-review.md"

log() { printf 'dbkit-review: %s\n' "$*" >&2; }

dir="${MIGRATIONS:-}"
if [ -z "$dir" ]; then
    if [ -d supabase/migrations ]; then dir=supabase/migrations; else dir=migrations; fi
fi
dir="${dir%/}"
if [ ! -d "$dir" ]; then
    log "no migrations directory: $dir (set the action's migrations input)"
    exit 2
fi

# The version a migration file names: V7__x.sql → 7, 20240101120000_x.sql → 20240101120000.
version_of() {
    local name
    name="$(basename "$1")"
    name="${name#V}"
    name="${name%%_*}"
    case "$name" in '' | *[!0-9]*) return 1 ;; esac
    printf '%s\n' "$((10#$name))"
}

if [ -n "${CHANGED:-}" ]; then
    changed="$CHANGED"
else
    changed="$(git diff --name-only --diff-filter=AMR "origin/${BASE_REF:?BASE_REF is not set}...HEAD" -- "$dir")" || {
        log "git diff against origin/$BASE_REF failed (fetch-depth: 0 in actions/checkout?)"
        exit 2
    }
fi
lowest=
while IFS= read -r path; do
    case "$path" in "$dir"/*.sql) ;; *) continue ;; esac
    v="$(version_of "$path")" || continue
    if [ -z "$lowest" ] || [ "$v" -lt "$lowest" ]; then lowest="$v"; fi
done <<<"$changed"
if [ -z "$lowest" ]; then
    log "no migration in $dir changed: nothing to review"
    exit 0
fi

# The base: the highest version below the lowest changed one.
base=
for file in "$dir"/*.sql; do
    v="$(version_of "$file")" || continue
    if [ "$v" -lt "$lowest" ] && { [ -z "$base" ] || [ "$v" -gt "$base" ]; }; then base="$v"; fi
done
if [ -z "$base" ]; then
    log "every migration in $dir is new: there is no base version to review from"
    exit 2
fi

log "reviewing $dir above version $base"
# shellcheck disable=SC2086 # ARGS is a list of arguments
"$dbkit" review --base "$base" --migrations "$dir" --fail-on "$fail_on" \
    --sarif "$sarif" --format markdown ${ARGS:-} >"$out" 2>"$out.err"
code=$?
cat "$out.err" >&2
if [ "$code" -ge 2 ] || ! grep -qF "$marker" "$out"; then
    {
        echo "$marker"
        echo "## dbkit review: ⚠️ could not run (exit $code)"
        echo
        echo '```'
        tail -n 20 "$out.err"
        echo '```'
    } >"$out"
    [ "$code" -ge 2 ] || code=2
fi

if [ "${COMMENT:-true}" != false ] && [ -n "${PR:-}" ]; then
    repo="${GH_REPO:?GH_REPO is not set}"
    id="$(gh api "repos/$repo/issues/$PR/comments" --paginate \
        --jq ".[] | select(.body | contains(\"$marker\")) | .id" | head -n 1)" || {
        log "cannot list the pull request's comments"
        exit 2
    }
    if [ -n "$id" ]; then
        gh api -X PATCH "repos/$repo/issues/comments/$id" -F "body=@$out" >/dev/null || exit 2
        log "updated comment $id"
    else
        gh api -X POST "repos/$repo/issues/$PR/comments" -F "body=@$out" >/dev/null || exit 2
        log "posted the review comment"
    fi
fi
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
    cat "$out" >>"$GITHUB_STEP_SUMMARY"
fi
exit "$code"
