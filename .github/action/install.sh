#!/usr/bin/env bash
# Install dbkit for the action: the release binary of this platform (checksum
# verified), else `cargo install` from the action's own source. Puts it on PATH.
#
# Environment: DBKIT_VERSION (a release tag such as v0.2.0, or "latest"),
# DBKIT_REPOSITORY (owner/name the releases belong to), DBKIT_SOURCE (the action's
# checkout, for the fallback), RUNNER_TEMP, GITHUB_PATH.
set -euo pipefail

version="${DBKIT_VERSION:-latest}"
repository="${DBKIT_REPOSITORY:?DBKIT_REPOSITORY is not set}"
root="${RUNNER_TEMP:-/tmp}/dbkit"
mkdir -p "$root/bin"

case "$(uname -s)-$(uname -m)" in
    Linux-x86_64) target=x86_64-unknown-linux-musl ;;
    Linux-aarch64 | Linux-arm64) target=aarch64-unknown-linux-musl ;;
    Darwin-arm64) target=aarch64-apple-darwin ;;
    Darwin-x86_64) target=x86_64-apple-darwin ;;
    *) target= ;;
esac

from_release() {
    [ -n "$target" ] || return 1
    local base archive="dbkit-$target.tar.gz"
    if [ "$version" = latest ]; then
        base="https://github.com/$repository/releases/latest/download"
    else
        base="https://github.com/$repository/releases/download/$version"
    fi
    local tmp
    tmp="$(mktemp -d)"
    curl -fsSL --retry 3 -o "$tmp/$archive" "$base/$archive" || return 1
    curl -fsSL --retry 3 -o "$tmp/$archive.sha256" "$base/$archive.sha256" || return 1
    (cd "$tmp" && sha256sum -c "$archive.sha256" >/dev/null 2>&1 ||
        shasum -a 256 -c "$archive.sha256" >/dev/null) || {
        echo "dbkit: checksum mismatch for $archive" >&2
        return 1
    }
    tar -xzf "$tmp/$archive" -C "$root/bin" dbkit
}

if from_release; then
    echo "dbkit: installed the $version release binary ($target)"
else
    echo "dbkit: no release binary for ${target:-this platform} at $version; building with cargo install" >&2
    cargo install --locked --quiet --root "$root" --path "${DBKIT_SOURCE:?DBKIT_SOURCE is not set}"
fi
if [ -n "${GITHUB_PATH:-}" ]; then
    echo "$root/bin" >>"$GITHUB_PATH"
fi
"$root/bin/dbkit" --version
