//! Names the commit the binary was built from, for `dbkit --version`: `DBKIT_COMMIT`
//! when the build sets it (release workflow), else the checkout's `git rev-parse`, else
//! the `.cargo_vcs_info.json` that `cargo package` writes into a crate (so `cargo
//! install dbkit` names it too), else `unknown`.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=DBKIT_COMMIT");
    let commit = std::env::var("DBKIT_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(from_git)
        .or_else(from_vcs_info)
        .map(|c| c.trim().chars().take(12).collect::<String>())
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=DBKIT_COMMIT={commit}");
}

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?;
    Some(text.trim().to_string()).filter(|t| !t.is_empty())
}

fn from_git() -> Option<String> {
    // Only this crate's own checkout: a crate unpacked inside another repository
    // must not take that repository's commit.
    let top = git(&["rev-parse", "--show-toplevel"])?;
    let here = std::env::var("CARGO_MANIFEST_DIR").ok()?;
    let same =
        |a: &str, b: &str| Path::new(a).canonicalize().ok() == Path::new(b).canonicalize().ok();
    if !same(&top, &here) {
        return None;
    }
    // Rebuild when HEAD moves (a commit, a checkout).
    for path in ["HEAD", "refs/heads"] {
        if let Some(p) = git(&["rev-parse", "--git-path", path]) {
            println!("cargo:rerun-if-changed={p}");
        }
    }
    git(&["rev-parse", "HEAD"])
}

fn from_vcs_info() -> Option<String> {
    let text = std::fs::read_to_string(".cargo_vcs_info.json").ok()?;
    // A build of the package shares the target directory with the checkout's (`cargo
    // package` verifies there): this path is missing in the checkout, so the next
    // build there runs this script again instead of keeping the package's commit.
    println!("cargo:rerun-if-changed=.cargo_vcs_info.json");
    // {"git": {"sha1": "…"}, "path_in_vcs": ""}: a field read without a JSON parser,
    // so the build script needs no dependency.
    let start = text.find("\"sha1\"")? + "\"sha1\"".len();
    let rest = &text[start..];
    let open = rest.find('"')? + 1;
    let close = open + rest[open..].find('"')?;
    Some(rest[open..close].to_string())
}
