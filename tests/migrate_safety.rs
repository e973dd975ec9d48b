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
