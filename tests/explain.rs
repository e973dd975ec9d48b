//! `dbkit explain` against real PostgreSQL, driving the binary.

mod common;

use std::path::PathBuf;

use serde_json::Value;

fn repo_queries() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("queries")
}

/// Migrate a fresh database to the head and seed a few orgs.
fn seeded_db(orgs: u32) -> common::TestDb {
    let db = common::fresh_db();
    common::dbkit()
        .args([
            "migrate",
            "--database-url",
            &db.url_string(),
            "--migrations",
        ])
        .arg(common::repo_migrations())
        .assert()
        .success();
    seed(&db, orgs);
    db
}

fn small_profile() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seed_small.yaml")
}

/// `dbkit seed` with the seed tests' small profile (3 orgs ≈ 3,000 appointments).
fn seed(db: &common::TestDb, orgs: u32) {
    common::dbkit()
        .args([
            "seed",
            "--database-url",
            &db.url_string(),
            "--orgs",
            &orgs.to_string(),
            "--profile",
        ])
        .arg(small_profile())
        .assert()
        .success();
}

/// Row count and an order-independent checksum of every table in public.
fn fingerprint(db: &common::TestDb) -> Vec<(String, i64, String)> {
    let tables: Vec<String> = db
        .query("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
        .iter()
        .map(|r| r.get(0))
        .collect();
    tables
        .into_iter()
        .map(|t| {
            let row = &db.query(&format!(
                "SELECT count(*), coalesce(md5(string_agg(md5(x::text), '' ORDER BY md5(x::text))), '') FROM public.{t} x"
            ))[0];
            (t, row.get(0), row.get(1))
        })
        .collect()
}

fn json(output: &[u8]) -> Value {
    serde_json::from_slice(output)
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", String::from_utf8_lossy(output)))
}

#[test]
fn unknown_fail_on_rule_is_a_usage_error() {
    let out = common::dbkit()
        .args(["explain", "--fail-on", "seq-scan,slow-query"])
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(stderr.contains("unknown rule `slow-query`"), "{stderr}");
    assert!(
        stderr.contains("rls-per-row"),
        "the message lists the known rules: {stderr}"
    );
}

#[test]
fn a_broken_query_file_is_reported_by_name_before_connecting() {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(repo_queries()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    std::fs::write(
        dir.path().join("contact_history.sql"),
        "SELECT a.id\nFROM appointments a\nWHERE a.org_id = $1 AND AND a.contact_id = $2\n",
    )
    .unwrap();
    let out = common::dbkit()
        .args([
            "explain",
            "--database-url",
            "postgres://nobody@127.0.0.1:1/none",
            "--queries",
        ])
        .arg(dir.path())
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(stderr.contains("contact_history.sql:3:"), "{stderr}");
}

#[test]
fn explain_changes_no_data_including_the_insert() {
    let db = seeded_db(3);
    let before = fingerprint(&db);
    assert!(
        before
            .iter()
            .any(|(t, n, _)| t == "appointments" && *n > 1000),
        "{before:?}"
    );
    let out = common::dbkit()
        .args([
            "explain",
            "--database-url",
            &db.url_string(),
            "--runs",
            "2",
            "--format",
            "json",
        ])
        .assert()
        .success();
    let report = json(&out.get_output().stdout);
    let inserts: Vec<&Value> = report["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["query"] == "booking_insert")
        .collect();
    assert_eq!(inserts.len(), 4, "largest + median org, service + tenant");
    for run in &inserts {
        assert!(run.get("error").is_none(), "{run}");
        assert_eq!(run["phase"], "current");
    }
    assert_eq!(fingerprint(&db), before, "explain changed data");
}

#[test]
fn before_3_shows_the_conflict_check_fixed_by_the_migrations() {
    // The scratch database lives on the server of the given URL; the target itself is
    // left alone. Size: the small seed profile at 3 orgs gives ~3,000 appointments, so
    // the conflict check's seq scan before reads ≥ 1,000 rows (--seq-scan-min-rows'
    // default) and, after V4, the provider filter is selective enough (1 of ~13
    // providers) that the planner takes the (org_id, provider_id, scheduled_at) index.
    // With a few hundred rows it may keep seq-scanning a one-page table, rightly.
    let target = common::fresh_db();
    let out = common::dbkit()
        .args([
            "explain",
            "--database-url",
            &target.url_string(),
            "--before",
            "3",
            "--orgs",
            "3",
            "--runs",
            "3",
            "--format",
            "json",
            "--profile",
        ])
        .arg(small_profile())
        .assert()
        .success();
    let report = json(&out.get_output().stdout);
    let runs = report["runs"].as_array().unwrap();
    let rules = |r: &Value| -> Vec<String> {
        r["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["rule"].as_str().unwrap().to_string())
            .collect()
    };
    let conflict = |phase: &str| -> Vec<&Value> {
        runs.iter()
            .filter(|r| r["query"] == "provider_conflict_check" && r["phase"] == phase)
            .collect()
    };
    assert!(!conflict("before").is_empty());
    for run in conflict("before") {
        let seq: Vec<&str> = run["seq_scans"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        assert!(seq.contains(&"appointments"), "{run}");
        assert!(rules(run).contains(&"seq-scan".to_string()), "{run}");
    }
    for run in conflict("after") {
        assert!(run["seq_scans"].as_array().unwrap().is_empty(), "{run}");
        assert!(!rules(run).contains(&"seq-scan".to_string()), "{run}");
    }
    let tenant_per_row = |phase: &str| {
        runs.iter()
            .filter(|r| r["phase"] == phase && r["role"] == "tenant")
            .any(|r| rules(r).contains(&"rls-per-row".to_string()))
    };
    assert!(tenant_per_row("before"));
    assert!(!tenant_per_row("after"));
    let diff = report["diff"].as_array().unwrap();
    let row = diff
        .iter()
        .find(|d| d["query"] == "provider_conflict_check" && d["role"] == "service")
        .expect("a diff row for the conflict check");
    // Timings at this size are noisy; buffers are not. The speedup must be reported,
    // and the after side must read fewer blocks.
    assert!(row["speedup"].as_f64().unwrap() > 0.0, "{row}");
    assert!(
        row["after_buffers"].as_u64().unwrap() < row["before_buffers"].as_u64().unwrap(),
        "{row}"
    );
    assert_eq!(report["setting"]["before_version"], 3);
    // The scratch database is gone and the target untouched.
    let left: i64 = target
        .query("SELECT count(*) FROM pg_database WHERE datname LIKE 'dbkit_scratch_explain%'")[0]
        .get(0);
    assert_eq!(left, 0);
    assert_eq!(
        target.query("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")[0]
            .get::<_, i64>(0),
        0
    );
}

#[test]
fn fail_on_a_rule_that_fires_exits_1() {
    let db = seeded_db(2);
    common::dbkit()
        .args([
            "explain",
            "--database-url",
            &db.url_string(),
            "--runs",
            "1",
            "--only",
            "booking_insert,org_settings",
            "--fail-on",
            "disk-sort",
            "--format",
            "json",
        ])
        .assert()
        .success();
    // org_settings holds one row per org (2 here), read by a Seq Scan that keeps 1: a seq-scan finding
    // once the row threshold is down to 1.
    common::dbkit()
        .args([
            "explain",
            "--database-url",
            &db.url_string(),
            "--runs",
            "1",
            "--only",
            "org_settings",
            "--seq-scan-min-rows",
            "1",
            "--fail-on",
            "rows-removed,seq-scan",
        ])
        .assert()
        .code(1);
}
