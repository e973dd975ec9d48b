//! `dbkit explain` against real PostgreSQL, driving the binary.

mod common;

use std::path::{Path, PathBuf};

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

/// INTERIM until `dbkit seed` is on main: the development seed script, small.
fn seed(db: &common::TestDb, orgs: u32) {
    let sql = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/dev_seed.sql"),
    )
    .unwrap()
    .replace(":orgs", &orgs.to_string())
    .replace(":appts", &(orgs * 2000).to_string());
    db.execute(&sql);
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
    // left alone. With the interim seed, 1 org = 20,000 appointments: big enough for
    // the planner to choose the V4 index after migrating (with a few hundred rows it may
    // keep seq-scanning), small enough for a test. --seq-scan-min-rows stays at 1000.
    let target = common::fresh_db();
    let out = common::dbkit()
        .args([
            "explain",
            "--database-url",
            &target.url_string(),
            "--before",
            "3",
            "--orgs",
            "1",
            "--runs",
            "1",
            "--format",
            "json",
        ])
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
    assert!(row["speedup"].as_f64().unwrap() > 1.0, "{row}");
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
    // After V6 the conflict check reads the provider's earlier appointments through the
    // index and filters them on ends_at: rows-removed fires at this size.
    common::dbkit()
        .args([
            "explain",
            "--database-url",
            &db.url_string(),
            "--runs",
            "1",
            "--only",
            "provider_conflict_check",
            "--seq-scan-min-rows",
            "1",
            "--fail-on",
            "rows-removed,seq-scan",
        ])
        .assert()
        .code(1);
}
