//! `dbkit bench` through the real binary against a real PostgreSQL: a burst on seeded
//! data leaves no errors, no double booking and every table's row count as it was;
//! forced collisions are counted as "slot taken" with zero overlaps; killing the
//! bench's connections mid-run is exit 2 with the completed rows cleaned up; another
//! writer during the run does not fail it (a live database); SIGTERM stops and cleans
//! up like Ctrl-C; absurd durations and a NaN budget are usage errors; `--before`
//! reuses the lab's templates on a second run.

mod common;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{dbkit, fresh_db_from, template, TestDb};
use serde_json::Value;

/// Seeded with `dbkit seed --orgs 3` and the tests' small profile (built once per
/// test process as a template).
fn seeded_db() -> TestDb {
    let name = template("bench_seeded_v2", |db| {
        dbkit()
            .args(["migrate", "--database-url", &db.url_string()])
            .timeout(Duration::from_secs(120))
            .assert()
            .success();
        dbkit()
            .args(["seed", "--orgs", "3", "--profile", SMALL_PROFILE])
            .args(["--database-url", &db.url_string()])
            .timeout(Duration::from_secs(300))
            .assert()
            .success();
    });
    fresh_db_from(&name)
}

const SMALL_PROFILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/seed_small.yaml"
);

fn row_counts(db: &TestDb) -> BTreeMap<String, i64> {
    [
        "orgs",
        "org_settings",
        "members",
        "providers",
        "contacts",
        "appointments",
    ]
    .iter()
    .map(|t| {
        let n: i64 = db.query(&format!("SELECT count(*) FROM {t}"))[0].get(0);
        (t.to_string(), n)
    })
    .collect()
}

fn overlaps(db: &TestDb) -> i64 {
    db.query(
        "SELECT count(*) FROM appointments a JOIN appointments b
           ON a.org_id = b.org_id AND a.provider_id = b.provider_id AND a.id < b.id
          AND tstzrange(a.scheduled_at, a.ends_at) && tstzrange(b.scheduled_at, b.ends_at)
        WHERE a.status <> 'cancelled' AND b.status <> 'cancelled'",
    )[0]
    .get(0)
}

fn bench_json(db: &TestDb, args: &[&str]) -> Value {
    let output = dbkit()
        .args([
            "bench",
            "--format",
            "json",
            "--database-url",
            &db.url_string(),
        ])
        .args(args)
        .timeout(Duration::from_secs(180))
        .assert()
        .success()
        .get_output()
        .clone();
    // Progress indicators only on a terminal: nothing on a piped stderr.
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("bench JSON")
}

#[test]
fn burst_on_seeded_data_is_clean_and_leaves_counts_unchanged() {
    let db = seeded_db();
    let before = row_counts(&db);
    let report = bench_json(&db, &["--scenario", "burst", "--requests-per-client", "4"]);
    let s = &report["scenarios"][0];
    assert_eq!(s["name"], "burst");
    assert_eq!(s["concurrency"], 30);
    assert_eq!(s["requests"], 120);
    assert_eq!(s["errors"], 0, "{report:#}");
    assert!(s["booked"].as_u64().unwrap() > 0, "{report:#}");
    for key in [
        "p50_ms",
        "p95_ms",
        "p99_ms",
        "throughput_rps",
        "pool_wait_p95_ms",
    ] {
        assert!(s[key].as_f64().unwrap() >= 0.0, "{key}");
    }
    assert_eq!(report["double_bookings"], 0);
    assert_eq!(report["statements"], "queries/ (embedded)");
    assert_eq!(report["inserted"], report["deleted"]);
    // Every inserted row is accounted for: booked in the burst, or by the warm-up.
    assert_eq!(
        report["inserted"].as_u64().unwrap(),
        s["booked"].as_u64().unwrap() + report["warm_up_inserted"].as_u64().unwrap(),
        "{report:#}"
    );
    assert_eq!(report["own_rows_left"], 0);
    assert_eq!(row_counts(&db), before);
    let left: i64 =
        db.query("SELECT count(*) FROM appointments WHERE notes LIKE 'dbkit-bench%'")[0].get(0);
    assert_eq!(left, 0);
}

#[test]
fn forced_collisions_are_slot_taken_and_never_overlap() {
    let db = seeded_db();
    let before = row_counts(&db);
    let report = bench_json(
        &db,
        &[
            "--concurrency",
            "8",
            "--requests",
            "160",
            "--collide-ratio",
            "1",
        ],
    );
    let s = &report["scenarios"][0];
    let (booked, taken) = (
        s["booked"].as_u64().unwrap(),
        s["slot_taken"].as_u64().unwrap(),
    );
    // Three hot slots per org, three orgs: at most nine can be booked.
    assert!(booked <= 9, "{report:#}");
    assert!(taken >= 150, "{report:#}");
    assert_eq!(booked + taken + s["errors"].as_u64().unwrap(), 160);
    assert_eq!(report["double_bookings"], 0);
    assert_eq!(overlaps(&db), 0);
    assert_eq!(row_counts(&db), before);
}

#[test]
fn budget_exceeded_is_exit_1() {
    let db = seeded_db();
    dbkit()
        .args(["bench", "--database-url", &db.url_string()])
        .args([
            "--concurrency",
            "2",
            "--requests",
            "20",
            "--budget-p95-ms",
            "0.001",
        ])
        .timeout(Duration::from_secs(60))
        .assert()
        .code(1)
        .stdout(predicates::str::contains("FAILED: custom-2: p95"));
}

#[test]
fn killed_connections_stop_the_run_with_exit_2_and_clean_up() {
    let db = seeded_db();
    let before = row_counts(&db);
    let mut child = Command::new(env!("CARGO_BIN_EXE_dbkit"))
        .args(["bench", "--database-url", &db.url_string()])
        .args(["--concurrency", "4", "--duration", "60s"])
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start dbkit bench");
    // Wait until the bench has committed bookings, then terminate its backends until it gives up.
    let started = Instant::now();
    loop {
        let n: i64 =
            db.query("SELECT count(*) FROM appointments WHERE notes LIKE 'dbkit-bench%'")[0].get(0);
        if n > 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the bench never booked"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = loop {
        db.query(&format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE application_name = 'dbkit-bench' AND datname = '{}'",
            db.name()
        ));
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "bench did not stop"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("error: bench lost its database connection"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: the run stopped"), "{stderr}");
    let left: i64 =
        db.query("SELECT count(*) FROM appointments WHERE notes LIKE 'dbkit-bench%'")[0].get(0);
    assert_eq!(left, 0, "rows of completed bookings must be removed");
    assert_eq!(row_counts(&db), before);
}

#[test]
fn cleanup_removes_rows_of_crashed_runs_only() {
    let db = seeded_db();
    let before = row_counts(&db);
    db.execute(
        "INSERT INTO appointments (org_id, provider_id, contact_id, scheduled_at, ends_at, notes)
         SELECT org_id, provider_id, contact_id, now() + interval '3000 days' + n * interval '1 hour',
                now() + interval '3000 days 30 minutes' + n * interval '1 hour',
                'dbkit-bench run 00000000-0000-0000-0000-000000000000'
         FROM (SELECT org_id, provider_id, contact_id, row_number() OVER () AS n FROM appointments LIMIT 2) a;
         UPDATE appointments SET notes = 'dbkit-bench is great' WHERE id = (SELECT id FROM appointments WHERE notes IS NULL ORDER BY id LIMIT 1)",
    );
    dbkit()
        .args(["bench", "--cleanup", "--database-url", &db.url_string()])
        .assert()
        .success()
        .stdout(predicates::str::contains("removed 2 appointment(s)"));
    assert_eq!(row_counts(&db), before);
}

/// `dbkit bench --format json` on `db` with `args`, expecting exit `code`: its report
/// (stderr, which carries the lab's notes with `--before`, is not checked here).
fn bench_report(db: &TestDb, args: &[&str], code: i32) -> Value {
    let out = dbkit()
        .args([
            "bench",
            "--format",
            "json",
            "--database-url",
            &db.url_string(),
        ])
        .args(args)
        .timeout(Duration::from_secs(300))
        .assert()
        .code(code)
        .get_output()
        .stdout
        .clone();
    serde_json::from_slice(&out).expect("bench JSON")
}

/// `bench --before 3 --orgs 1` and `args` on `db`, as JSON.
fn before_json(db: &TestDb, args: &[&str]) -> Value {
    let before = ["--before", "3", "--orgs", "1"];
    bench_report(db, &[&before[..], args].concat(), 0)
}

#[test]
fn before_compares_v3_with_head_on_a_scratch_database() {
    let db = seeded_db();
    let before = row_counts(&db);
    let v = before_json(&db, &["--concurrency", "2", "--requests", "40"]);
    assert_eq!(v["before_version"], 3);
    assert_eq!(v["after_version"], 6);
    let c = &v["comparison"][0];
    assert_eq!(c["name"], "custom-2");
    assert!(
        c["p95_before_ms"].as_f64().unwrap() > 0.0 && c["p95_after_ms"].as_f64().unwrap() > 0.0
    );
    assert_eq!(v["scenarios"][0]["requests"], 40);
    assert_eq!(v["double_bookings"], 0);
    assert_eq!(v["before"]["own_rows_left"], 0);
    assert_eq!(v["after"]["own_rows_left"], 0);
    // The target database was not touched.
    assert_eq!(row_counts(&db), before);
}

/// `bench --before` builds through the lab and its cache, as `explain --before` does:
/// with `--cache` (the test cluster is a URL target) the first run stores the seeded
/// database at V3 and the migrated head as templates, a second run clones both.
#[test]
fn a_second_before_run_reuses_the_lab_templates() {
    let db = seeded_db();
    let run = || before_json(&db, &["--cache", "--concurrency", "1", "--requests", "10"]);
    let (first, second) = (run(), run());
    let cache = |v: &Value, side: &str| v["lab_cache"][side].as_str().unwrap_or("").to_string();
    for side in ["seeded", "head"] {
        let stored = cache(&first, side);
        let template = stored.strip_prefix("stored ").unwrap_or_else(|| {
            panic!(
                "the first run stores the {side} template: {}",
                first["lab_cache"]
            )
        });
        assert!(template.starts_with("dbkit_cache_"), "{stored}");
        assert_eq!(
            cache(&second, side),
            format!("reused {template}"),
            "the second run clones the {side} template"
        );
    }
    assert_eq!(second["after"]["own_rows_left"], 0);
    dbkit()
        .args(["db", "prune-cache", "--database-url", &db.url_string()])
        .assert()
        .success();
}

#[test]
fn an_unseeded_database_is_a_clear_error() {
    let db = common::fresh_db();
    dbkit()
        .args(["migrate", "--database-url", &db.url_string()])
        .timeout(Duration::from_secs(120))
        .assert()
        .success();
    dbkit()
        .args([
            "bench",
            "--scenario",
            "burst",
            "--database-url",
            &db.url_string(),
        ])
        .timeout(Duration::from_secs(60))
        .assert()
        .code(2)
        .stderr(predicates::str::contains("error: no org has members"))
        .stderr(predicates::str::contains("hint: seed the database first"));
}

/// A copy of the repository's queries/ to point --queries at.
fn queries_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("queries");
    for entry in std::fs::read_dir(src).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    dir
}

#[test]
fn queries_dir_replaces_the_embedded_catalog_and_without_the_booking_statements_runs_as_a_mix() {
    let db = seeded_db();
    let dir = queries_copy();
    let path = dir.path().to_str().unwrap();
    let report = bench_json(
        &db,
        &["--concurrency", "2", "--requests", "30", "--queries", path],
    );
    assert_eq!(report["statements"], path);
    assert_eq!(report["scenarios"][0]["errors"], 0, "{report:#}");
    assert_eq!(report["own_rows_left"], 0);

    let catalog = dir.path().join("catalog.yaml");
    let text = std::fs::read_to_string(&catalog).unwrap();
    std::fs::write(
        &catalog,
        text.replace("name: booking_insert", "name: booking_upsert"),
    )
    .unwrap();
    // Without the booking statements it is any catalog: its mix runs; the report's
    // scenarios are refused, naming what is missing.
    let mix = bench_json(
        &db,
        &["--concurrency", "2", "--requests", "10", "--queries", path],
    );
    assert_eq!(mix["overall"]["requests"], 10, "{mix:#}");
    dbkit()
        .args(["bench", "--database-url", &db.url_string()])
        .args(["--scenario", "burst", "--queries", path])
        .timeout(Duration::from_secs(60))
        .assert()
        .code(2)
        .stderr(predicates::str::contains("no query `booking_insert`"))
        .stderr(predicates::str::contains("hint: bench needs catalog.yaml"));
}

/// The INSERT travels with its COMMIT: when the INSERT fails, that COMMIT rolls the
/// aborted transaction back, and the one pooled connection is clean for the next
/// booking. An INSERT that breaks a CHECK (`source = 'fax'`) fails every time: each
/// failure must be its own 23514, never 25P02 ("current transaction is aborted"),
/// which a connection left inside the failed transaction would give.
#[test]
fn a_failed_insert_is_rolled_back_by_its_pipelined_commit() {
    let db = seeded_db();
    let before = row_counts(&db);
    let dir = queries_copy();
    let insert = dir.path().join("booking_insert.sql");
    let text = std::fs::read_to_string(&insert).unwrap();
    assert!(text.contains("'voice'"), "{text}");
    std::fs::write(&insert, text.replace("'voice'", "'fax'")).unwrap();
    let queries = dir.path().to_str().unwrap();
    let report = bench_report(
        &db,
        &[
            "--concurrency",
            "1",
            "--pool-size",
            "1",
            "--requests",
            "40",
            "--queries",
            queries,
        ],
        1,
    );
    let s = &report["scenarios"][0];
    let failed = s["errors"].as_u64().unwrap();
    assert!(failed > 0, "{report:#}");
    assert_eq!(s["errors_by_sqlstate"]["23514"], failed, "{report:#}");
    assert_eq!(s["booked"], 0);
    assert_eq!(failed + s["slot_taken"].as_u64().unwrap(), 40);
    assert_eq!(row_counts(&db), before);
}

fn bench_rows(db: &TestDb) -> i64 {
    db.query("SELECT count(*) FROM appointments WHERE notes LIKE 'dbkit-bench%'")[0].get(0)
}

#[test]
fn a_concurrent_writer_on_a_public_table_does_not_fail_the_run() {
    let db = seeded_db();
    db.execute(
        "CREATE TABLE public.audit_log (id bigserial PRIMARY KEY, at timestamptz DEFAULT now())",
    );
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (url, stop) = (db.url().clone(), stop.clone());
        std::thread::spawn(move || {
            let mut written = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                common::sql(&url, "INSERT INTO public.audit_log DEFAULT VALUES");
                written += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            written
        })
    };
    let report = bench_json(&db, &["--concurrency", "3", "--duration", "2s"]);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writer.join().unwrap();
    assert!(written > 10, "the writer must have run during the bench");
    assert_eq!(report["failures"], serde_json::json!([]), "{report:#}");
    assert_eq!(report["own_rows_left"], 0);
    assert_eq!(report["inserted"], report["deleted"]);
    assert_eq!(bench_rows(&db), 0);
}

#[test]
fn sigterm_stops_the_clients_and_cleans_up_like_ctrl_c() {
    let db = seeded_db();
    let before = row_counts(&db);
    let child = Command::new(env!("CARGO_BIN_EXE_dbkit"))
        .args(["bench", "--database-url", &db.url_string()])
        .args(["--concurrency", "4", "--duration", "60s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start dbkit bench");
    let started = Instant::now();
    while bench_rows(&db) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the bench never booked"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // SAFETY: kill(2) on the pid of a child this test started and has not reaped.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("error: bench interrupted"), "{stderr}");
    assert!(stderr.contains("were removed"), "{stderr}");
    assert_eq!(bench_rows(&db), 0, "its rows must be removed");
    assert_eq!(row_counts(&db), before);
}

#[test]
fn absurd_durations_and_a_nan_budget_are_usage_errors() {
    let db = seeded_db();
    for args in [
        &["--concurrency", "2", "--duration", "18446744073709551615s"][..],
        &["--concurrency", "2", "--duration", "307445734561825861m"],
        &[
            "--concurrency",
            "2",
            "--requests",
            "5",
            "--budget-p95-ms",
            "NaN",
        ],
    ] {
        let out = dbkit()
            .args(["bench", "--database-url", &db.url_string()])
            .args(args)
            .timeout(Duration::from_secs(60))
            .assert()
            .code(2)
            .get_output()
            .clone();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        assert!(stderr.contains("\nhint: "), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(bench_rows(&db), 0, "{args:?}");
    }
}
