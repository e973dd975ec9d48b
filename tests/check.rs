//! `dbkit check` end to end: the real binary against the harness's PostgreSQL cluster.
//! `dbkit check` creates and drops its own scratch databases on the server it is given;
//! a test's own database (`fresh_db`) is only needed to hold a migration history.

mod common;
/// Issue 11's findings: parser of record, `--base` narrowing, every schema located.
#[path = "check/findings.rs"]
mod findings;
#[path = "check/stats.rs"]
mod stats;

use std::path::{Path, PathBuf};

use serde_json::Value;

fn server() -> String {
    // One fresh database per call: the target whose history is compared (none here).
    common::fresh_db().url_string()
}

fn repo_migrations() -> PathBuf {
    common::repo_migrations()
}

/// A migrations directory holding the project's V1–V6 plus `extra` files.
fn project_plus(extra: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(repo_migrations()).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    for (name, text) in extra {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

struct Run {
    code: i32,
    stdout: String,
    findings: Vec<Value>,
}

impl Run {
    /// (rule, object) of every finding.
    fn hits(&self, rule: &str) -> Vec<&Value> {
        self.findings.iter().filter(|f| f["rule"] == rule).collect()
    }

    fn objects(&self, rule: &str) -> Vec<String> {
        self.hits(rule)
            .iter()
            .map(|f| f["object"].as_str().unwrap_or("").to_string())
            .collect()
    }
}

fn dbkit(dir: &Path, format: &str, extra: &[&str]) -> Run {
    let output = common::dbkit_in(dir)
        .args(["--database-url", &server(), "check", "--migrations"])
        .arg(dir)
        .args(["--format", format])
        .args(extra)
        .output()
        .unwrap();
    let stdout = String::from_utf8(output.stdout).unwrap();
    let stderr = String::from_utf8(output.stderr).unwrap();
    let findings = if format == "json" && !stdout.is_empty() {
        serde_json::from_str::<Value>(&stdout)
            .unwrap_or_else(|e| panic!("bad JSON ({e}): {stdout}\n{stderr}"))["findings"]
            .as_array()
            .unwrap()
            .clone()
    } else {
        vec![]
    };
    let code = output.status.code().unwrap();
    assert_ne!(code, 2, "tool error: {stderr}");
    Run {
        code,
        stdout,
        findings,
    }
}

fn check(extra: &[(&str, &str)]) -> Run {
    let dir = project_plus(extra);
    dbkit(dir.path(), "json", &[])
}

#[test]
fn project_migrations_pass() {
    let run = dbkit(&repo_migrations(), "json", &["--base", "3"]);
    assert_eq!(run.findings, Vec::<Value>::new(), "{}", run.stdout);
    assert_eq!(run.code, 0);
}

#[test]
fn policy_using_true_on_appointments_is_a_tenant_leak() {
    let run = check(&[(
        "V7__open.sql",
        "-- a debugging shortcut that shipped\nALTER POLICY appointments_tenant ON appointments USING (true);\n",
    )]);
    assert_eq!(run.code, 1);
    let leaks = run.hits("tenant-leak");
    assert!(!leaks.is_empty(), "{}", run.stdout);
    for leak in &leaks {
        assert_eq!(leak["object"], "appointments");
        assert_eq!(leak["severity"], "error");
        assert!(leak["file"].as_str().unwrap().ends_with("V7__open.sql"));
        assert_eq!(leak["line"], 2);
        assert!(leak["message"]
            .as_str()
            .unwrap()
            .contains("policy appointments_tenant"));
    }
    assert!(leaks
        .iter()
        .any(|l| l["message"].as_str().unwrap().contains("SELECT read")));
    assert_eq!(run.objects("tenant-leak").len(), leaks.len());
}

#[test]
fn anon_reading_rows_is_a_leak() {
    let run = check(&[(
        "V7__anon.sql",
        "CREATE POLICY providers_public ON providers TO anon USING (true);\n",
    )]);
    // A policy without FOR applies to every command: anon's writes leak too (issue 10).
    let leaks = run.hits("tenant-leak");
    let messages: Vec<&str> = leaks
        .iter()
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    for op in ["anon SELECT", "anon INSERT", "anon UPDATE", "anon DELETE"] {
        assert!(
            messages.iter().any(|m| m.contains(op)),
            "{op}: {}",
            run.stdout
        );
    }
    assert!(
        messages.iter().all(|m| m.contains("providers_public")),
        "{}",
        run.stdout
    );
}

#[test]
fn auth_rls_initplan_judges_the_parsed_expression() {
    let run = check(&[(
        "V7__policies.sql",
        "CREATE TABLE t_unwrapped (id uuid PRIMARY KEY, org_id uuid NOT NULL);
CREATE TABLE t_wrapped_outer (id uuid PRIMARY KEY, org_id uuid NOT NULL);
CREATE TABLE t_wrapped_inner (id uuid PRIMARY KEY, org_id uuid NOT NULL);
CREATE TABLE t_mixed (id uuid PRIMARY KEY, org_id uuid NOT NULL, user_id uuid);
CREATE TABLE t_setting (id uuid PRIMARY KEY, org_id uuid NOT NULL);
CREATE TABLE t_setting_wrapped (id uuid PRIMARY KEY, org_id uuid NOT NULL);
ALTER TABLE t_unwrapped ENABLE ROW LEVEL SECURITY;
ALTER TABLE t_wrapped_outer ENABLE ROW LEVEL SECURITY;
ALTER TABLE t_wrapped_inner ENABLE ROW LEVEL SECURITY;
ALTER TABLE t_mixed ENABLE ROW LEVEL SECURITY;
ALTER TABLE t_setting ENABLE ROW LEVEL SECURITY;
ALTER TABLE t_setting_wrapped ENABLE ROW LEVEL SECURITY;
CREATE POLICY p ON t_unwrapped TO authenticated USING (org_id = (auth.jwt() ->> 'org_id')::uuid);
CREATE POLICY p ON t_wrapped_outer TO authenticated USING (org_id::text = (select auth.jwt()) ->> 'org_id');
CREATE POLICY p ON t_wrapped_inner TO authenticated USING (org_id = (select (auth.jwt() ->> 'org_id')::uuid));
CREATE POLICY p ON t_mixed TO authenticated
    USING (org_id = (select (auth.jwt() ->> 'org_id')::uuid) AND user_id = auth.uid());
CREATE POLICY p ON t_setting TO authenticated
    USING (org_id = current_setting('app.org_id', true)::uuid);
CREATE POLICY p ON t_setting_wrapped TO authenticated
    USING (org_id = (select current_setting('app.org_id', true)::uuid));
",
    )]);
    let mut flagged = run.objects("auth-rls-initplan");
    flagged.sort();
    assert_eq!(
        flagged,
        vec!["t_mixed.p", "t_setting.p", "t_unwrapped.p"],
        "{}",
        run.stdout
    );
    let mixed = run
        .hits("auth-rls-initplan")
        .into_iter()
        .find(|f| f["object"] == "t_mixed.p")
        .unwrap();
    assert!(mixed["message"].as_str().unwrap().contains("auth.uid()"));
    assert!(!mixed["message"].as_str().unwrap().contains("auth.jwt()"));
    assert_eq!(mixed["line"], 16);
    assert_eq!(mixed["severity"], "warning");
}

/// (rule, migration that triggers it, object expected)
fn triggers(rule: &str, file: &str, sql: &str, object: &str) {
    let run = check(&[(file, sql)]);
    let objects = run.objects(rule);
    assert!(
        objects.iter().any(|o| o == object),
        "{rule} should flag {object}: {}",
        run.stdout
    );
}

#[test]
fn rls_disabled_and_policy_exists_rls_disabled() {
    let run = check(&[(
        "V7__rls_off.sql",
        "CREATE TABLE reminders (id uuid PRIMARY KEY, org_id uuid NOT NULL REFERENCES orgs (id));
CREATE INDEX reminders_org_idx ON reminders (org_id);
ALTER TABLE contacts DISABLE ROW LEVEL SECURITY;
",
    )]);
    let mut off = run.objects("rls-disabled");
    off.sort();
    assert_eq!(off, vec!["contacts", "reminders"], "{}", run.stdout);
    assert_eq!(run.objects("policy-exists-rls-disabled"), vec!["contacts"]);
    let pe = &run.hits("policy-exists-rls-disabled")[0];
    assert!(pe["file"].as_str().unwrap().ends_with("V7__rls_off.sql") && pe["line"] == 3);
    // The proof sees the same hole from the tenant's side.
    assert!(run.objects("tenant-leak").contains(&"contacts".to_string()));
    assert_eq!(run.code, 1);
}

#[test]
fn rls_enabled_no_policy() {
    triggers(
        "rls-enabled-no-policy",
        "V7__audit.sql",
        "CREATE TABLE audit (id bigint PRIMARY KEY);\nALTER TABLE audit ENABLE ROW LEVEL SECURITY;\n",
        "audit",
    );
}

#[test]
fn policy_missing_role_and_multiple_permissive() {
    let run = check(&[(
        "V7__more_policies.sql",
        "CREATE POLICY appointments_read ON appointments FOR SELECT
    USING (org_id = (select (auth.jwt() ->> 'org_id')::uuid));
",
    )]);
    assert_eq!(
        run.objects("policy-missing-role"),
        vec!["appointments.appointments_read"],
        "{}",
        run.stdout
    );
    let multi = run.hits("multiple-permissive-policies");
    assert_eq!(multi.len(), 1, "{}", run.stdout);
    let message = multi[0]["message"].as_str().unwrap();
    assert!(
        message.contains("appointments_read, appointments_tenant") && message.contains("SELECT"),
        "{message}"
    );
}

/// A finding about several policies points at the newest one: the statement the PR adds.
#[test]
fn multiple_permissive_points_at_the_newest_policy() {
    let dir = project_plus(&[(
        "V7__open.sql",
        "-- a read-everything policy\nCREATE POLICY appointments_open ON appointments FOR SELECT USING (true);\n",
    )]);
    let run = dbkit(dir.path(), "json", &["--base", "6"]);
    let multi = run.hits("multiple-permissive-policies");
    assert_eq!(multi.len(), 1, "{}", run.stdout);
    assert_eq!(multi[0]["object"], "appointments.appointments_open");
    assert!(
        multi[0]["file"].as_str().unwrap().ends_with("V7__open.sql"),
        "{}",
        run.stdout
    );
    assert_eq!(multi[0]["line"], 2);
    // Named after V5's policy in alphabetical order, it is still the one blamed.
    let dir = project_plus(&[(
        "V7__open.sql",
        "CREATE POLICY zz_open ON appointments FOR SELECT USING (true);\n",
    )]);
    let run = dbkit(dir.path(), "json", &[]);
    let multi = run.hits("multiple-permissive-policies");
    assert_eq!(multi.len(), 1, "{}", run.stdout);
    assert_eq!(multi[0]["object"], "appointments.zz_open");
    assert!(multi[0]["file"].as_str().unwrap().ends_with("V7__open.sql"));
    assert_eq!(multi[0]["line"], 1);
}

/// One column, one finding: an unindexed tenant key that also leads a foreign key is
/// `tenant-key-not-indexed` (naming the key), not that plus `unindexed-foreign-key`.
#[test]
fn unindexed_foreign_key_and_tenant_key_not_indexed() {
    let run = check(&[(
        "V7__notes.sql",
        "CREATE TABLE notes (id uuid PRIMARY KEY, org_id uuid NOT NULL REFERENCES orgs (id),
    contact_id uuid REFERENCES contacts (id), body text);
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY notes_tenant ON notes TO authenticated
    USING (org_id = (select (auth.jwt() ->> 'org_id')::uuid));
",
    )]);
    assert_eq!(
        run.objects("unindexed-foreign-key"),
        vec!["notes.notes_contact_id_fkey"],
        "{}",
        run.stdout
    );
    assert_eq!(run.objects("tenant-key-not-indexed"), vec!["notes.org_id"]);
    let tenant = &run.hits("tenant-key-not-indexed")[0];
    let message = tenant["message"].as_str().unwrap();
    assert!(
        message.contains("foreign key notes_org_id_fkey has no index either")
            && message.contains("CREATE INDEX CONCURRENTLY ON notes (org_id) fixes both"),
        "{message}"
    );
    assert_eq!(tenant["line"], 4);
    // With the indexes, neither.
    let run = check(&[(
        "V7__notes.sql",
        "CREATE TABLE notes (id uuid PRIMARY KEY, org_id uuid NOT NULL REFERENCES orgs (id),
    contact_id uuid REFERENCES contacts (id), body text);
CREATE INDEX notes_org_idx ON notes (org_id);
CREATE INDEX notes_contact_idx ON notes (contact_id);
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY notes_tenant ON notes TO authenticated
    USING (org_id = (select (auth.jwt() ->> 'org_id')::uuid));
",
    )]);
    assert!(
        run.hits("unindexed-foreign-key").is_empty()
            && run.hits("tenant-key-not-indexed").is_empty(),
        "{}",
        run.stdout
    );
}

#[test]
fn duplicate_and_redundant_indexes() {
    let run = check(&[(
        "V7__indexes.sql",
        "-- dbkit:no-transaction
CREATE INDEX CONCURRENTLY appointments_org_time_copy_idx ON appointments (org_id, scheduled_at);
CREATE INDEX CONCURRENTLY appointments_org_idx ON appointments (org_id);
",
    )]);
    let dup = run.hits("duplicate-index");
    assert_eq!(dup.len(), 1, "{}", run.stdout);
    let message = dup[0]["message"].as_str().unwrap();
    assert!(
        message.contains("appointments_org_time_copy_idx")
            && message.contains("appointments_org_time_idx"),
        "{message}"
    );
    // The copy V7 adds is the one to drop, not V4's original.
    assert_eq!(dup[0]["object"], "appointments_org_time_copy_idx");
    assert!(message.ends_with("DROP INDEX CONCURRENTLY appointments_org_time_copy_idx"));
    assert!(dup[0]["file"]
        .as_str()
        .unwrap()
        .ends_with("V7__indexes.sql"));
    assert_eq!(dup[0]["line"], 2);
    assert_eq!(
        run.objects("redundant-index"),
        vec!["appointments_org_idx"],
        "{}",
        run.stdout
    );
    assert_eq!(run.code, 0, "warnings only");
}

#[test]
fn function_search_path_mutable() {
    let run = check(&[(
        "V7__functions.sql",
        "CREATE FUNCTION org_count() RETURNS bigint LANGUAGE sql SECURITY DEFINER AS $$ SELECT count(*) FROM orgs $$;
CREATE FUNCTION org_count_safe() RETURNS bigint LANGUAGE sql SECURITY DEFINER SET search_path = '' AS $$ SELECT count(*) FROM public.orgs $$;
",
    )]);
    assert_eq!(
        run.objects("function-search-path-mutable"),
        vec!["org_count()"],
        "{}",
        run.stdout
    );
    assert_eq!(run.hits("function-search-path-mutable")[0]["line"], 1);
}

#[test]
fn no_primary_key_and_inline_ignore() {
    triggers(
        "no-primary-key",
        "V7__log.sql",
        "CREATE TABLE log (msg text);\n",
        "log",
    );
    let run = check(&[(
        "V7__log.sql",
        "-- dbkit:ignore no-primary-key\nCREATE TABLE log (msg text);\n-- dbkit:ignore ban-drop-table\nCREATE TABLE log2 (id int PRIMARY KEY);\n",
    )]);
    assert!(run.hits("no-primary-key").is_empty(), "{}", run.stdout);
    let unused = run.hits("unused-ignore");
    assert_eq!(unused.len(), 1, "{}", run.stdout);
    assert_eq!(unused[0]["line"], 3);
}

#[test]
fn lint_findings_in_github_format() {
    let dir = project_plus(&[(
        "V7__risky.sql",
        "-- reminders\nCREATE INDEX appointments_status_idx ON appointments (status);\n\nALTER TABLE appointments\n    ADD CONSTRAINT appointments_contact_fk FOREIGN KEY (contact_id) REFERENCES contacts (id);\nALTER TABLE appointments DROP COLUMN notes;\n",
    )]);
    let run = dbkit(dir.path(), "github", &["--base", "6"]);
    assert_eq!(run.code, 1);
    let file = dir.path().join("V7__risky.sql").display().to_string();
    let lines: Vec<&str> = run.stdout.lines().collect();
    let expect = [
        format!("::error file={file},line=2,title=require-concurrent-index-creation::"),
        format!("::error file={file},line=4,title=constraint-missing-not-valid::"),
        format!("::error file={file},line=6,title=ban-drop-column::"),
    ];
    for e in &expect {
        assert!(
            lines.iter().any(|l| l.starts_with(e.as_str())),
            "missing {e} in\n{}",
            run.stdout
        );
    }
    assert!(
        run.stdout
            .lines()
            .last()
            .unwrap()
            .starts_with("dbkit check: 3 error(s)"),
        "{}",
        run.stdout
    );
}

#[test]
fn lint_rules_respect_base() {
    // V2..V6 are not linted with --base 6; V7 is.
    let run = check(&[("V7__drop.sql", "DROP TABLE org_settings;\n")]);
    assert_eq!(
        run.objects("ban-drop-table"),
        vec!["org_settings"],
        "{}",
        run.stdout
    );
    let dir = project_plus(&[("V7__drop.sql", "DROP TABLE org_settings;\n")]);
    let run = dbkit(dir.path(), "json", &["--base", "7", "--offline"]);
    assert!(run.hits("ban-drop-table").is_empty(), "{}", run.stdout);
}

#[test]
fn apply_failures_name_file_and_line() {
    let run = check(&[("V7__broken.sql", "CREATE TABLE ok (id int PRIMARY KEY);\n\nALTER TABLE appointments\n    ADD COLUMN x int REFERENCES nowhere (id);\n")]);
    let failed = run.hits("apply-failed");
    assert_eq!(failed.len(), 1, "{}", run.stdout);
    assert!(failed[0]["file"]
        .as_str()
        .unwrap()
        .ends_with("V7__broken.sql"));
    // PostgreSQL gives no position for a missing relation: the statement's first line.
    assert_eq!(failed[0]["line"], 3);
    assert!(failed[0]["message"]
        .as_str()
        .unwrap()
        .contains("\"nowhere\" does not exist"));
    assert_eq!(run.code, 1);
}

#[test]
fn upgrade_on_seeded_data_catches_what_an_empty_database_hides() {
    let dir = project_plus(&[(
        "V7__room.sql",
        "-- dbkit:ignore adding-not-nullable-field\nALTER TABLE appointments ADD COLUMN room text NOT NULL;\n",
    )]);
    let run = dbkit(dir.path(), "json", &["--base", "6"]);
    let failed = run.hits("apply-failed");
    assert_eq!(failed.len(), 1, "{}", run.stdout);
    let message = failed[0]["message"].as_str().unwrap();
    assert!(
        message.starts_with("upgrading seeded data from V6") && message.contains("room"),
        "{message}"
    );
    assert_eq!(failed[0]["line"], 2);
    // From an empty database the same file applies fine.
    let run = dbkit(dir.path(), "json", &[]);
    assert!(run.hits("apply-failed").is_empty(), "{}", run.stdout);
}

#[test]
fn file_checks() {
    let dir = project_plus(&[
        ("V7__add-index.sql", "SELECT 1;\n"),
        ("V6__again.sql", "SELECT 1;\n"),
        ("V9__gap.sql", "SELECT 1;\n"),
    ]);
    let run = dbkit(dir.path(), "json", &["--offline"]);
    assert_eq!(
        run.hits("invalid-migration-name").len(),
        1,
        "{}",
        run.stdout
    );
    assert_eq!(run.hits("duplicate-version").len(), 1);
    assert_eq!(run.hits("missing-version").len(), 1);
    assert_eq!(run.code, 1);
}

#[test]
fn edited_applied_migration_is_reported() {
    // A database whose history says V2 was applied with another checksum.
    let db = common::fresh_db();
    db.execute(
        "CREATE TABLE refinery_schema_history (version int4 PRIMARY KEY, name varchar(255), applied_on varchar(255), checksum varchar(255));
         INSERT INTO refinery_schema_history VALUES (2, 'booking_schema', '2026-01-01T00:00:00Z', '42');",
    );
    let url = db.url_string();
    let output = common::dbkit()
        .args([
            "--database-url",
            &url,
            "check",
            "--offline",
            "--format",
            "json",
            "--migrations",
        ])
        .arg(repo_migrations())
        .output()
        .unwrap();
    // --offline never touches a database.
    assert_eq!(output.status.code(), Some(0));
    let output = common::dbkit()
        .args([
            "--database-url",
            &url,
            "check",
            "--format",
            "json",
            "--migrations",
        ])
        .arg(repo_migrations())
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&output.stdout).unwrap();
    let findings = v["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{v}");
    assert_eq!(findings[0]["rule"], "applied-migration-edited");
    assert!(findings[0]["file"]
        .as_str()
        .unwrap()
        .ends_with("V2__booking_schema.sql"));
    assert_eq!(output.status.code(), Some(1));
}

#[test]
fn tool_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let output = common::dbkit_in(dir.path())
        .args(["check", "--offline", "--migrations", "nope"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.starts_with("error: cannot read the migrations directory nope"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: "), "{stderr}");
}

/// `--keep` leaves both lab databases on the server and names them on stderr only.
#[test]
fn keep_names_the_lab_databases_on_stderr() {
    let db = common::fresh_db();
    let output = common::dbkit()
        .args(["--database-url", &db.url_string(), "check", "--keep"])
        .args(["--base", "6", "--format", "json", "--migrations"])
        .arg(repo_migrations())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let stderr = String::from_utf8(output.stderr).unwrap();
    let kept: Vec<&str> = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("kept scratch database "))
        .map(|rest| rest.split(':').next().unwrap())
        .collect();
    assert_eq!(kept.len(), 2, "{stderr}");
    let v: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(v["ran"]["kept"].as_array().unwrap().len(), 2, "{v}");
    for name in kept {
        let rows = db.query(&format!(
            "SELECT count(*) FROM pg_database WHERE datname = '{name}'"
        ));
        assert_eq!(rows[0].get::<_, i64>(0), 1, "{name} is kept");
        db.execute(&format!("DROP DATABASE {name}"));
    }
}

/// Issue 21: the gate applies what the Supabase CLI applies. A whole-file `BEGIN; …
/// COMMIT;` and a file of several blocks (an enum value committed, then used) are no
/// `transaction-nesting` error and apply; the file of blocks is one
/// `transaction-blocks` warning; the catalog rules then judge the result (the
/// wrapped file's table without a primary key is found).
#[test]
fn transaction_wrappers_are_applied_and_checked() {
    let run = check(&[
        (
            "V7__wrapped.sql",
            "BEGIN;\n\nCREATE TABLE import_log (body text);\n\nCOMMIT;\n",
        ),
        (
            "V8__note_kinds.sql",
            "BEGIN;\nCREATE TYPE note_kind AS ENUM ('plain');\nCOMMIT;\n\nBEGIN;\nALTER TYPE note_kind ADD VALUE 'pinned';\nCOMMIT;\n\n\
             BEGIN;\nALTER TABLE import_log ADD COLUMN kind note_kind NOT NULL DEFAULT 'pinned';\nCOMMIT;\n",
        ),
    ]);
    assert_eq!(run.hits("transaction-nesting").len(), 0, "{}", run.stdout);
    assert_eq!(run.hits("apply-failed").len(), 0, "{}", run.stdout);
    let blocks = run.hits("transaction-blocks");
    assert_eq!(blocks.len(), 1, "{}", run.stdout);
    assert!(blocks[0]["file"]
        .as_str()
        .unwrap()
        .ends_with("V8__note_kinds.sql"));
    assert_eq!(blocks[0]["line"], 5);
    assert_eq!(blocks[0]["severity"], "warning");
    assert_eq!(
        run.objects("no-primary-key"),
        vec!["import_log".to_string()]
    );
}

/// Fail closed: a migration that cannot be applied means no catalog rule and no
/// isolation proof ran — the first line of the output says so, in every format, and
/// the exit code is 1.
#[test]
fn a_check_that_could_not_apply_says_so_first() {
    let dir = project_plus(&[(
        "V7__broken.sql",
        "CREATE TABLE ok (id int PRIMARY KEY);\nSELEC 1;\n",
    )]);
    let json = dbkit(dir.path(), "json", &[]);
    assert_eq!(json.code, 1);
    let report: Value = serde_json::from_str(&json.stdout).unwrap();
    let reason = report["incomplete"].as_str().unwrap_or_default();
    assert!(
        reason.ends_with("V7__broken.sql:2 could not be applied"),
        "{}",
        json.stdout
    );
    let table = dbkit(dir.path(), "table", &[]);
    assert_eq!(table.code, 1);
    let first = table.stdout.lines().next().unwrap_or_default();
    assert!(
        first.starts_with("dbkit check INCOMPLETE: the catalog rules and the tenant-isolation proof did not run (")
            && first.contains("V7__broken.sql:2 could not be applied"),
        "{}",
        table.stdout
    );
    let github = dbkit(dir.path(), "github", &[]);
    assert!(
        github
            .stdout
            .starts_with("::error title=dbkit check incomplete::dbkit check INCOMPLETE"),
        "{}",
        github.stdout
    );
}
