//! `dbkit migrate`, `migrate status` and `new`, driven through the real binary against
//! a real PostgreSQL (a fresh database per test).

mod common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{dbkit, fresh_db, repo_migrations, TestDb};
use predicates::prelude::*;
use serde_json::Value;

fn migrate(db: &TestDb, extra: &[&str]) -> assert_cmd::assert::Assert {
    dbkit()
        .args(["migrate", "--database-url", &db.url_string()])
        .args(extra)
        .timeout(Duration::from_secs(120))
        .assert()
}

fn status_json(db: &TestDb, dir: Option<&Path>) -> Vec<Value> {
    status_json_exit(db, dir, 0)
}

/// `migrate status --format json`, expecting exit `code` (1 when a row is divergent or missing).
fn status_json_exit(db: &TestDb, dir: Option<&Path>, code: i32) -> Vec<Value> {
    let mut cmd = dbkit();
    cmd.args([
        "migrate",
        "status",
        "--format",
        "json",
        "--database-url",
        &db.url_string(),
    ]);
    if let Some(dir) = dir {
        cmd.arg("--migrations").arg(dir);
    }
    let out = cmd.assert().code(code).get_output().stdout.clone();
    serde_json::from_slice::<Value>(&out)
        .expect("status JSON")
        .as_array()
        .expect("array")
        .clone()
}

fn states(rows: &[Value]) -> Vec<(i64, String)> {
    rows.iter()
        .map(|r| {
            (
                r["version"].as_i64().unwrap(),
                r["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn expect_states(rows: &[Value], want: &[(i64, &str)]) {
    let want: Vec<(i64, String)> = want.iter().map(|(v, s)| (*v, s.to_string())).collect();
    assert_eq!(states(rows), want);
}

/// A temp directory holding copies of the repository's V1–V6.
fn copied_migrations() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("migrations");
    std::fs::create_dir(&dir).unwrap();
    for entry in std::fs::read_dir(repo_migrations()).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
    }
    (tmp, dir)
}

fn count(db: &TestDb, sql: &str) -> i64 {
    db.query(sql)[0].get(0)
}

fn history_counts(db: &TestDb) -> Vec<(i32, i64)> {
    db.query(
        "SELECT version, count(*) FROM refinery_schema_history GROUP BY version ORDER BY version",
    )
    .iter()
    .map(|r| (r.get(0), r.get(1)))
    .collect()
}

const INVALID_INDEXES: &str = "SELECT count(*) FROM pg_index WHERE NOT indisvalid";

#[test]
fn fresh_database_gets_v1_to_v6_once() {
    let db = fresh_db();
    // No --migrations and no ./migrations in the working dir: the embedded set.
    let out = migrate(&db, &[]).success().get_output().stdout.clone();
    let out = String::from_utf8(out).unwrap();
    for name in [
        "supabase_compat",
        "booking_schema",
        "tenant_rls",
        "appointment_indexes",
        "rls_initplan",
        "no_double_booking",
    ] {
        assert!(out.contains(name), "{out}");
    }
    assert!(out.contains("no-transaction"), "{out}");
    assert_eq!(count(&db, INVALID_INDEXES), 0);
    assert_eq!(
        count(&db, "SELECT count(*) FROM pg_indexes WHERE indexname = 'appointments_org_provider_time_idx'"),
        1
    );

    migrate(&db, &[])
        .success()
        .stdout(predicate::str::contains("nothing to do: database is at V6"));
    assert_eq!(
        history_counts(&db),
        (1..=6).map(|v| (v, 1)).collect::<Vec<_>>()
    );

    let rows = status_json(&db, None);
    expect_states(
        &rows,
        &[
            (1, "applied"),
            (2, "applied"),
            (3, "applied"),
            (4, "applied"),
            (5, "applied"),
            (6, "applied"),
        ],
    );
    assert_eq!(rows[0]["name"], "supabase_compat");
    let applied_on = rows[0]["applied_on"].as_str().unwrap();
    assert!(
        applied_on.starts_with("20") && applied_on.ends_with('Z'),
        "{applied_on}"
    );
    assert_eq!(rows[0].as_object().unwrap().len(), 4, "{:?}", rows[0]);

    // The same history, read by refinery itself: applied, and nothing left to run.
    let url = db.url_string();
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async move {
            let (mut client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(conn);
            let migrations = refinery::load_sql_migrations(repo_migrations()).unwrap();
            let runner = refinery::Runner::new(&migrations);
            let applied = runner
                .get_applied_migrations_async(&mut client)
                .await
                .unwrap();
            assert_eq!(applied.len(), 6);
            let report = runner
                .run_async(&mut client)
                .await
                .expect("refinery agrees");
            assert!(report.applied_migrations().is_empty());
        });
}

#[test]
fn explicit_directory_and_table_and_markdown_output() {
    let db = fresh_db();
    migrate(
        &db,
        &[
            "--migrations",
            repo_migrations().to_str().unwrap(),
            "--format",
            "markdown",
        ],
    )
    .success()
    .stdout(predicate::str::contains(
        "| 6 | no_double_booking | transactional |",
    ));
    dbkit()
        .args(["migrate", "status", "--database-url", &db.url_string()])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("appointment_indexes")
                .and(predicate::str::contains("applied")),
        );
}

#[test]
fn two_concurrent_runs_apply_each_version_once() {
    let db = fresh_db();
    let spawn = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_dbkit"))
            .args(["migrate", "--database-url", &db.url_string()])
            .env_remove("DATABASE_URL")
            .env("NO_COLOR", "1")
            .current_dir(tempfile::tempdir().unwrap().keep())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let a = spawn();
    let b = spawn();
    let outputs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
    for out in &outputs {
        assert!(
            out.status.success(),
            "stdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let idle = outputs
        .iter()
        .filter(|o| String::from_utf8_lossy(&o.stdout).contains("nothing to do: database is at V6"))
        .count();
    assert_eq!(
        idle, 1,
        "exactly one run applies, the other finds nothing to do"
    );
    assert_eq!(
        history_counts(&db),
        (1..=6).map(|v| (v, 1)).collect::<Vec<_>>()
    );
    assert_eq!(count(&db, INVALID_INDEXES), 0);
}

/// A session of the test's own holding dbkit's migration lock on `url`'s database
/// (with the runtime that drives its connection).
fn hold_migration_lock(url: &str) -> (tokio::runtime::Runtime, tokio_postgres::Client) {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let client = rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
            .execute(
                "SELECT pg_advisory_lock($1)",
                &[&dbkit::migrate::apply::MIGRATE_LOCK_KEY],
            )
            .await
            .unwrap();
        client
    });
    (rt, client)
}

/// A waiting run polls instead of blocking in a statement: the lock holder can build
/// an index CONCURRENTLY meanwhile (which waits for every older snapshot).
#[test]
fn waiting_run_reports_the_wait_and_does_not_block_concurrent_index_builds() {
    let db = fresh_db();
    db.execute("CREATE TABLE probe (id int); INSERT INTO probe SELECT generate_series(1, 100);");
    let url = db.url_string();
    let (rt, holder) = hold_migration_lock(&url);
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_dbkit"))
        .args(["migrate", "--database-url", &url])
        .env_remove("DATABASE_URL")
        .current_dir(tempfile::tempdir().unwrap().keep())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    rt.block_on(async {
        holder
            .batch_execute("SET statement_timeout = '20s'")
            .await
            .unwrap();
        let started = Instant::now();
        holder
            .batch_execute("CREATE INDEX CONCURRENTLY probe_id_idx ON probe (id)")
            .await
            .expect("CREATE INDEX CONCURRENTLY must not wait for the waiting migrate");
        assert!(started.elapsed() < Duration::from_secs(10));
        holder
            .execute(
                "SELECT pg_advisory_unlock($1)",
                &[&dbkit::migrate::apply::MIGRATE_LOCK_KEY],
            )
            .await
            .unwrap();
    });
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("waiting for another dbkit migrate (pid "),
        "{stderr}"
    );
    assert_eq!(history_counts(&db).len(), 6);
}

/// A run that cannot get the migration lock within --lock-wait gives up: exit 2,
/// naming the holder, nothing applied.
#[test]
fn lock_wait_is_bounded() {
    let db = fresh_db();
    let url = db.url_string();
    let (_rt, _holder) = hold_migration_lock(&url);
    let started = Instant::now();
    migrate(&db, &["--lock-wait", "1s"])
        .code(2)
        .stderr(predicate::str::contains(
            "error: another dbkit migrate (pid ",
        ))
        .stderr(predicate::str::contains(
            "still holds the migration lock on this database after 1s of waiting",
        ))
        .stderr(predicate::str::contains("--lock-wait"));
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM pg_class WHERE relname = 'refinery_schema_history'"
        ),
        0
    );
}

#[test]
fn failing_migration_names_file_and_line_and_leaves_previous_version() {
    let db = fresh_db();
    let (_tmp, dir) = copied_migrations();
    let v7 = dir.join("V7__broken.sql");
    std::fs::write(
        &v7,
        "-- V7: broken on purpose\nCREATE TABLE v7_marker (id int);\nINSERT INTO v7_marker\nVALUES (1),\n       (2 2);\n",
    )
    .unwrap();
    let dir_arg = dir.to_str().unwrap();
    let assert = migrate(&db, &["--migrations", dir_arg]).code(2);
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(
        stderr.contains(
            "V7__broken.sql:5: syntax error at or near \"2\" (SQLSTATE 42601); database left at V6"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("hint: "), "{stderr}");
    // V1–V6 were applied by this same run and are reported.
    let stdout = String::from_utf8_lossy(&assert.get_output().stdout).to_string();
    assert!(stdout.contains("no_double_booking"), "{stdout}");
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM pg_class WHERE relname = 'v7_marker'"
        ),
        0
    );
    let rows = status_json(&db, Some(&dir));
    expect_states(
        &rows,
        &[
            (1, "applied"),
            (2, "applied"),
            (3, "applied"),
            (4, "applied"),
            (5, "applied"),
            (6, "applied"),
            (7, "pending"),
        ],
    );

    // An error PostgreSQL gives no position for (raised while executing) still gets
    // its statement's line.
    std::fs::write(
        &v7,
        "CREATE TABLE v7_marker (id int PRIMARY KEY);\nINSERT INTO v7_marker VALUES (1);\n\nINSERT INTO v7_marker\n  VALUES (1);\n",
    )
    .unwrap();
    migrate(&db, &["--migrations", dir_arg]).code(2).stderr(
        predicate::str::contains("V7__broken.sql:4: duplicate key value")
            .and(predicate::str::contains("SQLSTATE 23505")),
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM pg_class WHERE relname = 'v7_marker'"
        ),
        0
    );

    // Fixed, it applies.
    std::fs::write(&v7, "CREATE TABLE v7_marker (id int);\n").unwrap();
    migrate(&db, &["--migrations", dir_arg]).success();
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM pg_class WHERE relname = 'v7_marker'"
        ),
        1
    );
}

#[test]
fn concurrent_index_in_a_transactional_file_gets_the_directive_hint() {
    let db = fresh_db();
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("V1__t.sql"),
        "CREATE TABLE t (a int);\nCREATE INDEX CONCURRENTLY t_a ON t (a);\n",
    )
    .unwrap();
    migrate(&db, &["--migrations", tmp.path().to_str().unwrap()])
        .code(2)
        .stderr(
            predicate::str::contains("V1__t.sql:2:")
                .and(predicate::str::contains("-- dbkit:no-transaction")),
        );
}

#[test]
fn invalid_index_from_a_failed_concurrent_build_is_rebuilt() {
    let db = fresh_db();
    migrate(&db, &["--target", "3"]).success();
    // A failed concurrent build of one of V4's indexes: duplicates make the UNIQUE
    // build fail, which leaves an INVALID index of that name behind.
    db.execute(
        "INSERT INTO orgs (id, name, slug) VALUES ('00000000-0000-0000-0000-000000000001', 'o', 'o');
         INSERT INTO providers (org_id, name) VALUES
           ('00000000-0000-0000-0000-000000000001', 'a'),
           ('00000000-0000-0000-0000-000000000001', 'b');",
    );
    let url = db.url_string();
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(async move {
            let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(conn);
            let err = client
                .batch_execute(
                    "CREATE UNIQUE INDEX CONCURRENTLY providers_org_id_idx ON providers (org_id)",
                )
                .await
                .expect_err("duplicates make the build fail");
            assert_eq!(err.code().unwrap().code(), "23505");
        });
    assert_eq!(count(&db, INVALID_INDEXES), 1);

    migrate(&db, &[]).success().stderr(
        predicate::str::contains("providers_org_id_idx is INVALID")
            .and(predicate::str::contains("dropping it concurrently")),
    );
    assert_eq!(count(&db, INVALID_INDEXES), 0);
    // Rebuilt from V4's definition: valid and not unique.
    let row = &db.query(
        "SELECT i.indisvalid, i.indisunique FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = 'providers_org_id_idx'",
    )[0];
    assert!(row.get::<_, bool>(0));
    assert!(!row.get::<_, bool>(1));
    assert_eq!(history_counts(&db).len(), 6);
}

#[test]
fn edited_or_deleted_applied_files_are_refused() {
    let db = fresh_db();
    let (_tmp, dir) = copied_migrations();
    let dir_arg = dir.to_str().unwrap().to_string();
    migrate(&db, &["--migrations", &dir_arg]).success();

    let v2 = dir.join("V2__booking_schema.sql");
    let original = std::fs::read_to_string(&v2).unwrap();
    std::fs::write(&v2, format!("{original}\n-- an innocent comment\n")).unwrap();
    std::fs::write(dir.join("V7__next.sql"), "CREATE TABLE v7_next (id int);\n").unwrap();
    migrate(&db, &["--migrations", &dir_arg]).code(2).stderr(
        predicate::str::contains("divergent")
            .and(predicate::str::contains("V2__booking_schema.sql"))
            .and(predicate::str::contains(
                "hint: never edit an applied migration",
            )),
    );
    // Refused before running anything: V7 did not run.
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM pg_class WHERE relname = 'v7_next'"
        ),
        0
    );
    let rows = status_json_exit(&db, Some(&dir), 1);
    assert_eq!(rows[1]["state"], "divergent");
    assert_eq!(rows[6]["state"], "pending");

    std::fs::write(&v2, original).unwrap();
    std::fs::remove_file(dir.join("V6__no_double_booking.sql")).unwrap();
    migrate(&db, &["--migrations", &dir_arg]).code(2).stderr(
        predicate::str::contains("missing")
            .and(predicate::str::contains("V6__no_double_booking.sql")),
    );
    let rows = status_json_exit(&db, Some(&dir), 1);
    let v6 = rows.iter().find(|r| r["version"] == 6).unwrap();
    assert_eq!(v6["state"], "missing");
    assert_eq!(v6["name"], "no_double_booking");
    assert!(v6["applied_on"].is_string());
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM pg_class WHERE relname = 'v7_next'"
        ),
        0
    );
}

#[test]
fn dry_run_changes_nothing_and_target_stops_early() {
    let db = fresh_db();
    migrate(&db, &["--dry-run"]).success().stdout(
        predicate::str::contains("appointment_indexes")
            .and(predicate::str::contains("no-transaction"))
            .and(predicate::str::contains("no_double_booking")),
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM pg_class WHERE relname IN ('refinery_schema_history', 'orgs')"
        ),
        0
    );
    let rows = status_json(&db, None);
    assert!(
        rows.iter()
            .all(|r| r["state"] == "pending" && r["applied_on"].is_null()),
        "{rows:?}"
    );

    migrate(&db, &["--target", "3"]).success();
    expect_states(
        &status_json(&db, None),
        &[
            (1, "applied"),
            (2, "applied"),
            (3, "applied"),
            (4, "pending"),
            (5, "pending"),
            (6, "pending"),
        ],
    );
    let out = migrate(&db, &["--dry-run", "--format", "json"])
        .success()
        .get_output()
        .stdout
        .clone();
    let doc: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(doc["version"], 3);
    let would: Vec<i64> = doc["would_apply"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["version"].as_i64().unwrap())
        .collect();
    assert_eq!(would, vec![4, 5, 6]);
    assert_eq!(history_counts(&db).len(), 3);

    migrate(&db, &["--target", "9"])
        .code(2)
        .stderr(predicate::str::contains("no V9"));
}

#[test]
fn lock_timeout_retries_then_fails_cleanly_and_succeeds_once_released() {
    let db = fresh_db();
    migrate(&db, &["--target", "5"]).success();
    let url = db.url_string();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let holder = rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
            .batch_execute("BEGIN; LOCK TABLE appointments IN ACCESS EXCLUSIVE MODE;")
            .await
            .unwrap();
        client
    });
    let started = Instant::now();
    let assert = migrate(&db, &["--lock-timeout", "200ms"]).code(2);
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&assert.get_output().stderr).to_string();
    assert!(
        stderr.contains("retry 1/3") && stderr.contains("retry 3/3"),
        "{stderr}"
    );
    assert!(!stderr.contains("retry 4/"), "{stderr}");
    assert!(
        stderr.contains("V6__no_double_booking.sql:11: canceling statement due to lock timeout (SQLSTATE 55P03), still after 3 retries with lock_timeout 200ms; database left at V5"),
        "{stderr}"
    );
    assert!(stderr.contains("--lock-timeout"), "{stderr}");
    assert!(elapsed < Duration::from_secs(30), "{elapsed:?}");
    // Unchanged: neither the constraint nor the extension of the same file.
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM pg_constraint WHERE conname = 'appointments_no_provider_overlap'"
        ),
        0
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM pg_extension WHERE extname = 'btree_gist'"
        ),
        0
    );
    assert_eq!(history_counts(&db).len(), 5);

    rt.block_on(async { holder.batch_execute("ROLLBACK").await.unwrap() });
    migrate(&db, &["--lock-timeout", "200ms"]).success();
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM pg_constraint WHERE conname = 'appointments_no_provider_overlap'"
        ),
        1
    );
}

#[test]
fn unreachable_server_fails_fast_without_leaking_the_password() {
    let started = Instant::now();
    let assert = dbkit()
        .args([
            "migrate",
            "--database-url",
            "postgres://u:SECRET@127.0.0.1:1/x",
        ])
        .timeout(Duration::from_secs(20))
        .assert()
        .code(2);
    assert!(started.elapsed() < Duration::from_secs(10));
    let out = assert.get_output();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains("SECRET"), "{all}");
    assert!(all.contains("error: "), "{all}");
}

#[test]
fn bad_file_names_and_duplicate_versions_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("V1__ok.sql"), "SELECT 1;").unwrap();
    std::fs::write(tmp.path().join("notes.txt"), "ignored").unwrap();
    std::fs::write(tmp.path().join("V2__add-index.sql"), "SELECT 1;").unwrap();
    let dir = tmp.path().to_str().unwrap();
    dbkit()
        .args([
            "migrate",
            "--migrations",
            dir,
            "--database-url",
            "postgres://u@127.0.0.1:1/x",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("V2__add-index.sql"));
    std::fs::remove_file(tmp.path().join("V2__add-index.sql")).unwrap();
    std::fs::write(tmp.path().join("V001__again.sql"), "SELECT 1;").unwrap();
    dbkit()
        .args([
            "migrate",
            "status",
            "--migrations",
            dir,
            "--database-url",
            "postgres://u@127.0.0.1:1/x",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("duplicate migration version V1"));
}

#[test]
fn new_creates_the_next_file() {
    let (_tmp, dir) = copied_migrations();
    let dir_arg = dir.to_str().unwrap();
    let out = dbkit()
        .args(["new", "add_reminders", "--migrations", dir_arg])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let path = PathBuf::from(String::from_utf8(out).unwrap().trim());
    assert!(path.ends_with("V7__add_reminders.sql"), "{path:?}");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("-- V7"), "{text}");

    dbkit()
        .args([
            "new",
            "index_reminders",
            "--no-transaction",
            "--migrations",
            dir_arg,
        ])
        .assert()
        .success()
        .stdout(predicate::str::contains("V8__index_reminders.sql"));
    let text = std::fs::read_to_string(dir.join("V8__index_reminders.sql")).unwrap();
    assert!(text.starts_with("-- dbkit:no-transaction\n"), "{text}");

    dbkit()
        .args(["new", "Add-Reminders", "--migrations", dir_arg])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("snake_case"));
    dbkit()
        .args(["new", "x", "--migrations", "/nonexistent/dir"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("does not exist"));
}

#[test]
fn failed_no_transaction_file_keeps_earlier_statements_and_resumes() {
    let db = fresh_db();
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("V1__t.sql"),
        "CREATE TABLE t (a int);\nINSERT INTO t VALUES (1), (1);\n",
    )
    .unwrap();
    std::fs::write(
        tmp.path().join("V2__idx.sql"),
        "-- dbkit:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS t_a_idx ON t (a);\nCREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS t_a_key\n    ON t (a);\n",
    )
    .unwrap();
    let dir = tmp.path().to_str().unwrap();
    migrate(&db, &["--migrations", dir]).code(2).stderr(
        predicate::str::contains("V2__idx.sql:3: could not create unique index \"t_a_key\" (SQLSTATE 23505); database left at V1 (V2 runs outside a transaction")
            .and(predicate::str::contains("idempotent")),
    );
    assert_eq!(history_counts(&db), vec![(1, 1)]);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM pg_indexes WHERE indexname = 't_a_idx'"
        ),
        1
    );
    assert_eq!(count(&db, INVALID_INDEXES), 1);

    db.execute("DELETE FROM t WHERE ctid = (SELECT max(ctid) FROM t)");
    migrate(&db, &["--migrations", dir])
        .success()
        .stderr(predicate::str::contains("t_a_key is INVALID"));
    assert_eq!(count(&db, INVALID_INDEXES), 0);
    assert_eq!(history_counts(&db), vec![(1, 1), (2, 1)]);
}

/// Issue 13 item 14: names `check` reports are refused by `migrate` too, before it
/// connects: an upper-case extension and a directory named like a migration.
#[test]
fn upper_case_extensions_and_sql_directories_are_refused() {
    let db = fresh_db();
    for (entry, is_dir) in [("V7__x.SQL", false), ("V7__folder.sql", true)] {
        let (_tmp, dir) = copied_migrations();
        if is_dir {
            std::fs::create_dir(dir.join(entry)).unwrap();
        } else {
            std::fs::write(dir.join(entry), "CREATE TABLE never_run ();").unwrap();
        }
        let out = migrate(&db, &["--migrations", dir.to_str().unwrap()])
            .code(2)
            .get_output()
            .clone();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(stderr.contains(entry), "{entry}: {stderr}");
        assert_eq!(
            stderr.lines().filter(|l| l.starts_with("error:")).count(),
            1
        );
        assert!(stderr.contains("hint: "), "{stderr}");
        // Nothing ran: not even V1.
        assert_eq!(
            count(
                &db,
                "SELECT count(*) FROM pg_tables WHERE tablename IN ('refinery_schema_history', 'never_run')"
            ),
            0,
            "{entry}"
        );
    }
}

/// Issue 13 item 20: after the largest version refinery's history can hold, `new`
/// refuses instead of writing `V-2147483648__…`.
#[test]
fn new_after_the_largest_version_refuses_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("V2147483647__last.sql"), "SELECT 1;").unwrap();
    let out = dbkit()
        .args([
            "new",
            "one_more",
            "--migrations",
            tmp.path().to_str().unwrap(),
        ])
        .assert()
        .code(2)
        .get_output()
        .clone();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        stderr.starts_with("error: the latest migration is V2147483647"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: "), "{stderr}");
    let names: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["V2147483647__last.sql"], "no file written");
}

/// `--target` takes a version of any size and refuses one that is not a number.
#[test]
fn target_must_be_a_version() {
    let db = fresh_db();
    migrate(&db, &["--target", "V9x"])
        .code(2)
        .stderr(predicate::str::contains("not a version"));
    migrate(&db, &["--target", "20240101120000"])
        .code(2)
        .stderr(predicate::str::contains("there is no V20240101120000"));
}
