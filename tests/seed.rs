//! `dbkit seed` against a real PostgreSQL: counts, constraints, skew, determinism,
//! refusal on non-empty databases, profile errors. Small profile, a handful of orgs.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::{dbkit, TestDb};
use predicates::prelude::*;

/// A fresh database migrated to the head (V6: the exclusion constraint is on).
fn fresh_db() -> TestDb {
    let template = common::template("seed_head", |db| {
        dbkit()
            .args(["migrate", "--migrations"])
            .arg(common::repo_migrations())
            .args(["--database-url", &db.url_string()])
            .assert()
            .success();
    });
    common::fresh_db_from(&template)
}

/// The single value of a one-column query, as text.
fn scalar(db: &TestDb, query: &str) -> String {
    let rows = db.query(&format!("SELECT x::text FROM ({query}) AS q(x)"));
    rows[0].get::<_, Option<String>>(0).unwrap_or_default()
}

/// Run a psql script (the `load.sql` that `--to-files` writes) on `db`.
fn psql_file(db: &TestDb, path: &Path) {
    let out = std::process::Command::new("psql")
        .args([
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            &db.url_string(),
            "-f",
        ])
        .arg(path)
        .output()
        .expect("psql is installed with PostgreSQL");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

const SMALL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/seed_small.yaml"
);
const ANCHOR: &str = "2026-03-18";

fn seed(db: &TestDb, seed: u64, extra: &[&str]) -> serde_json::Value {
    let out = dbkit()
        .args([
            "seed",
            "--orgs",
            "5",
            "--profile",
            SMALL,
            "--anchor-date",
            ANCHOR,
            "--format",
            "json",
        ])
        .args([
            "--seed",
            &seed.to_string(),
            "--database-url",
            &db.url_string(),
        ])
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "seed failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

const TABLES: [&str; 6] = [
    "orgs",
    "org_settings",
    "members",
    "providers",
    "contacts",
    "appointments",
];

/// md5 of each table's contents in a fixed order.
fn table_md5s(db: &TestDb) -> BTreeMap<&'static str, String> {
    TABLES
        .iter()
        .map(|t| {
            let sql = format!(
                "SELECT md5(coalesce(string_agg(x::text, E'\\n' ORDER BY x::text), '')) FROM {t} x"
            );
            (*t, scalar(db, &sql))
        })
        .collect()
}

#[test]
fn counts_match_summary_and_rows_are_realistic() {
    let db = fresh_db();
    let summary = seed(&db, 42, &[]);
    for t in TABLES {
        let n: u64 = scalar(&db, &format!("SELECT count(*) FROM {t}"))
            .parse()
            .unwrap();
        assert_eq!(summary["tables"][t], n, "{t}");
        assert!(n > 0, "{t}");
    }
    assert_eq!(summary["tables"]["orgs"], 5);
    assert!(summary["fingerprint"].as_str().unwrap().len() == 64);
    assert!(summary["rows_per_s"].as_f64().unwrap() > 0.0);

    // V6 is applied, so the load itself proves the exclusion constraint; say it again.
    assert_eq!(
        scalar(
            &db,
            "SELECT count(*) FROM pg_constraint WHERE conname = 'appointments_no_provider_overlap'"
        ),
        "1"
    );
    assert_eq!(
        scalar(&db, "SELECT count(*) FROM appointments a JOIN appointments b ON a.provider_id = b.provider_id \
             AND a.id < b.id AND tstzrange(a.scheduled_at, a.ends_at) && tstzrange(b.scheduled_at, b.ends_at) \
             WHERE a.status <> 'cancelled' AND b.status <> 'cancelled'"
        ),
        "0"
    );
    // A contact is never booked twice at the same time.
    assert_eq!(
        scalar(&db, "SELECT count(*) FROM appointments a JOIN appointments b ON a.contact_id = b.contact_id \
             AND a.id < b.id AND tstzrange(a.scheduled_at, a.ends_at) && tstzrange(b.scheduled_at, b.ends_at)"
        ),
        "0"
    );
    // Inside business hours and days, in the org's time zone, on its slot grid.
    assert_eq!(
        scalar(&db, "SELECT count(*) FROM appointments a JOIN org_settings s USING (org_id) WHERE \
             (a.scheduled_at AT TIME ZONE s.timezone)::time < s.opens_at \
             OR (a.ends_at AT TIME ZONE s.timezone)::time > s.closes_at \
             OR NOT extract(isodow FROM a.scheduled_at AT TIME ZONE s.timezone)::int2 = ANY (s.business_days) \
             OR extract(epoch FROM a.ends_at - a.scheduled_at)::int % (s.slot_minutes * 60) <> 0"
        ),
        "0"
    );
    // Statuses fit time; both past and future exist; sources mixed; some notes.
    let anchor = format!("'{ANCHOR}T00:00:00Z'::timestamptz");
    assert_eq!(
        scalar(&db, &format!(
            "SELECT count(*) FROM appointments WHERE (scheduled_at < {anchor} AND status IN ('booked','confirmed')) \
             OR (scheduled_at >= {anchor} AND status IN ('completed','no_show'))"
        )),
        "0"
    );
    assert_eq!(
        scalar(
            &db,
            &format!("SELECT count(DISTINCT scheduled_at < {anchor}) FROM appointments")
        ),
        "2"
    );
    assert_eq!(
        scalar(&db, "SELECT count(DISTINCT source) FROM appointments"),
        "3"
    );
    assert_eq!(
        scalar(&db, "SELECT count(DISTINCT status) FROM appointments"),
        "5"
    );
    assert_ne!(scalar(&db, "SELECT count(notes) FROM appointments"), "0");
    // Every org has an owner; slugs unique; timezones are real.
    assert_eq!(scalar(&db, "SELECT count(*) FROM orgs o WHERE NOT EXISTS (SELECT 1 FROM members m WHERE m.org_id = o.id AND role = 'owner')"), "0");
    assert_eq!(scalar(&db, "SELECT count(*) FROM org_settings s WHERE NOT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = s.timezone)"), "0");

    // Skew: the largest org has at least 5x the appointments of the median org.
    let per_org = scalar(&db, "SELECT string_agg(n::text, ',' ORDER BY n) FROM (SELECT count(*) AS n FROM appointments GROUP BY org_id) c",
    );
    let counts: Vec<u64> = per_org.split(',').map(|n| n.parse().unwrap()).collect();
    assert_eq!(counts.len(), 5);
    assert!(
        counts[4] >= 5 * counts[2],
        "per-org appointments {counts:?}"
    );
}

#[test]
fn equal_seed_gives_equal_tables_and_fingerprints_and_other_seed_differs() {
    let (a, b, c) = (fresh_db(), fresh_db(), fresh_db());
    let sa = seed(&a, 7, &[]);
    let sb = seed(&b, 7, &[]);
    let sc = seed(&c, 8, &[]);
    assert_eq!(sa["fingerprint"], sb["fingerprint"]);
    assert_eq!(table_md5s(&a), table_md5s(&b));
    assert_ne!(sa["fingerprint"], sc["fingerprint"]);
    let (ma, mc) = (table_md5s(&a), table_md5s(&c));
    for t in TABLES {
        assert_ne!(ma[t], mc[t], "{t} should differ with another seed");
    }

    // --to-files writes the same rows: same fingerprint, and psql loads identical tables.
    let dir = tempfile::tempdir().unwrap();
    let out = dbkit()
        .args([
            "seed",
            "--orgs",
            "5",
            "--profile",
            SMALL,
            "--anchor-date",
            ANCHOR,
            "--format",
            "json",
        ])
        .args(["--seed", "7", "--to-files"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let files: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(files["fingerprint"], sa["fingerprint"]);
    assert_eq!(files["tables"], sa["tables"]);
    let d = fresh_db();
    psql_file(&d, &dir.path().join("load.sql"));
    assert_eq!(table_md5s(&d), ma);
}

#[test]
fn non_empty_database_is_refused_without_reset_and_unchanged() {
    let db = fresh_db();
    seed(&db, 1, &[]);
    let before = table_md5s(&db);
    dbkit()
        .args([
            "seed",
            "--orgs",
            "5",
            "--profile",
            SMALL,
            "--database-url",
            &db.url_string(),
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("already holds tenant rows"))
        .stderr(predicate::str::contains("--reset"));
    assert_eq!(table_md5s(&db), before);

    // --reset without a terminal needs --yes; nothing is deleted meanwhile.
    dbkit()
        .args([
            "seed",
            "--orgs",
            "5",
            "--profile",
            SMALL,
            "--reset",
            "--database-url",
            &db.url_string(),
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--yes"));
    assert_eq!(table_md5s(&db), before);

    // Confirmed: the old rows go, the new seed's rows are all that is left.
    let s = seed(&db, 2, &["--reset", "--yes"]);
    let n: u64 = scalar(&db, "SELECT count(*) FROM appointments")
        .parse()
        .unwrap();
    assert_eq!(s["tables"]["appointments"], n);
    assert_ne!(table_md5s(&db)["appointments"], before["appointments"]);
}

#[test]
fn reset_of_a_remote_database_needs_allow_remote() {
    dbkit()
        .args([
            "seed",
            "--reset",
            "--yes",
            "--database-url",
            "postgres://u@db.example.com:5432/app",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--allow-remote"));
}

#[test]
fn malformed_profile_fails_naming_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, "appointments:\n  occupancy: 2.5\n").unwrap();
    dbkit()
        .args(["seed", "--profile"])
        .arg(&path)
        .args(["--database-url", "postgres://u@127.0.0.1:1/x"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "bad.yaml: appointments.occupancy: must be between 0 and 0.99 (got 2.5)",
        ));

    std::fs::write(&path, "orgs:\n  timezone: {UTC: 1}\n").unwrap();
    dbkit()
        .args(["seed", "--profile"])
        .arg(&path)
        .args(["--database-url", "postgres://u@127.0.0.1:1/x"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "bad.yaml: orgs.timezone: unknown key",
        ));
}

/// Every index and constraint of the six tenant tables, with its definition and whether
/// it is valid: equal before and after any seed, finished or not.
const SCHEMA: &str = "SELECT string_agg(x, E'\\n' ORDER BY x) FROM ( \
    SELECT format('index %s %s valid=%s ready=%s', i.indexrelid::regclass, \
                  pg_get_indexdef(i.indexrelid), i.indisvalid, i.indisready) \
      FROM pg_index i WHERE i.indrelid = ANY ($T::regclass[]) \
    UNION ALL \
    SELECT format('constraint %s %s %s validated=%s', c.conrelid::regclass, c.conname, \
                  pg_get_constraintdef(c.oid), c.convalidated) \
      FROM pg_constraint c WHERE c.conrelid = ANY ($T::regclass[])) s(x)";

fn schema(db: &TestDb) -> String {
    let tables = "'{orgs,org_settings,members,providers,contacts,appointments}'";
    scalar(db, &SCHEMA.replace("$T", tables))
}

/// Five orgs of equal size, big enough that loading takes a few seconds (about 125,000
/// appointments, ~5 s in a debug build): a smaller load can finish between two polls of
/// `wait_for_load` on a busy CI machine.
fn even_profile(dir: &Path) -> std::path::PathBuf {
    let profile = dir.join("even.yaml");
    std::fs::write(
        &profile,
        "window: {past_days: 365, future_days: 30}\n\
         orgs: {size_skew: 0, largest_providers: 8, size_jitter: 0, contacts_per_provider: 50}\n",
    )
    .unwrap();
    profile
}

fn seed_args(db: &TestDb, profile: &Path) -> Vec<String> {
    [
        "seed",
        "--orgs",
        "5",
        "--anchor-date",
        ANCHOR,
        "--format",
        "json",
        "--database-url",
        &db.url_string(),
        "--profile",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([profile.display().to_string()])
    .collect()
}

fn spawn_seed(db: &TestDb, profile: &Path) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_dbkit"))
        .args(seed_args(db, profile))
        .env_remove("DATABASE_URL")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Wait until the seed `child` is streaming appointments into `db`.
fn wait_for_load(db: &TestDb, child: &mut std::process::Child) {
    let query = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' \
         AND query LIKE 'COPY appointments%'",
        db.name()
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while scalar(db, &query) == "0" {
        assert!(
            child.try_wait().unwrap().is_none(),
            "seed ended before loading"
        );
        assert!(
            std::time::Instant::now() < deadline,
            "the load did not start in time"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Wait until no other session is connected to `db` (a killed client's backend has
/// rolled back and gone).
fn wait_for_no_sessions(db: &TestDb) {
    let query = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND pid <> pg_backend_pid()",
        db.name()
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while scalar(db, &query) != "0" {
        assert!(std::time::Instant::now() < deadline, "sessions stayed");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn a_seed_ends_with_every_index_and_constraint_and_analyzed_tables() {
    let db = fresh_db();
    let before = schema(&db);
    assert!(
        before.contains("appointments_no_provider_overlap"),
        "{before}"
    );
    assert!(before.contains("appointments_org_time_idx"), "{before}");
    seed(&db, 42, &[]);
    assert_eq!(schema(&db), before);
    assert_eq!(
        scalar(
            &db,
            "SELECT count(DISTINCT starelid) FROM pg_statistic WHERE starelid = ANY \
             ('{orgs,org_settings,members,providers,contacts,appointments}'::regclass[])"
        ),
        "6"
    );
}

#[test]
fn interrupted_seed_keeps_nothing_and_the_schema_whole() {
    let dir = tempfile::tempdir().unwrap();
    let profile = even_profile(dir.path());
    let db = fresh_db();
    let before = schema(&db);
    let mut child = spawn_seed(&db, &profile);
    wait_for_load(&db, &mut child);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("interrupted") && stderr.contains("nothing was kept"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
    wait_for_no_sessions(&db);
    assert_eq!(scalar(&db, "SELECT count(*) FROM orgs"), "0");
    assert_eq!(scalar(&db, "SELECT count(*) FROM appointments"), "0");
    assert_eq!(schema(&db), before);
}

#[test]
fn killed_seed_leaves_the_schema_whole_and_a_rerun_completes() {
    let dir = tempfile::tempdir().unwrap();
    let profile = even_profile(dir.path());
    let db = fresh_db();
    let before = schema(&db);
    let mut child = spawn_seed(&db, &profile);
    wait_for_load(&db, &mut child);
    child.kill().unwrap(); // SIGKILL: no handler runs
    child.wait().unwrap();
    wait_for_no_sessions(&db);
    assert_eq!(scalar(&db, "SELECT count(*) FROM orgs"), "0");
    assert_eq!(schema(&db), before);

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dbkit"))
        .args(seed_args(&db, &profile))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["tables"]["orgs"], 5);
    assert_eq!(scalar(&db, "SELECT count(*) FROM orgs"), "5");
    assert_eq!(schema(&db), before);
}

#[test]
fn a_second_seed_of_the_same_database_is_refused_while_the_first_runs() {
    let dir = tempfile::tempdir().unwrap();
    let profile = even_profile(dir.path());
    let db = fresh_db();
    let mut first = spawn_seed(&db, &profile);
    wait_for_load(&db, &mut first);
    let second = std::process::Command::new(env!("CARGO_BIN_EXE_dbkit"))
        .args(seed_args(&db, &profile))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert_eq!(second.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("another `dbkit seed` is running"),
        "{stderr}"
    );
    assert!(stderr.contains("hint:"), "{stderr}");
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with("error:")).count(),
        1
    );

    let out = first.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    for t in TABLES {
        let n: u64 = scalar(&db, &format!("SELECT count(*) FROM {t}"))
            .parse()
            .unwrap();
        assert_eq!(summary["tables"][t], n, "{t}");
    }
}

#[test]
fn profile_sizes_that_would_exhaust_memory_are_refused_naming_the_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.yaml");
    std::fs::write(
        &path,
        "orgs: {largest_providers: 10000, contacts_per_provider: 1000000}\n",
    )
    .unwrap();
    dbkit()
        .args(["seed", "--to-files"])
        .arg(dir.path().join("out"))
        .arg("--profile")
        .arg(&path)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "huge.yaml: orgs.contacts_per_provider:",
        ))
        .stderr(predicate::str::contains("orgs.largest_providers (10000)"))
        .stderr(predicate::str::contains("hint:"));
}
