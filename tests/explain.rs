//! `dbkit explain` against real PostgreSQL, driving the binary.

mod common;

use std::path::PathBuf;

use serde_json::Value;

fn repo_queries() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("queries")
}

/// A copy of the repository's queries/ to edit.
fn copied_queries() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(repo_queries()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.path().join(entry.file_name())).unwrap();
    }
    dir
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

/// A query file that no longer parses is an error at its file and line (exit 1), and
/// the other queries still run.
#[test]
fn a_broken_query_file_is_reported_by_name_and_the_rest_runs() {
    let db = seeded_db(2);
    let dir = copied_queries();
    std::fs::write(
        dir.path().join("contact_history.sql"),
        "SELECT a.id\nFROM appointments a\nWHERE a.org_id = $1 AND AND a.contact_id = $2\n",
    )
    .unwrap();
    let out = common::dbkit()
        .args([
            "explain",
            "--database-url",
            &db.url_string(),
            "--only",
            "contact_history,org_settings",
            "--runs",
            "1",
            "--queries",
        ])
        .arg(dir.path())
        .assert()
        .code(1);
    let stdout = String::from_utf8_lossy(&out.get_output().stdout).to_string();
    assert!(stdout.contains("error: "), "{stdout}");
    assert!(stdout.contains("contact_history.sql:3:"), "{stdout}");
    assert!(
        stdout.contains("org_settings"),
        "the other query ran: {stdout}"
    );
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
    // (Other tests of this file run explain --before at the same time: count only the
    // databases of processes that have ended, as this run's has.)
    let left: Vec<String> = target
        .query("SELECT datname::text FROM pg_database WHERE datname LIKE 'dbkit_scratch_explain%'")
        .iter()
        .map(|r| r.get::<_, String>(0))
        .filter(|name| {
            dbkit::db::scratch::owner_pid(name)
                .is_some_and(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists())
        })
        .collect();
    assert!(left.is_empty(), "{left:?}");
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

/// The binary started in the background (for signals and faults while it runs).
fn spawn(args: &[&str]) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_dbkit"))
        .args(args)
        .current_dir(common::work_dir())
        .env_remove("DATABASE_URL")
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start dbkit")
}

/// Poll `ready` until it holds; panics (after killing `child`) when it never does.
fn wait_until(child: &mut std::process::Child, what: &str, mut ready: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !ready() {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            if let Some(mut pipe) = child.stderr.take() {
                let _ = std::io::Read::read_to_string(&mut pipe, &mut stderr);
            }
            panic!("dbkit exited ({status}) before {what}:\n{stderr}");
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("never saw {what}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Wait for the child to exit (killing it after two minutes): exit code and stderr.
fn finish(mut child: std::process::Child) -> (Option<i32>, String) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("dbkit did not stop");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Backends on databases named like `pattern` running a statement starting with
/// `statement`.
fn busy(pattern: &str, statement: &str) -> bool {
    let sql = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname LIKE '{pattern}' AND query LIKE '{statement}%' AND state = 'active'"
    );
    common::sql(&common::server_url(), &sql)[0].get::<_, i64>(0) > 0
}

fn databases_like(pattern: &str) -> i64 {
    common::sql(
        &common::server_url(),
        &format!("SELECT count(*) FROM pg_database WHERE datname LIKE '{pattern}'"),
    )[0]
    .get(0)
}

#[test]
fn a_sampler_that_writes_fails_and_changes_nothing() {
    let db = seeded_db(2);
    let before = fingerprint(&db);
    let dir = copied_queries();
    let catalog = std::fs::read_to_string(repo_queries().join("catalog.yaml")).unwrap();
    let sampler = "SELECT provider_id FROM appointments WHERE org_id = $1";
    assert!(
        catalog.contains(sampler),
        "the busiest-provider sampler moved"
    );
    let hostile = catalog.replace(
        sampler,
        "WITH gone AS (DELETE FROM appointments WHERE org_id = $1 RETURNING provider_id) SELECT provider_id FROM gone",
    );
    std::fs::write(dir.path().join("catalog.yaml"), hostile).unwrap();
    let out = common::dbkit()
        .args([
            "explain",
            "--database-url",
            &db.url_string(),
            "--only",
            "provider_conflict_check",
            "--runs",
            "1",
            "--queries",
        ])
        .arg(dir.path())
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(stderr.contains("read-only transaction"), "{stderr}");
    assert!(stderr.contains("hint: "), "{stderr}");
    assert_eq!(fingerprint(&db), before, "a sampler changed data");
}

#[test]
fn a_lost_connection_is_one_error_line_and_a_hint() {
    let db = seeded_db(2);
    // Enough runs that explaining takes minutes unless the connection is lost.
    let mut child = spawn(&[
        "explain",
        "--database-url",
        &db.url_string(),
        "--runs",
        "100000",
        "--budget",
        "10m",
        "--no-index-suggestions",
    ]);
    wait_until(&mut child, "an EXPLAIN running", || {
        busy(db.name(), "EXPLAIN")
    });
    common::sql(
        &common::server_url(),
        &format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{}' AND pid <> pg_backend_pid()",
            db.name()
        ),
    );
    let (code, stderr) = finish(child);
    assert_eq!(code, Some(2), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(errors[0].contains("lost the connection"), "{stderr}");
    assert!(stderr.lines().any(|l| l.starts_with("hint: ")), "{stderr}");
}

/// `explain --before` stopped by `signal` once `statement` runs on its scratch
/// database: exit 2, no advice meant for a target database, the scratch database gone.
/// Stop `explain --before 3` with `signal` once a scratch database runs `statement`;
/// `databases`: how many scratch databases the run must hold at that moment.
fn stop_before_run(
    signal: nix::sys::signal::Signal,
    statement: &str,
    extra: &[&str],
    databases: i64,
) {
    let target = common::fresh_db();
    let small = small_profile();
    let url = target.url_string();
    let mut args = vec![
        "explain",
        "--database-url",
        &url,
        "--before",
        "3",
        "--profile",
        small.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let mut child = spawn(&args);
    let scratch = format!("dbkit_scratch_explain_{}_%", child.id());
    wait_until(&mut child, statement, || busy(&scratch, statement));
    assert_eq!(
        databases_like(&scratch),
        databases,
        "scratch databases held"
    );
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), signal).unwrap();
    let (code, stderr) = finish(child);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("stopped by"), "{stderr}");
    assert!(!stderr.contains("seed --reset"), "{stderr}");
    assert!(stderr.contains("was dropped"), "{stderr}");
    assert_eq!(
        databases_like(&scratch),
        0,
        "scratch database left: {stderr}"
    );
    assert_eq!(
        target.query("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")[0]
            .get::<_, i64>(0),
        0,
        "the target was touched"
    );
}

#[test]
fn ctrl_c_while_seeding_the_scratch_database_drops_it_without_seed_advice() {
    stop_before_run(
        nix::sys::signal::Signal::SIGINT,
        "COPY",
        &["--orgs", "500"],
        1,
    );
}

#[test]
fn sigterm_while_explaining_drops_the_scratch_database() {
    stop_before_run(
        nix::sys::signal::Signal::SIGTERM,
        "EXPLAIN",
        &["--orgs", "3", "--runs", "100000", "--budget", "10m"],
        1,
    );
}
