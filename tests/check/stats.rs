//! `dbkit check --stats-from URL`: the same migration graded by the size of its table in
//! a database whose statistics the test sets up (a 500-row table, and one whose
//! pg_class says 10 million rows; write counters reset, so neither is busy), with the
//! estimated lock duration printed.

use serde_json::Value;

use super::{common, dbkit};

/// Poll `done` every 50 ms for at most 10 s.
fn wait_until(done: impl Fn() -> bool) {
    for _ in 0..200 {
        if done() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("the statistics never settled");
}

#[test]
fn lock_findings_are_graded_by_table_size() {
    let prod = common::fresh_db();
    prod.execute(
        "CREATE TABLE small_log (id bigint, at timestamptz);
         INSERT INTO small_log SELECT i, now() FROM generate_series(1, 500) i;
         ANALYZE small_log;
         CREATE TABLE big_log (id bigint, at timestamptz) WITH (autovacuum_enabled = false);
         INSERT INTO big_log SELECT i, now() FROM generate_series(1, 10) i;
         UPDATE pg_class SET reltuples = 10000000, relpages = 100000 WHERE relname = 'big_log';",
    );
    // Neither table is written to: once the setup's counters reached the shared
    // statistics (the setup's backend flushes them as it exits), reset them.
    let inserted = "SELECT coalesce(sum(n_tup_ins), 0)::int8 FROM pg_stat_user_tables";
    wait_until(|| prod.query(inserted)[0].get::<_, i64>(0) == 510);
    prod.execute("SELECT pg_stat_reset()");
    wait_until(|| prod.query(inserted)[0].get::<_, i64>(0) == 0);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("V1__logs.sql"),
        "CREATE TABLE small_log (id bigint, at timestamptz);\nCREATE TABLE big_log (id bigint, at timestamptz);\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("V2__log_indexes.sql"),
        "CREATE INDEX small_log_at_idx ON small_log (at);\nCREATE INDEX big_log_at_idx ON big_log (at);\nALTER TABLE big_log RENAME TO old_log;\n",
    )
    .unwrap();
    let stats = prod.url_string();
    let graded = dbkit(
        dir.path(),
        "json",
        &["--offline", "--base", "1", "--stats-from", &stats],
    );
    let v: Value = serde_json::from_str(&graded.stdout).unwrap();
    let found: Vec<(&str, &str, &str)> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap(),
                f["object"].as_str().unwrap(),
                f["severity"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        found,
        vec![
            (
                "require-concurrent-index-creation",
                "small_log_at_idx",
                "info"
            ),
            (
                "require-concurrent-index-creation",
                "big_log_at_idx",
                "error"
            ),
            // A rename's lock does not grow with the table: its severity stands.
            ("renaming-table", "big_log", "error"),
        ],
        "{}",
        graded.stdout
    );
    let message = |i: usize| v["findings"][i]["message"].as_str().unwrap().to_string();
    assert!(
        message(0).contains("small_log has 500 rows"),
        "{}",
        message(0)
    );
    assert!(message(0).contains("estimated lock"), "{}", message(0));
    assert!(
        message(1).contains("big_log has 10,000,000 rows"),
        "{}",
        message(1)
    );
    assert!(message(1).contains("estimated lock"), "{}", message(1));
    assert!(!message(2).contains("estimated lock"), "{}", message(2));

    // Without statistics: the rules' own severities.
    let plain = dbkit(dir.path(), "json", &["--offline", "--base", "1"]);
    let v: Value = serde_json::from_str(&plain.stdout).unwrap();
    let severities: Vec<&str> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["severity"].as_str().unwrap())
        .collect();
    assert_eq!(
        severities,
        vec!["error", "error", "error"],
        "{}",
        plain.stdout
    );
}
