//! `dbkit review` through the real binary on real PostgreSQL: a pull request adding a
//! table whose policy leaks every tenant's rows and a blocking index on an existing
//! table. Every section is measured for real (lints, the isolation proof, the
//! rehearsal under traffic at one org, the plans on the small seed profile).

mod common;

use std::time::Duration;

use common::{dbkit_in, fresh_db, repo_migrations};

const V7: &str = "CREATE TABLE notes (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id uuid NOT NULL REFERENCES orgs (id),
    body text NOT NULL
);
CREATE INDEX notes_org_id_idx ON notes (org_id);
ALTER TABLE notes ENABLE ROW LEVEL SECURITY;
CREATE POLICY notes_read ON notes FOR SELECT TO authenticated USING (true);
GRANT SELECT ON notes TO authenticated;

CREATE INDEX appointments_status_idx ON appointments (status);
";

#[test]
fn a_leaking_policy_and_a_blocking_index_fail_the_verdict_with_every_section() {
    let db = fresh_db();
    let dir = tempfile::tempdir().unwrap();
    let migrations = dir.path().join("migrations");
    std::fs::create_dir(&migrations).unwrap();
    for entry in std::fs::read_dir(repo_migrations()).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, migrations.join(path.file_name().unwrap())).unwrap();
    }
    std::fs::write(migrations.join("V7__notes.sql"), V7).unwrap();
    let profile =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seed_small.yaml");
    let out = dbkit_in(dir.path())
        .args(["review", "--base", "6", "--orgs", "1", "--clients", "2"])
        .args(["--format", "markdown", "--database-url", &db.url_string()])
        .args(["--migrations", "migrations"])
        .args(["--profile", profile.to_str().unwrap()])
        .timeout(Duration::from_secs(600))
        .assert()
        .code(1)
        .get_output()
        .clone();
    let md = String::from_utf8(out.stdout).unwrap();
    let context = format!("{md}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(md.chars().count() <= 65_536, "{}", md.chars().count());
    let verdict = md.lines().nth(1).unwrap_or_default();
    assert!(verdict.starts_with("## dbkit review: ❌ fail"), "{context}");
    for rule in ["tenant-leak", "require-concurrent-index-creation"] {
        assert!(
            verdict.contains(rule),
            "{rule} not in the verdict: {context}"
        );
    }
    let mut at = 0;
    for part in [
        "### Findings",
        "`migrations/V7__notes.sql:11`",
        "### Tenant isolation",
        "- `notes`: SELECT as authenticated",
        "### Migrations under traffic",
        "| V7__notes |",
        "### Query plans before → after",
        "read fewer buffers",
    ] {
        match md[at..].find(part) {
            Some(found) => at += found,
            None => panic!("{part:?} missing or out of order in:\n{context}"),
        }
    }
}
