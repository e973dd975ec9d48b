//! The command-line contract that needs no database: nonsense values and misplaced
//! formats are usage errors (exit 2, an `error:` and a `hint:` line), and `--format
//! json` puts JSON alone on stdout.

mod common;

use predicates::prelude::*;
use serde_json::Value;

fn usage_error(args: &[&str]) -> String {
    let out = common::dbkit().args(args).assert().code(2);
    let stderr = String::from_utf8(out.get_output().stderr.clone()).unwrap();
    assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert!(
        lines.len() == 2 && lines[1].starts_with("hint: "),
        "{args:?}: one error line and one hint line: {stderr}"
    );
    assert!(out.get_output().stdout.is_empty(), "{args:?}");
    stderr
}

#[test]
fn zero_counts_and_durations_are_refused() {
    for args in [
        &["migrate", "--lock-timeout", "0"][..],
        &["migrate", "--lock-timeout", "0s"],
        &["explain", "--runs", "0"],
        &["explain", "--jobs", "0"],
        &["explain", "--statement-timeout", "0ms"],
        &["explain", "--before", "3", "--orgs", "0"],
        &["bench", "--concurrency", "2", "--duration", "0s"],
        &["seed", "--orgs", "0"],
        &["migrate", "--format", "xml"],
        &["new"],
    ] {
        usage_error(args);
    }
}

#[test]
fn format_github_is_for_check_only() {
    for args in [
        &["migrate", "status"][..],
        &["seed", "--orgs", "1"],
        &["explain"],
        &["bench", "--scenario", "burst"],
        &["db", "status"],
        &["new", "x"],
    ] {
        let mut all = args.to_vec();
        all.extend(["--format", "github"]);
        let stderr = usage_error(&all);
        assert!(stderr.contains("dbkit check"), "{stderr}");
        assert!(stderr.contains("\nhint: "), "{stderr}");
    }
}

#[test]
fn new_and_db_speak_json() {
    let dir = common::work_dir();
    std::fs::create_dir(dir.join("migrations")).unwrap();
    let out = common::dbkit_in(&dir)
        .args(["new", "add_rooms", "--format", "json"])
        .assert()
        .success();
    let created: Value = serde_json::from_slice(&out.get_output().stdout).expect("JSON");
    assert_eq!(created["version"], 1);
    assert_eq!(created["path"], "migrations/V1__add_rooms.sql");
    assert_eq!(created["mode"], "transactional");

    let out = common::dbkit_in(&dir)
        .args(["db", "destroy", "--yes", "--format", "json"])
        .assert()
        .success();
    let status: Value = serde_json::from_slice(&out.get_output().stdout).expect("JSON");
    assert_eq!(status["running"], false);
    assert!(status["message"]
        .as_str()
        .unwrap()
        .starts_with("nothing to destroy"));
}

#[test]
fn every_error_has_a_hint() {
    let dir = common::work_dir();
    std::fs::write(dir.join("file"), "").unwrap();
    common::dbkit_in(&dir)
        .args(["seed", "--orgs", "1", "--to-files", "file/rows"])
        .assert()
        .code(2)
        .stderr(predicate::str::is_match("^error: .*\nhint: .+\n$").unwrap());
}

/// A full disk behind stdout is an error (exit 2), not a panic and not a silent success.
#[test]
fn a_failed_write_to_stdout_is_an_error() {
    let dir = common::work_dir();
    std::fs::create_dir(dir.join("migrations")).unwrap();
    for args in [
        &["completions", "bash"][..],
        &["db", "status"],
        &["check", "--offline"],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_dbkit"))
            .args(args)
            .current_dir(&dir)
            .env_remove("DATABASE_URL")
            .stdout(std::fs::File::create("/dev/full").unwrap())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("error: cannot write the output to stdout"),
            "{stderr}"
        );
    }
}

/// `dbkit --help > /dev/full`: the help cannot be written, which is an error (exit 2)
/// with one `error:` and one `hint:` line, not a silent success.
#[test]
fn help_to_a_full_disk_is_an_error() {
    let help_into = |stdout: std::process::Stdio| {
        std::process::Command::new(env!("CARGO_BIN_EXE_dbkit"))
            .arg("--help")
            .current_dir(common::work_dir())
            .stdout(stdout)
            .output()
            .unwrap()
    };
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let out = help_into(full.into());
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with("error: cannot write the output to stdout"),
        "{stderr}"
    );
    assert!(
        stderr.lines().nth(1).unwrap().starts_with("hint: "),
        "{stderr}"
    );
    // A reader that stops early is no error: `dbkit --help | head -0`.
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = help_into(writer.into());
    assert!(out.status.success() && out.stderr.is_empty(), "{out:?}");
}

/// `dbkit --version` names the version and the commit it was built from (build.rs);
/// in this checkout, that is HEAD.
#[test]
fn version_names_the_commit() {
    let out = common::dbkit().arg("--version").assert().success();
    let stdout = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    let head = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let head = String::from_utf8(head.stdout).unwrap();
    assert_eq!(
        stdout.trim(),
        format!(
            "dbkit {} ({})",
            env!("CARGO_PKG_VERSION"),
            &head.trim()[..12]
        )
    );
}

/// `check --format sarif`: a SARIF 2.1.0 log that validates against the vendored
/// OASIS schema, the blocking index as an error at its file and line, with a help
/// page and a fingerprint (offline: the lint rules alone).
#[test]
fn check_writes_sarif_that_validates() {
    let dir = common::work_dir();
    std::fs::create_dir(dir.join("migrations")).unwrap();
    std::fs::write(
        dir.join("migrations/V1__notes.sql"),
        "CREATE TABLE notes (id int PRIMARY KEY, org_id uuid NOT NULL);\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("migrations/V2__notes_org.sql"),
        "-- the tenant key's index\nCREATE INDEX notes_org ON notes (org_id);\n",
    )
    .unwrap();
    let out = common::dbkit_in(&dir)
        .args(["check", "--offline", "--format", "sarif"])
        .assert()
        .code(1);
    let log: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    let schema: Value =
        serde_json::from_str(include_str!("fixtures/sarif/sarif-schema-2.1.0.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(&log).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}\n{log:#}");
    let results = log["runs"][0]["results"].as_array().unwrap();
    let index = results
        .iter()
        .find(|r| r["ruleId"] == "require-concurrent-index-creation")
        .unwrap_or_else(|| panic!("{log:#}"));
    assert_eq!(index["level"], "error");
    let location = &index["locations"][0]["physicalLocation"];
    assert_eq!(
        location["artifactLocation"]["uri"],
        "migrations/V2__notes_org.sql"
    );
    assert_eq!(location["region"]["startLine"], 2);
    assert!(index["partialFingerprints"]["dbkitFinding/v1"].is_string());
}

/// SARIF is for the commands that report rule findings.
#[test]
fn sarif_is_refused_where_there_are_no_rules() {
    let stderr = usage_error(&["migrate", "status", "--format", "sarif"]);
    assert!(stderr.contains("--format sarif is for"), "{stderr}");
}

/// The README's test command is what `.ci/run` runs, verbatim.
#[test]
fn the_readme_test_command_is_the_ci_command() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let ci = std::fs::read_to_string(root.join(".ci/run")).unwrap();
    // The second line of the README's first code block.
    let block = readme.split("```sh\n").nth(1).unwrap();
    let line = block.lines().nth(1).unwrap();
    let command = line.split('#').next().unwrap().trim();
    assert!(command.starts_with("cargo "), "{line}");
    assert!(
        ci.lines().any(|l| l.trim() == command),
        "`{command}` is not a line of .ci/run"
    );
}
