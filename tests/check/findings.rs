//! `dbkit check`'s findings as Supabase projects need them: PostgreSQL's grammar is the
//! lints' parser (nothing unlinted), `--base` reports what the new migrations introduce, objects
//! in every schema have a file:line, one finding per policy and per column.

use serde_json::Value;

use super::{check, common, dbkit, project_plus, server};

/// A policy with two unwrapped clauses is one `auth-rls-initplan`, listing both.
#[test]
fn one_auth_rls_initplan_per_policy() {
    let run = check(&[(
        "V7__own_notes.sql",
        "CREATE TABLE own_notes (id uuid PRIMARY KEY, org_id uuid NOT NULL, user_id uuid);
CREATE INDEX own_notes_org_idx ON own_notes (org_id);
ALTER TABLE own_notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY own_notes_mine ON own_notes TO authenticated
    USING (org_id = (auth.jwt() ->> 'org_id')::uuid)
    WITH CHECK (user_id = auth.uid());
",
    )]);
    let hits = run.hits("auth-rls-initplan");
    assert_eq!(hits.len(), 1, "{}", run.stdout);
    let message = hits[0]["message"].as_str().unwrap();
    assert!(
        message.contains("USING calls auth.jwt(); WITH CHECK calls auth.uid() once per row"),
        "{message}"
    );
    assert_eq!(hits[0]["object"], "own_notes.own_notes_mine");
    assert_eq!(hits[0]["line"], 4);
}

/// PostgreSQL's grammar is the lints' parser: the statements sqlparser could not read
/// (COMMENT ON POLICY, publications, REINDEX, CLUSTER, ...) are linted like the rest,
/// so nothing goes unlinted; a statement PostgreSQL rejects is a `parse-error`.
#[test]
fn postgres_is_the_parser_of_record() {
    let v7 = "COMMENT ON POLICY appointments_tenant ON appointments IS 'members see their org';
CREATE PUBLICATION dbkit_test_realtime;
ALTER PUBLICATION dbkit_test_realtime ADD TABLE appointments;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO service_role;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO service_role;
DO $$ BEGIN PERFORM 1; END $$;
DROP PUBLICATION dbkit_test_realtime;
REINDEX TABLE appointments;
CLUSTER appointments USING appointments_pkey;
DROP TABLE org_settings;
";
    let dir = project_plus(&[("V7__platform.sql", v7)]);
    let output = common::dbkit_in(dir.path())
        .args(["--database-url", &server(), "check", "--migrations"])
        .arg(dir.path())
        .args(["--format", "json", "--base", "6"])
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&output.stdout).unwrap();
    let findings = v["findings"].as_array().unwrap();
    let found: Vec<(&str, u64)> = findings
        .iter()
        .map(|f| (f["rule"].as_str().unwrap(), f["line"].as_u64().unwrap()))
        .collect();
    assert_eq!(
        found,
        vec![
            ("require-concurrent-reindex", 8),
            ("prefer-repack", 9),
            ("ban-drop-table", 10)
        ],
        "{v}"
    );
    assert_eq!(v["ran"]["not_linted"], serde_json::json!([]), "{v}");

    // A statement PostgreSQL's grammar rejects: an error finding, offline too.
    let dir = project_plus(&[("V7__typo.sql", "CREATE TABLE rooms (\n  id uuid,\n);\n")]);
    let run = dbkit(dir.path(), "json", &["--base", "6", "--offline"]);
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["findings"][0]["rule"], "parse-error", "{v}");
    assert_eq!(v["findings"][0]["severity"], "error", "{v}");
    assert_eq!(v["findings"][0]["line"], 1, "{v}");
    assert!(
        v["findings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("syntax error at or near \")\""),
        "{v}"
    );
    let table = dbkit(
        dir.path(),
        "table",
        &["--base", "6", "--offline", "--verbose"],
    );
    assert!(
        table
            .stdout
            .contains("1 statement not linted (PostgreSQL's grammar rejects it):"),
        "{}",
        table.stdout
    );
}

/// `--base V`: the catalog findings the base already had are counted in one line, not
/// reported; `--all` shows them too.
#[test]
fn base_reports_only_the_catalog_findings_the_new_migrations_introduce() {
    // Not reachable by the API roles, so only no-primary-key judges them (issue 10:
    // a reachable table without RLS would be rls-disabled and isolation-untested too).
    let dir = project_plus(&[
        (
            "V7__old_log.sql",
            "CREATE TABLE old_log (msg text);\nREVOKE ALL ON old_log FROM anon, authenticated;\n",
        ),
        (
            "V8__new_log.sql",
            "CREATE TABLE new_log (msg text);\nREVOKE ALL ON new_log FROM anon, authenticated;\n",
        ),
    ]);
    let run = dbkit(dir.path(), "json", &["--base", "7"]);
    assert_eq!(
        run.objects("no-primary-key"),
        vec!["new_log"],
        "{}",
        run.stdout
    );
    let v: Value = serde_json::from_str(&run.stdout).unwrap();
    let present = v["ran"]["present_at_base"].as_array().unwrap();
    assert_eq!(present.len(), 1, "{}", run.stdout);
    assert_eq!(present[0]["object"], "old_log");
    let table = dbkit(dir.path(), "table", &["--base", "7"]);
    assert!(
        table
            .stdout
            .contains("1 finding already present at V7 — --all shows it"),
        "{}",
        table.stdout
    );
    assert!(!table.stdout.contains("old_log"), "{}", table.stdout);
    let mut all = dbkit(dir.path(), "json", &["--base", "7", "--all"]).objects("no-primary-key");
    all.sort();
    assert_eq!(all, vec!["new_log", "old_log"]);
    // Without --base nothing is narrowed.
    assert_eq!(
        check(&[(
            "V7__old_log.sql",
            "CREATE TABLE old_log (msg text);\nREVOKE ALL ON old_log FROM anon, authenticated;\n"
        )])
        .objects("no-primary-key"),
        vec!["old_log"]
    );
}

/// A catalog finding in a non-public schema has its file:line, so an inline ignore
/// silences it (and is not reported unused).
#[test]
fn ignore_works_on_a_policy_in_another_schema() {
    let v7 = |ignore: &str| {
        format!(
            "CREATE SCHEMA app;
CREATE TABLE app.notes (id uuid PRIMARY KEY, org_id uuid NOT NULL REFERENCES orgs (id));
CREATE INDEX notes_org_idx ON app.notes (org_id);
ALTER TABLE app.notes ENABLE ROW LEVEL SECURITY;
{ignore}CREATE POLICY notes_tenant ON app.notes
    USING (org_id = (select (auth.jwt() ->> 'org_id')::uuid));
"
        )
    };
    let run = check(&[("V7__app.sql", &v7(""))]);
    let missing = run.hits("policy-missing-role");
    assert_eq!(missing.len(), 1, "{}", run.stdout);
    assert_eq!(missing[0]["object"], "app.notes.notes_tenant");
    assert!(missing[0]["file"]
        .as_str()
        .unwrap()
        .ends_with("V7__app.sql"));
    assert_eq!(missing[0]["line"], 5);

    let run = check(&[("V7__app.sql", &v7("-- dbkit:ignore policy-missing-role\n"))]);
    assert!(run.hits("policy-missing-role").is_empty(), "{}", run.stdout);
    assert!(run.hits("unused-ignore").is_empty(), "{}", run.stdout);
}
