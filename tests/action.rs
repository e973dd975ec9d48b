//! The action's shell step (`.github/action/review.sh`) against a fake `gh` that keeps
//! a pull request's comments in a directory, and a stand-in `dbkit` that records how
//! it was called: the base is found from the changed migrations in either layout, the
//! review is posted once and then edited (never duplicated, other comments left
//! alone), dbkit's exit code is the step's, and a review that cannot run says so in
//! the comment.

use std::path::{Path, PathBuf};
use std::process::Command;

const FAKE_GH: &str = r#"#!/usr/bin/env bash
# gh api, as the review script uses it: list, POST and PATCH issue comments.
set -euo pipefail
state="$FAKE_GH_STATE"
echo "$*" >>"$state/calls.log"
[ "$1" = api ] || exit 3
shift
method=GET
if [ "$1" = -X ]; then method="$2"; shift 2; fi
path="$1"; shift
body=
while [ $# -gt 0 ]; do
    case "$1" in
        -F) body="${2#body=@}"; shift 2 ;;
        --jq) jq="$2"; shift 2 ;;
        *) shift ;;
    esac
done
case "$method $path" in
    "GET repos/acme/app/issues/7/comments")
        # The filter must select by the marker; emulate it.
        case "$jq" in *'<!-- dbkit-review -->'*) ;; *) exit 4 ;; esac
        for f in "$state"/comments/*; do
            [ -e "$f" ] || continue
            if grep -qF '<!-- dbkit-review -->' "$f"; then basename "$f"; fi
        done ;;
    "POST repos/acme/app/issues/7/comments")
        n=$(( $(ls "$state/comments" | wc -l) + 1 ))
        cp "$body" "$state/comments/$n" ;;
    PATCH\ repos/acme/app/issues/comments/*)
        id="${path##*/}"
        [ -e "$state/comments/$id" ] || exit 5
        cp "$body" "$state/comments/$id" ;;
    *) exit 6 ;;
esac
"#;

const FAKE_DBKIT: &str = r#"#!/usr/bin/env bash
# Records its arguments, writes the SARIF file it is asked for, prints a review.
echo "$*" >>"$FAKE_GH_STATE/dbkit.log"
while [ $# -gt 0 ]; do
    if [ "$1" = --sarif ]; then echo '{"version":"2.1.0","runs":[]}' >"$2"; fi
    shift
done
if [ -n "${FAKE_DBKIT_ERROR:-}" ]; then echo "error: $FAKE_DBKIT_ERROR" >&2; exit 2; fi
printf '<!-- dbkit-review -->\n## dbkit review: ❌ fail — %s\n' "$FAKE_VERDICT"
exit 1
"#;

struct Pr {
    _dir: tempfile::TempDir,
    project: PathBuf,
    state: PathBuf,
    bin: PathBuf,
}

fn executable(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

impl Pr {
    /// A project whose `dir` holds `files`, a pull request #7 with one unrelated comment.
    fn new(dir: &str, files: &[&str]) -> Pr {
        let tmp = tempfile::tempdir().unwrap();
        let project = tmp.path().join("project");
        let state = tmp.path().join("state");
        let bin = tmp.path().join("bin");
        std::fs::create_dir_all(project.join(dir)).unwrap();
        std::fs::create_dir_all(state.join("comments")).unwrap();
        std::fs::create_dir_all(&bin).unwrap();
        for f in files {
            std::fs::write(project.join(dir).join(f), "SELECT 1;\n").unwrap();
        }
        std::fs::write(state.join("comments/1"), "LGTM\n").unwrap();
        executable(&bin.join("gh"), FAKE_GH);
        executable(&bin.join("dbkit"), FAKE_DBKIT);
        Pr {
            _dir: tmp,
            project,
            state,
            bin,
        }
    }

    /// Run the action's script; its exit code.
    fn review(&self, changed: &str, env: &[(&str, &str)]) -> i32 {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join(".github/action/review.sh");
        let path = format!(
            "{}:{}",
            self.bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let out = Command::new("bash")
            .arg(script)
            .current_dir(&self.project)
            .env("PATH", path)
            .env("FAKE_GH_STATE", &self.state)
            .env("CHANGED", changed)
            .env("GH_REPO", "acme/app")
            .env("PR", "7")
            .env("TMPDIR", &self.state)
            .env_remove("GITHUB_STEP_SUMMARY")
            .env_remove("RUNNER_TEMP")
            .envs(env.iter().copied())
            .output()
            .unwrap();
        out.status.code().unwrap_or(-1)
    }

    fn comments(&self) -> Vec<(String, String)> {
        let mut all: Vec<(String, String)> = std::fs::read_dir(self.state.join("comments"))
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let body = std::fs::read_to_string(e.path()).unwrap();
                (e.file_name().to_string_lossy().into_owned(), body)
            })
            .collect();
        all.sort();
        all
    }

    fn log(&self, name: &str) -> String {
        std::fs::read_to_string(self.state.join(name)).unwrap_or_default()
    }
}

#[test]
fn posts_one_comment_then_edits_it() {
    let pr = Pr::new("migrations", &["V1__a.sql", "V2__b.sql", "V3__c.sql"]);
    let code = pr.review(
        "migrations/V3__c.sql\nREADME.md\n",
        &[("FAKE_VERDICT", "first")],
    );
    assert_eq!(code, 1, "dbkit's exit code is the step's");
    let dbkit = pr.log("dbkit.log");
    assert!(
        dbkit.starts_with("review --base 2 --migrations migrations --fail-on error --sarif dbkit.sarif --format markdown"),
        "{dbkit}"
    );
    assert!(pr.project.join("dbkit.sarif").is_file());
    let comments = pr.comments();
    assert_eq!(comments.len(), 2, "{comments:?}");
    assert_eq!(comments[0].1, "LGTM\n", "other comments are left alone");
    assert!(comments[1].1.contains("fail — first"), "{comments:?}");

    let code = pr.review(
        "migrations/V3__c.sql\n",
        &[("FAKE_VERDICT", "second"), ("FAIL_ON", "warning")],
    );
    assert_eq!(code, 1);
    let comments = pr.comments();
    assert_eq!(comments.len(), 2, "edited, not duplicated: {comments:?}");
    assert!(comments[1].1.contains("fail — second"), "{comments:?}");
    let calls = pr.log("calls.log");
    assert_eq!(calls.matches("-X POST").count(), 1, "{calls}");
    assert_eq!(
        calls
            .matches("-X PATCH repos/acme/app/issues/comments/2")
            .count(),
        1,
        "{calls}"
    );
    assert!(pr.log("dbkit.log").contains("--fail-on warning"));
}

#[test]
fn a_supabase_layout_reviews_from_the_timestamp_before_the_change() {
    let pr = Pr::new(
        "supabase/migrations",
        &[
            "20240101000000_init.sql",
            "20240301000000_notes.sql",
            "20240401000000_index.sql",
        ],
    );
    let changed = "supabase/migrations/20240401000000_index.sql\nsupabase/migrations/20240301000000_notes.sql\n";
    let code = pr.review(changed, &[("FAKE_VERDICT", "x"), ("COMMENT", "false")]);
    assert_eq!(code, 1);
    let dbkit = pr.log("dbkit.log");
    assert!(
        dbkit.starts_with("review --base 20240101000000 --migrations supabase/migrations"),
        "{dbkit}"
    );
    assert_eq!(
        pr.comments().len(),
        1,
        "COMMENT=false leaves the pull request alone"
    );
}

#[test]
fn no_changed_migration_runs_nothing_and_an_error_is_commented() {
    let pr = Pr::new("migrations", &["V1__a.sql", "V2__b.sql"]);
    assert_eq!(pr.review("src/main.rs\n", &[]), 0);
    assert!(pr.log("dbkit.log").is_empty());
    assert_eq!(pr.comments().len(), 1);

    let code = pr.review(
        "migrations/V2__b.sql\n",
        &[("FAKE_DBKIT_ERROR", "cannot connect to the database")],
    );
    assert_eq!(code, 2);
    let comments = pr.comments();
    assert_eq!(comments.len(), 2);
    assert!(comments[1]
        .1
        .starts_with("<!-- dbkit-review -->\n## dbkit review: ⚠️ could not run (exit 2)"));
    assert!(
        comments[1].1.contains("cannot connect to the database"),
        "{comments:?}"
    );
}
