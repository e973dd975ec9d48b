//! Supabase-layout projects (`supabase/migrations/<YYYYMMDDHHMMSS>_<name>.sql`): read in
//! timestamp order, recorded in `supabase_migrations.schema_migrations` as the Supabase
//! CLI does, divergence still caught, two disagreeing histories refused, `dbkit new`
//! writing the next timestamp, and the one line about the built-in schema. Through the
//! real binary against a real PostgreSQL.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{dbkit_in, fresh_db, work_dir, TestDb};
use serde_json::Value;

const FIRST: i64 = 20_240_115_093_000;
const SECOND: i64 = 20_240_202_141_500;
const THIRD: i64 = 20_240_310_080_000;

/// A work directory holding a copy of the fixture project (its `supabase/` tree).
fn project() -> PathBuf {
    let dir = work_dir();
    let from = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/supabase_basic");
    common::copy_tree(&from, &dir);
    dir
}

fn migrations_of(project: &Path) -> PathBuf {
    project.join("supabase/migrations")
}

fn run(dir: &Path, db: &TestDb, args: &[&str]) -> std::process::Output {
    dbkit_in(dir)
        .args(args)
        .args(["--database-url", &db.url_string()])
        .timeout(Duration::from_secs(120))
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn status(dir: &Path, db: &TestDb, code: i32) -> Vec<(i64, String)> {
    let out = run(dir, db, &["migrate", "status", "--format", "json"]);
    assert_eq!(out.status.code(), Some(code), "{}", text(&out.stderr));
    let rows: Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["version"].as_i64().unwrap(),
                r["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn supabase_history(db: &TestDb) -> Vec<(String, String, i64)> {
    db.query(
        "SELECT version, name, coalesce(cardinality(statements), 0)::int8 \
         FROM supabase_migrations.schema_migrations ORDER BY version",
    )
    .iter()
    .map(|r| (r.get(0), r.get(1), r.get(2)))
    .collect()
}

#[test]
fn a_supabase_project_migrates_into_supabase_history() {
    let dir = project();
    let db = fresh_db();
    let out = run(&dir, &db, &["migrate", "--format", "json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !text(&out.stderr).contains("built-in"),
        "a Supabase project is not the built-in schema: {}",
        text(&out.stderr)
    );
    let applied: Value = serde_json::from_slice(&out.stdout).unwrap();
    let versions: Vec<i64> = applied["applied"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, [FIRST, SECOND, THIRD], "in timestamp order");
    assert_eq!(applied["version"], THIRD);

    let applied_state = |v: i64| (v, "applied".to_string());
    assert_eq!(
        status(&dir, &db, 0),
        [
            applied_state(FIRST),
            applied_state(SECOND),
            applied_state(THIRD)
        ]
    );
    // As the Supabase CLI records them: the 14 digits as text, the name, the statements.
    assert_eq!(
        supabase_history(&db),
        [
            (
                "20240115093000".to_string(),
                "create_clinics".to_string(),
                2
            ),
            ("20240202141500".to_string(), "visits".to_string(), 3),
            ("20240310080000".to_string(), "index_visits".to_string(), 1),
        ]
    );
    // The schema is there, and refinery's table is not: one history per project.
    let tables: i64 = db.query(
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename IN ('clinics', 'rooms', 'visits')",
    )[0]
    .get(0);
    assert_eq!(tables, 3);
    let refinery: bool =
        db.query("SELECT to_regclass('refinery_schema_history') IS NULL")[0].get(0);
    assert!(refinery, "no refinery_schema_history in a Supabase project");
    let checksums: i64 =
        db.query("SELECT count(*) FROM supabase_migrations.dbkit_checksums")[0].get(0);
    assert_eq!(checksums, 3);

    // Again: nothing to do, said with the timestamp.
    let out = run(&dir, &db, &["migrate"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "nothing to do: database is at 20240310080000\n"
    );
}

#[test]
fn target_takes_a_timestamp_and_explicit_migrations_dir_is_read_as_supabase() {
    let dir = project();
    let db = fresh_db();
    // From another directory, pointing --migrations at the project's.
    let elsewhere = work_dir();
    let migrations = migrations_of(&dir);
    let out = run(
        &elsewhere,
        &db,
        &[
            "migrate",
            "--migrations",
            migrations.to_str().unwrap(),
            "--target",
            "20240202141500",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        status(&dir, &db, 0),
        [
            (FIRST, "applied".to_string()),
            (SECOND, "applied".to_string()),
            (THIRD, "pending".to_string())
        ]
    );
}

#[test]
fn an_edited_applied_supabase_migration_is_divergent() {
    let dir = project();
    let db = fresh_db();
    assert!(run(&dir, &db, &["migrate"]).status.success());
    let file = migrations_of(&dir).join("20240202141500_visits.sql");
    let mut sql = std::fs::read_to_string(&file).unwrap();
    sql.push_str("\n-- an edit after the fact\n");
    std::fs::write(&file, sql).unwrap();
    let rows = status(&dir, &db, 1);
    assert_eq!(rows[1], (SECOND, "divergent".to_string()));
    let out = run(&dir, &db, &["migrate"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("divergent") && stderr.contains("20240202141500_visits.sql"),
        "{stderr}"
    );
    // A deleted one is missing, named as the Supabase file it was.
    std::fs::write(
        &file,
        std::fs::read_to_string(&file)
            .unwrap()
            .replace("\n-- an edit after the fact\n", ""),
    )
    .unwrap();
    assert_eq!(status(&dir, &db, 0)[1].1, "applied");
    std::fs::remove_file(migrations_of(&dir).join("20240310080000_index_visits.sql")).unwrap();
    let out = run(&dir, &db, &["migrate"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("20240310080000_index_visits.sql"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn rows_the_supabase_cli_wrote_count_as_applied_by_name() {
    let dir = project();
    let db = fresh_db();
    // What `supabase db push` leaves: its table, no dbkit checksums.
    db.execute(
        "CREATE SCHEMA supabase_migrations;
         CREATE TABLE supabase_migrations.schema_migrations (version text PRIMARY KEY, statements text[], name text);
         INSERT INTO supabase_migrations.schema_migrations VALUES ('20240115093000', '{}', 'create_clinics');",
    );
    assert_eq!(
        status(&dir, &db, 0),
        [
            (FIRST, "applied".to_string()),
            (SECOND, "pending".to_string()),
            (THIRD, "pending".to_string())
        ]
    );
    // Recorded under another name: divergent, not silently accepted.
    db.execute("UPDATE supabase_migrations.schema_migrations SET name = 'clinics_v0'");
    assert_eq!(status(&dir, &db, 1)[0].1, "divergent");
}

#[test]
fn two_histories_that_disagree_are_refused_naming_both() {
    let dir = project();
    let db = fresh_db();
    // The built-in schema first (refinery's history, V1–V6), from an empty directory…
    let empty = work_dir();
    assert!(run(&empty, &db, &["migrate"]).status.success());
    // …and a Supabase history recording something else.
    db.execute(
        "CREATE SCHEMA supabase_migrations;
         CREATE TABLE supabase_migrations.schema_migrations (version text PRIMARY KEY, statements text[], name text);
         INSERT INTO supabase_migrations.schema_migrations VALUES ('20240115093000', '{}', 'create_clinics');",
    );
    for (cwd, what) in [(&dir, "supabase project"), (&empty, "built-in schema")] {
        for args in [&["migrate"][..], &["migrate", "status"]] {
            let out = run(cwd, &db, args);
            assert_eq!(out.status.code(), Some(2), "{what} {args:?}");
            let stderr = text(&out.stderr);
            assert!(
                stderr.contains("refinery_schema_history")
                    && stderr.contains("supabase_migrations.schema_migrations")
                    && stderr.contains("disagree"),
                "{what} {args:?}: {stderr}"
            );
            assert!(stderr.contains("hint: "), "{stderr}");
        }
    }
    // Nothing ran: the Supabase tables were not created.
    let clinics: bool = db.query("SELECT to_regclass('public.clinics') IS NULL")[0].get(0);
    assert!(clinics);
}

#[test]
fn a_malformed_name_in_a_supabase_project_is_refused_by_name() {
    for bad in [
        "2024031008000_short.sql",
        "20240310080000-dash.sql",
        "V4__dbkit_style.sql",
    ] {
        let dir = project();
        let db = fresh_db();
        std::fs::write(migrations_of(&dir).join(bad), "SELECT 1;").unwrap();
        let out = run(&dir, &db, &["migrate"]);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        let stderr = text(&out.stderr);
        assert!(stderr.contains(bad), "{bad}: {stderr}");
        assert!(stderr.contains("hint: "), "{stderr}");
        let nothing: bool = db.query("SELECT to_regclass('public.clinics') IS NULL")[0].get(0);
        assert!(nothing, "{bad}: nothing runs");
    }
}

#[test]
fn new_writes_the_next_timestamp_in_a_supabase_project() {
    let dir = project();
    let out = dbkit_in(&dir)
        .args(["new", "add_notes", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    let version = created["version"].as_i64().unwrap();
    assert!(version > THIRD, "{created}");
    assert_eq!(created["layout"], "supabase");
    let path = PathBuf::from(created["path"].as_str().unwrap());
    let name = path.file_name().unwrap().to_str().unwrap().to_string();
    assert_eq!(name, format!("{version}_add_notes.sql"));
    assert!(dir.join(&path).is_file(), "{}", path.display());
    // A last file later than now (clock skew, a hand-made name): still one after it.
    std::fs::write(
        migrations_of(&dir).join("29991231235900_later.sql"),
        "SELECT 1;",
    )
    .unwrap();
    let out = dbkit_in(&dir)
        .args(["new", "after_that", "--format", "json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(created["version"], 29_991_231_235_901i64);
    // The new files are part of the project.
    let db = fresh_db();
    let rows = status(&dir, &db, 0);
    assert_eq!(rows.len(), 6);
    assert!(rows.iter().all(|(_, state)| state == "pending"), "{rows:?}");
}

#[test]
fn the_built_in_schema_is_announced_once_by_every_command() {
    let db = fresh_db();
    let empty = work_dir();
    let notice = "using dbkit's built-in booking schema";
    for args in [
        &["migrate"][..],
        &["migrate", "status"],
        &["check", "--offline"],
    ] {
        let out = run(&empty, &db, args);
        assert!(
            out.status.code().is_some_and(|c| c < 2),
            "{args:?}: {}",
            text(&out.stderr)
        );
        let stderr = text(&out.stderr);
        assert_eq!(
            stderr.lines().filter(|l| l.contains(notice)).count(),
            1,
            "{args:?}: {stderr}"
        );
    }
    // A project with its own migrations hears nothing of it.
    let dir = project();
    let out = run(&dir, &db, &["check", "--offline"]);
    assert!(!text(&out.stderr).contains(notice), "{}", text(&out.stderr));
}
