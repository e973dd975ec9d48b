//! What `dbkit migrate` refuses before anything runs, and what it says after a
//! failure (issue 13, items 5, 15, 16, 17): transaction control inside a transactional
//! migration, `COPY … FROM STDIN`, a UTF-8 BOM, the INVALID index a failed concurrent
//! build leaves. Real PostgreSQL, a fresh database per test.

mod common;

use std::path::Path;

use common::{dbkit, fresh_db, TestDb};
use predicates::prelude::*;

/// A migrations directory holding `files` (name, SQL).
fn dir_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (name, sql) in files {
        std::fs::write(dir.path().join(name), sql).unwrap();
    }
    dir
}

fn migrate(db: &TestDb, dir: &Path) -> assert_cmd::assert::Assert {
    dbkit()
        .args(["migrate", "--database-url", &db.url_string()])
        .arg("--migrations")
        .arg(dir)
        .assert()
}

fn count(db: &TestDb, sql: &str) -> i64 {
    db.query(sql)[0].get(0)
}

fn tables(db: &TestDb) -> Vec<String> {
    db.query(
        "SELECT c.relname::text FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace \
         AND c.relkind = 'r' AND c.relname <> 'refinery_schema_history' ORDER BY 1",
    )
    .iter()
    .map(|r| r.get(0))
    .collect()
}

/// History rows (0 when there is no history table).
fn applied(db: &TestDb) -> i64 {
    if count(
        db,
        "SELECT count(*) FROM pg_class WHERE relname = 'refinery_schema_history'",
    ) == 0
    {
        return 0;
    }
    count(db, "SELECT count(*) FROM refinery_schema_history")
}

/// One `error:` line naming the place, one `hint:` line, exit 2.
fn refused(assert: assert_cmd::assert::Assert, place: &str, what: &str) -> String {
    let out = assert.code(2).get_output().clone();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].contains(place) && errors[0].contains(what),
        "{stderr}"
    );
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with("hint:")).count(),
        1,
        "{stderr}"
    );
    stderr
}

/// Issue 13 item 5, first case: a COMMIT halfway would keep `a` and `b` while the
/// history says nothing was applied. Refused before anything runs.
#[test]
fn commit_inside_a_migration_is_refused_and_nothing_is_left() {
    let db = fresh_db();
    let dir = dir_with(&[(
        "V1__half.sql",
        "CREATE TABLE a ();\nCOMMIT;\nCREATE TABLE b ();\nSELEC broken;\n",
    )]);
    let stderr = refused(migrate(&db, dir.path()), "V1__half.sql:2", "COMMIT");
    assert!(
        stderr.contains("refused before running anything; database left at V0"),
        "{stderr}"
    );
    assert!(stderr.contains("-- dbkit:no-transaction"), "{stderr}");
    assert_eq!(tables(&db), Vec::<String>::new());
    assert_eq!(applied(&db), 0);
}

/// Second case: a ROLLBACK first would run the DROP outside any transaction.
#[test]
fn rollback_inside_a_migration_cannot_drop_a_table() {
    let db = fresh_db();
    let dir = dir_with(&[
        (
            "V1__appointments.sql",
            "CREATE TABLE appointments (id int);",
        ),
        (
            "V2__oops.sql",
            "-- undo\nROLLBACK;\nDROP TABLE appointments CASCADE;\nSELEC broken;\n",
        ),
    ]);
    refused(migrate(&db, dir.path()), "V2__oops.sql:2", "ROLLBACK");
    // Refused before anything ran: not even V1.
    assert_eq!(tables(&db), Vec::<String>::new());
    assert_eq!(applied(&db), 0);
    // With V1 applied first, V2 is still refused and appointments stays.
    let only_v1 = dir_with(&[(
        "V1__appointments.sql",
        "CREATE TABLE appointments (id int);",
    )]);
    migrate(&db, only_v1.path()).success();
    refused(migrate(&db, dir.path()), "V2__oops.sql:2", "ROLLBACK");
    assert_eq!(tables(&db), vec!["appointments".to_string()]);
    assert_eq!(applied(&db), 1);
}

/// The file's own savepoints stay inside its transaction and run; a savepoint the file
/// did not make is refused.
#[test]
fn savepoints_of_the_file_run_foreign_ones_are_refused() {
    let db = fresh_db();
    let ok = dir_with(&[(
        "V1__sp.sql",
        "CREATE TABLE t (x int);\nSAVEPOINT s;\nINSERT INTO t VALUES (1);\nROLLBACK TO SAVEPOINT s;\nRELEASE s;\nINSERT INTO t VALUES (2);\n",
    )]);
    migrate(&db, ok.path()).success();
    assert_eq!(count(&db, "SELECT sum(x) FROM t"), 2);
    let bad = dir_with(&[
        (
            "V1__sp.sql",
            &std::fs::read_to_string(ok.path().join("V1__sp.sql")).unwrap(),
        ),
        (
            "V2__release.sql",
            "CREATE TABLE u ();\nRELEASE SAVEPOINT outer_one;\n",
        ),
    ]);
    refused(
        migrate(&db, bad.path()),
        "V2__release.sql:2",
        "RELEASE SAVEPOINT",
    );
    assert_eq!(tables(&db), vec!["t".to_string()]);
}

/// Item 16: COPY … FROM stdin gets an error naming file and line, and a hint.
#[test]
fn copy_from_stdin_is_refused_with_a_hint() {
    let db = fresh_db();
    let dir = dir_with(&[(
        "V1__load.sql",
        "CREATE TABLE t (a int, b text);\n\nCOPY t (a, b) FROM stdin;\n",
    )]);
    let stderr = refused(migrate(&db, dir.path()), "V1__load.sql:3", "COPY");
    assert!(stderr.contains("INSERT"), "{stderr}");
    assert_eq!(tables(&db), Vec::<String>::new());
}

/// Item 15: a UTF-8 BOM (as some editors save files) is not sent to PostgreSQL.
#[test]
fn a_byte_order_mark_is_not_executed() {
    let db = fresh_db();
    let dir = dir_with(&[
        ("V1__bom.sql", "\u{feff}CREATE TABLE with_bom (id int);\n"),
        (
            "V2__bom_no_tx.sql",
            "\u{feff}-- dbkit:no-transaction\nCREATE TABLE with_bom_too (id int);\n",
        ),
    ]);
    migrate(&db, dir.path()).success();
    assert_eq!(
        tables(&db),
        vec!["with_bom".to_string(), "with_bom_too".to_string()]
    );
}

/// Item 17: a failed concurrent build leaves its index INVALID; the error's hint says
/// so and what the next run does, and the next run (once the data is fixed) rebuilds it.
#[test]
fn failed_concurrent_index_names_the_invalid_index_left() {
    let db = fresh_db();
    let dir = dir_with(&[
        (
            "V1__t.sql",
            "CREATE TABLE t (a int);\nINSERT INTO t VALUES (1), (1);",
        ),
        (
            "V2__idx.sql",
            "-- dbkit:no-transaction\nCREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS t_a_idx ON t (a);\n",
        ),
    ]);
    let stderr = refused(migrate(&db, dir.path()), "V2__idx.sql:2", "t_a_idx");
    assert!(
        stderr.contains("hint: the failed build left index public.t_a_idx INVALID; the next `dbkit migrate` drops it"),
        "{stderr}"
    );
    assert_eq!(
        count(&db, "SELECT count(*) FROM pg_index WHERE NOT indisvalid"),
        1
    );
    db.execute("DELETE FROM t WHERE ctid = (SELECT min(ctid) FROM t)");
    migrate(&db, dir.path()).success();
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM pg_index WHERE indexrelid = 't_a_idx'::regclass AND indisvalid"
        ),
        1
    );
}

/// Outside a transaction the statements are the file's own business: a no-transaction
/// file may BEGIN … COMMIT a group of statements.
#[test]
fn a_no_transaction_file_may_group_statements() {
    let db = fresh_db();
    let dir = dir_with(&[(
        "V1__grouped.sql",
        "-- dbkit:no-transaction\nBEGIN;\nCREATE TABLE g (x int);\nCOMMIT;\n",
    )]);
    migrate(&db, dir.path())
        .success()
        .stderr(predicate::str::contains("error").not());
    assert_eq!(tables(&db), vec!["g".to_string()]);
}

/// The mode column `migrate` printed for `version` (table output).
fn mode_of(stdout: &str, version: &str) -> String {
    stdout
        .lines()
        .find(|l| l.starts_with(&format!("│ {version} ")))
        .and_then(|l| l.split('│').nth(3))
        .map(|c| c.trim().to_string())
        .unwrap_or_else(|| panic!("no row for {version}: {stdout}"))
}

/// Issue 21: a whole-file `BEGIN; … COMMIT;` (as the Supabase CLI accepts it) is the
/// file's one transaction — applied and recorded together, the BEGIN's modes kept, and
/// still all-or-nothing when a statement inside fails.
#[test]
fn a_whole_file_wrapper_is_one_transaction() {
    let db = fresh_db();
    let dir = dir_with(&[
        (
            "V1__wrapped.sql",
            "-- the whole file, as psql would run it\nBEGIN;\n\nCREATE TABLE a (x int);\nINSERT INTO a VALUES (1);\n\nCOMMIT;\n",
        ),
        (
            "V2__serializable.sql",
            "begin isolation level serializable;\ncreate table b as select current_setting('transaction_isolation') as iso;\nend;\n",
        ),
    ]);
    let out = migrate(&db, dir.path()).success().get_output().clone();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(mode_of(&stdout, "1"), "transactional");
    assert!(!stdout.contains("warning"), "{stdout}");
    assert_eq!(tables(&db), vec!["a".to_string(), "b".to_string()]);
    assert_eq!(count(&db, "SELECT count(*) FROM a"), 1);
    let iso: String = db.query("SELECT iso FROM b")[0].get(0);
    assert_eq!(iso, "serializable");
    assert_eq!(applied(&db), 2);
    // refinery's checksum of the file as written: status sees both as applied.
    dbkit()
        .args(["migrate", "status", "--database-url", &db.url_string()])
        .arg("--migrations")
        .arg(dir.path())
        .assert()
        .success()
        .stdout(predicate::str::contains("divergent").not());

    std::fs::write(
        dir.path().join("V3__broken.sql"),
        "BEGIN;\nCREATE TABLE c ();\nSELEC broken;\nCOMMIT;\n",
    )
    .unwrap();
    let stderr = refused_at_run(migrate(&db, dir.path()), "V3__broken.sql:3");
    assert!(stderr.contains("database left at V2"), "{stderr}");
    assert_eq!(tables(&db), vec!["a".to_string(), "b".to_string()]);
    assert_eq!(applied(&db), 2);
}

/// A failed run: one `error:` line naming the place, exit 2.
fn refused_at_run(assert: assert_cmd::assert::Assert, place: &str) -> String {
    let out = assert.code(2).get_output().clone();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains(place), "{stderr}");
    stderr
}

/// Issue 21: a file of several BEGIN … COMMIT blocks runs block by block, as
/// PostgreSQL would — the enum value committed in the first block is usable in the
/// second (in one transaction PostgreSQL refuses that) — with a warning; the history
/// row is written with the last block. A failure in a later block keeps the earlier
/// ones, says so, and leaves the file unrecorded.
#[test]
fn a_file_of_blocks_runs_block_by_block() {
    let db = fresh_db();
    let dir = dir_with(&[
        (
            "V1__roles.sql",
            "CREATE TYPE role AS ENUM ('user');\nCREATE TABLE m (r role);\n",
        ),
        (
            "V2__error_role.sql",
            "BEGIN;\nALTER TYPE role ADD VALUE 'error';\nCOMMIT;\n\n-- now use it\nBEGIN;\nINSERT INTO m VALUES ('error');\nCOMMIT;\n",
        ),
    ]);
    let out = migrate(&db, dir.path()).success().get_output().clone();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(mode_of(&stdout, "2"), "2 transactions");
    assert!(
        stdout.contains("warning: ") && stdout.contains("V2__error_role.sql ran as 2 transactions"),
        "{stdout}"
    );
    assert_eq!(count(&db, "SELECT count(*) FROM m WHERE r = 'error'"), 1);
    assert_eq!(applied(&db), 2);

    std::fs::write(
        dir.path().join("V3__half.sql"),
        "BEGIN;\nCREATE TABLE kept ();\nCOMMIT;\nBEGIN;\nCREATE TABLE lost ();\nSELEC broken;\nCOMMIT;\n",
    )
    .unwrap();
    let stderr = refused_at_run(migrate(&db, dir.path()), "V3__half.sql:6");
    assert!(
        stderr.contains("database left at V2 plus the first transaction block of V3, committed before this one failed (V3 is not recorded as applied)"),
        "{stderr}"
    );
    assert!(stderr.contains("split the file"), "{stderr}");
    assert_eq!(tables(&db), vec!["kept".to_string(), "m".to_string()]);
    assert_eq!(applied(&db), 2);
}

/// In a file of blocks, statements outside them run as PostgreSQL runs the file sent
/// whole (the Supabase CLI's way): before a BEGIN in that block's transaction, after
/// the last COMMIT in one more — which a failure there rolls back alone.
#[test]
fn statements_outside_the_blocks_run_as_postgresql_runs_the_file() {
    let db = fresh_db();
    let dir = dir_with(&[(
        "V1__mixed.sql",
        "CREATE TABLE early ();\nBEGIN;\nCREATE TABLE inside ();\nCOMMIT;\n",
    )]);
    let out = migrate(&db, dir.path()).success().get_output().clone();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(mode_of(&stdout, "1"), "transactional", "{stdout}");
    assert_eq!(tables(&db), vec!["early".to_string(), "inside".to_string()]);
    assert_eq!(applied(&db), 1);

    std::fs::write(
        dir.path().join("V2__after.sql"),
        "BEGIN;\nCREATE TABLE kept ();\nCOMMIT;\nCREATE TABLE lost ();\nSELEC broken;\n",
    )
    .unwrap();
    refused_at_run(migrate(&db, dir.path()), "V2__after.sql:5");
    assert_eq!(
        tables(&db),
        vec![
            "early".to_string(),
            "inside".to_string(),
            "kept".to_string()
        ]
    );
    assert_eq!(applied(&db), 1);
}
