//! `dbkit explain --advise` against real PostgreSQL, driving the binary: the verified
//! index set is measured on a copy, the target is left as it was, and the statements it
//! hands back, applied to the target, lower what the catalog reads there.

mod common;

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use serde_json::Value;

/// One advice at a time (here and, under nextest, by the test group `advice-copies` of
/// .config/nextest.toml): each builds indexes on a copy, and the checks that no copy is
/// left behind count the server's scratch databases.
fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// The booking catalog (queries/): named explicitly, as a project without one gets a
/// catalog derived from its schema.
fn booking_queries() -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("queries")
        .display()
        .to_string()
}

fn small_profile() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seed_small.yaml")
}

/// A fresh database at V3 (RLS, no secondary index: the state the report measured),
/// seeded with the small profile.
fn at_v3(orgs: u32) -> common::TestDb {
    let db = common::fresh_db();
    common::dbkit()
        .args([
            "migrate",
            "--database-url",
            &db.url_string(),
            "--target",
            "3",
        ])
        .arg("--migrations")
        .arg(common::repo_migrations())
        .assert()
        .success();
    common::dbkit()
        .args(["seed", "--database-url", &db.url_string()])
        .args(["--orgs", &orgs.to_string(), "--profile"])
        .arg(small_profile())
        .assert()
        .success();
    db
}

fn json(output: &[u8]) -> Value {
    serde_json::from_slice(output)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", String::from_utf8_lossy(output)))
}

/// The index definitions of the database.
fn indexes(db: &common::TestDb) -> Vec<String> {
    db.query("SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' ORDER BY 1")
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn databases_like(pattern: &str) -> i64 {
    common::sql(
        &common::server_url(),
        &format!("SELECT count(*) FROM pg_database WHERE datname LIKE '{pattern}'"),
    )[0]
    .get(0)
}

/// Total buffers of the reading runs of an explain report, per query.
fn read_buffers(report: &Value) -> std::collections::BTreeMap<String, u64> {
    let mut out = std::collections::BTreeMap::new();
    for run in report["runs"].as_array().unwrap() {
        if run["query"] == "booking_insert" {
            continue;
        }
        *out.entry(run["query"].as_str().unwrap().to_string())
            .or_default() += run["buffers"].as_u64().unwrap();
    }
    out
}

const QUERIES: &str = "provider_conflict_check,org_upcoming,contact_history,booking_insert";

#[test]
fn the_verified_set_is_measured_on_a_copy_and_lowers_what_the_target_reads() {
    let _serial = serial();
    let db = at_v3(3);
    let before_indexes = indexes(&db);
    let queries = booking_queries();
    let args = [
        "explain",
        "--queries",
        &queries,
        "--database-url",
        &db.url_string(),
        "--only",
        QUERIES,
        "--runs",
        "2",
        "--no-index-suggestions",
        "--format",
        "json",
    ];
    let out = common::dbkit()
        .args(args)
        .arg("--advise")
        .assert()
        .success();
    let report = json(&out.get_output().stdout);
    assert_eq!(indexes(&db), before_indexes, "the target was changed");
    assert_eq!(
        databases_like("dbkit_scratch_advice%"),
        0,
        "the copy was left behind"
    );

    let advice = &report["advice"];
    let statements: Vec<&str> = advice["indexes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["statement"].as_str().unwrap())
        .collect();
    assert!(!statements.is_empty(), "{advice:#}");
    for (index, statement) in advice["indexes"]
        .as_array()
        .unwrap()
        .iter()
        .zip(&statements)
    {
        assert!(
            statement.starts_with("CREATE INDEX CONCURRENTLY IF NOT EXISTS ")
                && statement.ends_with(';'),
            "{statement}"
        );
        assert_eq!(index["table"], "appointments", "{index}");
        assert!(
            index["reason"].as_str().unwrap().starts_with("serves "),
            "{index}"
        );
    }
    // Measured, not estimated: no reading run worse (a few blocks of noise), the
    // catalog's reads down, the write cost shown on the INSERT.
    let runs = advice["runs"].as_array().unwrap();
    assert_eq!(
        runs.len(),
        4 * 4,
        "4 queries × 2 orgs × 2 roles: {advice:#}"
    );
    let (mut before, mut after, mut written_before, mut written_after) = (0, 0, 0, 0);
    for run in runs {
        let (b, a) = (
            run["before"].as_u64().unwrap(),
            run["after"].as_u64().unwrap(),
        );
        if run["writes"] == true {
            assert_eq!(run["query"], "booking_insert");
            written_before += b;
            written_after += a;
        } else {
            assert!(
                a <= b + (b / 20).max(2),
                "a query reads more with the set: {run}"
            );
            before += b;
            after += a;
        }
    }
    assert!(after * 5 < before, "reads {before} → {after}");
    // Each index adds at least a leaf page to every INSERT (a run may differ by a block).
    assert!(
        written_after >= written_before + statements.len() as u64 * 2,
        "the write cost: INSERTs {written_before} → {written_after} blocks"
    );
    // One set across orgs and roles: no two members on the same key and predicate.
    let mut keys: Vec<String> = statements
        .iter()
        .map(|s| s.split(" ON ").nth(1).unwrap().to_string())
        .collect();
    keys.sort();
    keys.dedup();
    assert_eq!(keys.len(), statements.len(), "{statements:#?}");

    // What it hands back is what a migration runs: applied to the target one statement
    // at a time (CONCURRENTLY), the target reads less on every advised query.
    let plain = common::dbkit().args(args).assert().success();
    let without = read_buffers(&json(&plain.get_output().stdout));
    for statement in &statements {
        db.execute(statement);
    }
    let applied = common::dbkit().args(args).assert().success();
    let with = read_buffers(&json(&applied.get_output().stdout));
    for (query, b) in &without {
        let a = with[query];
        assert!(a <= b + (b / 20).max(2), "{query}: {b} → {a}");
    }
    // At least halved in total: a contact's history still reads a page per appointment
    // it returns, whatever the index (on 3 small orgs: 232 → 155 blocks, while the
    // conflict check goes 228 → 8).
    assert!(
        with.values().sum::<u64>() * 2 < without.values().sum::<u64>(),
        "{without:?} → {with:?}"
    );
}

#[test]
fn the_table_shows_the_statements_and_the_measured_buffers() {
    let _serial = serial();
    let db = at_v3(2);
    let out = common::dbkit()
        .args(["explain", "--database-url", &db.url_string()])
        .args([
            "--only",
            "provider_conflict_check,booking_insert",
            "--runs",
            "1",
        ])
        .args(["--no-index-suggestions", "--advise"])
        .assert()
        .success();
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    for part in [
        "Index advice: ",
        "verified on a lab copy",
        "write cost: the catalog's writes read",
        "1. CREATE INDEX CONCURRENTLY IF NOT EXISTS appointments_",
        "Buffers per query on the lab copy (all orgs and roles), without → with the set:",
        "│ provider_conflict_check │ read  │",
        "│ booking_insert          │ write │",
    ] {
        assert!(stdout.contains(part), "missing {part:?} in:\n{stdout}");
    }
}

#[test]
fn a_target_others_are_connected_to_is_refused_with_a_hint() {
    let _serial = serial();
    let db = at_v3(2);
    // Another session on the target: PostgreSQL cannot copy a database in use.
    let mut other = std::process::Command::new("psql")
        .arg(db.url_string())
        .args(["-c", "SELECT pg_sleep(300)"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("psql");
    let started = std::time::Instant::now();
    let sleeping = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND query LIKE 'SELECT pg_sleep%'",
        db.name()
    );
    while common::sql(&common::server_url(), &sleeping)[0].get::<_, i64>(0) == 0 {
        assert!(started.elapsed().as_secs() < 30, "psql never connected");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let out = common::dbkit()
        .args(["explain", "--database-url", &db.url_string()])
        .args(["--queries", &booking_queries()])
        .args(["--only", "org_settings", "--runs", "1", "--advise"])
        .assert()
        .code(2);
    let _ = other.kill();
    let _ = other.wait();
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        stderr.contains("--advise cannot copy the database")
            && stderr.contains("other sessions are connected to it"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: ") && stderr.contains("--before V"),
        "{stderr}"
    );
    assert_eq!(databases_like("dbkit_scratch_advice%"), 0);
}

#[test]
fn with_before_the_advice_is_on_a_copy_of_the_head() {
    let _serial = serial();
    let db = common::fresh_db();
    let out = common::dbkit()
        .args([
            "explain",
            "--database-url",
            &db.url_string(),
            "--before",
            "3",
        ])
        .args(["--orgs", "2", "--profile"])
        .arg(small_profile())
        .arg("--migrations")
        .arg(common::repo_migrations())
        .args(["--queries", &booking_queries()])
        .args([
            "--only",
            "provider_conflict_check,booking_insert",
            "--runs",
            "1",
        ])
        .args(["--no-index-suggestions", "--advise", "--format", "json"])
        .assert()
        .success();
    let report = json(&out.get_output().stdout);
    let advice = &report["advice"];
    assert!(
        advice["runs"].as_array().is_some_and(|r| r.len() == 8),
        "{advice:#}"
    );
    // The head (V6) has the hand-written indexes: the baseline is theirs, not V3's.
    let before: u64 = report["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["phase"] == "after" && r["query"] == "provider_conflict_check")
        .map(|r| r["buffers"].as_u64().unwrap())
        .sum();
    let baseline: u64 = advice["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["query"] == "provider_conflict_check")
        .map(|r| r["before"].as_u64().unwrap())
        .sum();
    assert!(
        baseline <= before + 8 && baseline * 2 >= before,
        "advice baseline {baseline} vs the after phase {before}"
    );
    assert!(
        report["setting"]["timings_ms"]["advise"].is_u64(),
        "{report:#}"
    );
    for purpose in ["explain", "lab", "advice"] {
        let left = databases_like(&format!("dbkit_scratch_{purpose}%"));
        assert_eq!(left, 0, "{purpose} scratch databases left behind");
    }
}
