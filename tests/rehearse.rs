//! `dbkit rehearse` through the real binary on real PostgreSQL, with one org: V4's
//! CONCURRENTLY statements take ShareUpdateExclusiveLock on appointments and make no
//! booking wait; V6's exclusion constraint takes AccessExclusiveLock and the bookings
//! stall for about as long as it runs; `--max-stall` decides the exit code; the target
//! is only read; the lab database is gone afterwards, also after SIGTERM. A migration
//! that deadlocks with the bookings is a finding, and the report goes on.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{dbkit, fresh_db, repo_migrations, TestDb};
use serde_json::Value;

fn rehearse(db: &TestDb, args: &[&str], code: i32) -> Value {
    rehearse_in(db, &repo_migrations(), args, code)
}

fn rehearse_in(db: &TestDb, migrations: &std::path::Path, args: &[&str], code: i32) -> Value {
    let out = dbkit()
        .args([
            "rehearse",
            "--format",
            "json",
            "--database-url",
            &db.url_string(),
        ])
        .args(["--migrations", migrations.to_str().unwrap()])
        .args(["--orgs", "1", "--clients", "3"])
        .args(args)
        .timeout(Duration::from_secs(600))
        .assert()
        .code(code)
        .get_output()
        .clone();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "rehearse JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// Lab databases of rehearse left on the server by processes that have ended (the
/// tests run in parallel: a running test's lab belongs to a live process). Lab names
/// are `dbkit_scratch_rehearse_<pid>_<n>`.
fn labs(db: &TestDb) -> usize {
    db.query("SELECT datname FROM pg_database WHERE datname LIKE 'dbkit\\_scratch\\_rehearse\\_%'")
        .iter()
        .map(|r| r.get::<_, String>(0))
        .filter(|name| {
            let pid = name.rsplit('_').nth(1).unwrap_or("");
            !std::path::Path::new(&format!("/proc/{pid}")).exists()
        })
        .count()
}

fn statements(v: &Value, version: i64) -> Vec<Value> {
    v["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["version"] == version)
        .unwrap_or_else(|| panic!("no V{version} in {v:#}"))["statements"]
        .as_array()
        .unwrap()
        .clone()
}

fn has_lock(s: &Value, relation: &str, mode: &str) -> bool {
    s["locks"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["relation"] == relation && l["mode"] == mode)
}

#[test]
fn v4_builds_concurrently_without_stalling_and_v6_holds_appointments() {
    let db = fresh_db();
    // The repository's V4 and V6; its V5 (six ALTER POLICY in one transaction) can
    // deadlock with the bookings, at one org too — a finding of its own (the deadlock
    // test below), not what this test is about — so a V5 that locks nothing stands in.
    let read = |name: &str| std::fs::read_to_string(repo_migrations().join(name)).unwrap();
    let (v4, v6) = (
        read("V4__appointment_indexes.sql"),
        read("V6__no_double_booking.sql"),
    );
    let dir = migrations_with(&[
        ("V4__appointment_indexes.sql", &v4),
        ("V5__stand_in.sql", "SELECT 1;\n"),
        ("V6__no_double_booking.sql", &v6),
    ]);
    let v = rehearse_in(&db, dir.path(), &["--before", "3", "--max-stall", "10m"], 0);
    assert_eq!(v["before_version"], 3);
    assert_eq!(v["stall_budget_ms"], 600_000);
    assert!(v["baseline"]["requests"].as_u64().unwrap() > 0, "{v:#}");
    assert_eq!(v["findings"], serde_json::json!([]));

    let v4 = statements(&v, 4);
    let on_appointments: Vec<&Value> = v4
        .iter()
        .filter(|s| s["sql"].as_str().unwrap().contains("ON appointments"))
        .collect();
    assert_eq!(on_appointments.len(), 5, "{v4:#?}");
    for s in on_appointments {
        assert!(
            has_lock(s, "public.appointments", "ShareUpdateExclusiveLock"),
            "{s:#}"
        );
        assert!(
            !has_lock(s, "public.appointments", "AccessExclusiveLock"),
            "{s:#}"
        );
        assert_eq!(s["traffic"]["lock_wait_ms"], 0.0, "no booking waits: {s:#}");
        assert!(s["rewrites"].as_array().unwrap().is_empty());
    }

    let v6 = statements(&v, 6);
    let exclude = v6
        .iter()
        .find(|s| s["sql"].as_str().unwrap().contains("EXCLUDE USING gist"))
        .expect("the exclusion constraint");
    assert_eq!(exclude["line"], 11);
    assert!(
        has_lock(exclude, "public.appointments", "AccessExclusiveLock"),
        "{exclude:#}"
    );
    let (ms, max, waited) = (
        exclude["ms"].as_f64().unwrap(),
        exclude["traffic"]["max_ms"].as_f64().unwrap(),
        exclude["traffic"]["lock_wait_ms"].as_f64().unwrap(),
    );
    assert!(
        exclude["traffic"]["requests"].as_u64().unwrap() > 0,
        "{exclude:#}"
    );
    assert!(waited > 0.0, "bookings waited on the lock: {exclude:#}");
    assert!(
        max >= ms * 0.5,
        "the stall ({max} ms) is about the statement's {ms} ms"
    );
    assert!(v6
        .iter()
        .any(|s| s["sql"] == "COMMIT" && s["line"].is_null()));
    let total: u64 = v["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["statements"].as_array().unwrap())
        .map(|s| s["traffic"]["requests"].as_u64().unwrap())
        .sum();
    assert!(total > 0);

    // The target was only read; the lab is gone.
    assert!(db.query("SELECT to_regclass('refinery_schema_history') IS NULL")[0].get::<_, bool>(0));
    assert_eq!(labs(&db), 0);
}

#[test]
fn max_stall_gates_the_exit_code_from_the_targets_version() {
    let db = fresh_db();
    let migrations = repo_migrations();
    dbkit()
        .args([
            "migrate",
            "--target",
            "5",
            "--database-url",
            &db.url_string(),
        ])
        .args(["--migrations", migrations.to_str().unwrap()])
        .timeout(Duration::from_secs(120))
        .assert()
        .success();
    let v = rehearse(&db, &["--max-stall", "1ms"], 1);
    assert_eq!(v["before_version"], 5, "the target's version by default");
    assert_eq!(
        v["migrations"].as_array().unwrap().len(),
        1,
        "only V6 is pending"
    );
    let findings = v["findings"].as_array().unwrap();
    let f = findings
        .iter()
        .find(|f| f["line"] == 11)
        .unwrap_or_else(|| panic!("no finding for V6:11: {v:#}"));
    assert_eq!(f["lock"], "AccessExclusiveLock on public.appointments");
    assert!(f["stall_ms"].as_f64().unwrap() > 1.0);
    assert!(f["message"]
        .as_str()
        .unwrap()
        .starts_with("V6__no_double_booking.sql:11: "));
    assert!(
        f["recipe"].as_str().unwrap().contains("maintenance window"),
        "{f:#}"
    );
    // The target is still at V5, with no rows.
    let max: i32 = db.query("SELECT max(version) FROM refinery_schema_history")[0].get(0);
    assert_eq!(max, 5);
    let rows: i64 = db.query("SELECT count(*) FROM appointments")[0].get(0);
    assert_eq!(rows, 0);
    assert_eq!(labs(&db), 0);
}

#[test]
fn sigterm_stops_the_traffic_and_drops_the_lab() {
    let db = fresh_db();
    let migrations = repo_migrations();
    let child = Command::new(env!("CARGO_BIN_EXE_dbkit"))
        .args(["rehearse", "--database-url", &db.url_string()])
        .args(["--migrations", migrations.to_str().unwrap()])
        .args([
            "--before",
            "3",
            "--orgs",
            "1",
            "--clients",
            "2",
            "--baseline",
            "60s",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start dbkit rehearse");
    // Wait for the booking traffic on this rehearsal's lab database (the other tests'
    // labs are named after their own processes).
    let started = Instant::now();
    let lab = format!("dbkit\\_scratch\\_rehearse\\_{}\\_%", child.id());
    loop {
        let n: i64 = db.query(&format!(
            "SELECT count(*) FROM pg_stat_activity
             WHERE application_name = 'dbkit-bench' AND datname LIKE '{lab}'"
        ))[0]
            .get(0);
        if n > 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "no traffic started"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // SAFETY: kill(2) on the pid of a child this test started and has not reaped.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("error: rehearse interrupted"), "{stderr}");
    assert!(
        stderr.contains("hint: the traffic was stopped and the lab database dropped"),
        "{stderr}"
    );
    assert_eq!(labs(&db), 0);
}

/// V1–V3 of the repository and `extra` files, in a directory of their own.
fn migrations_with(extra: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for name in [
        "V1__supabase_compat.sql",
        "V2__booking_schema.sql",
        "V3__tenant_rls.sql",
    ] {
        std::fs::copy(repo_migrations().join(name), dir.path().join(name)).unwrap();
    }
    for (name, sql) in extra {
        std::fs::write(dir.path().join(name), sql).unwrap();
    }
    dir
}

/// The booking transaction reads providers, then appointments. This migration locks
/// appointments, waits until every booking client is stuck behind it (each holding its
/// providers lock), then asks for providers: a deadlock every time, and the migration
/// is the one PostgreSQL cancels (the bookings' deadlock checks ran while it slept).
const LOCK_ORDER: &str = "-- appointments, then providers: the wrong order for the traffic
-- (it reads providers, then appointments).
LOCK TABLE appointments IN ACCESS EXCLUSIVE MODE;

SELECT pg_sleep(2);

LOCK TABLE providers IN ACCESS EXCLUSIVE MODE;
";

#[test]
fn a_migration_that_deadlocks_with_the_traffic_is_a_finding_and_the_report_goes_on() {
    let db = fresh_db();
    let dir = migrations_with(&[
        ("V4__lock_order.sql", LOCK_ORDER),
        ("V5__later.sql", "CREATE TABLE later (id int);\n"),
    ]);
    let v = rehearse_in(&db, dir.path(), &["--before", "3", "--max-stall", "10m"], 1);
    assert!(v["baseline"]["requests"].as_u64().unwrap() > 0, "{v:#}");
    assert_eq!(
        v["not_rehearsed"],
        serde_json::json!(["V5__later.sql"]),
        "{v:#}"
    );

    // What was measured before the failure is reported.
    let v4 = statements(&v, 4);
    let first = v4.iter().find(|s| s["line"] == 3).expect("line 3 measured");
    assert!(
        has_lock(first, "public.appointments", "AccessExclusiveLock"),
        "{first:#}"
    );
    let failed = v4.iter().find(|s| s["line"] == 7).expect("line 7 measured");
    assert_eq!(failed["error"]["sqlstate"], "40P01", "{failed:#}");
    assert_eq!(
        failed["waited_for"]["relation"], "public.providers",
        "{failed:#}"
    );

    let findings = v["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{v:#}");
    let f = &findings[0];
    assert_eq!(f["sqlstate"], "40P01");
    assert_eq!(f["line"], 7);
    assert_eq!(
        f["lock"],
        "AccessExclusiveLock on public.providers (waited for)"
    );
    let message = f["message"].as_str().unwrap();
    assert!(
        message.starts_with("V4__lock_order.sql:7: failed under the booking traffic: deadlock detected (SQLSTATE 40P01): "),
        "{message}"
    );
    // The cycle in names: the migration waits for providers behind a booking, which
    // waits for appointments behind the migration.
    assert!(
        message.contains("the migration waits for AccessExclusiveLock on public.providers, blocked by a booking (pid "),
        "{message}"
    );
    assert!(
        message.contains("on public.appointments, blocked by the migration"),
        "{message}"
    );
    assert!(
        f["recipe"]
            .as_str()
            .unwrap()
            .contains("LOCK TABLE public.providers, public.appointments IN ACCESS EXCLUSIVE MODE"),
        "{f:#}"
    );
    assert_eq!(labs(&db), 0);
}

/// Each statement as (line, sql, locks): what a rehearsal measured that does not depend
/// on timing.
fn shape(v: &Value) -> Vec<(Value, Value, Value)> {
    v["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|m| m["statements"].as_array().unwrap())
        .map(|s| (s["line"].clone(), s["sql"].clone(), s["locks"].clone()))
        .collect()
}

#[test]
fn a_second_rehearsal_reuses_the_seeded_template_and_measures_the_same() {
    let db = fresh_db();
    let args = ["--before", "5", "--max-stall", "10m", "--cache"];
    let miss = rehearse(&db, &args, 0);
    let hit = rehearse(&db, &args, 0);
    let cache = |v: &Value| v["lab_cache"].as_str().unwrap_or_default().to_string();
    let stored = cache(&miss);
    let name = stored
        .strip_prefix("stored ")
        .unwrap_or_else(|| panic!("the first run stores the template: {miss:#}"));
    assert!(name.starts_with("dbkit_cache_"), "{stored}");
    assert_eq!(cache(&hit), format!("reused {name}"), "{hit:#}");
    assert_eq!(shape(&hit), shape(&miss), "a hit and a miss agree");
    assert!(has_lock(
        &statements(&hit, 6)[1],
        "public.appointments",
        "AccessExclusiveLock"
    ));
    assert_eq!(labs(&db), 0);
}

/// `dbkit check --rehearse` from `base` with a 1 ms stall budget: its JSON and exit code.
fn check_rehearse(db: &TestDb, migrations: &std::path::Path, base: &str) -> (Value, Option<i32>) {
    let out = dbkit()
        .args([
            "check",
            "--format",
            "json",
            "--database-url",
            &db.url_string(),
        ])
        .args(["--migrations", migrations.to_str().unwrap()])
        .args([
            "--base",
            base,
            "--rehearse",
            "--orgs",
            "1",
            "--clients",
            "3",
        ])
        .args(["--max-stall", "1ms"])
        .timeout(Duration::from_secs(600))
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("check JSON ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    (v, out.status.code())
}

#[test]
fn check_rehearse_adds_the_rehearsals_findings_to_the_gate() {
    let db = fresh_db();
    let (v, code) = check_rehearse(&db, &repo_migrations(), "5");
    assert_eq!(code, Some(1), "{v:#}");
    let findings = v["findings"].as_array().unwrap();
    let stall = findings
        .iter()
        .find(|f| f["rule"] == "rehearsal-stall" && f["line"] == 11)
        .unwrap_or_else(|| panic!("no rehearsal-stall at V6:11: {v:#}"));
    assert_eq!(stall["severity"], "error");
    assert!(stall["file"]
        .as_str()
        .unwrap()
        .ends_with("V6__no_double_booking.sql"));
    assert_eq!(
        stall["object"],
        "AccessExclusiveLock on public.appointments"
    );
    assert!(
        stall["message"]
            .as_str()
            .unwrap()
            .contains("safer: no lock-free way exists"),
        "{stall:#}"
    );
    // The rehearsal is what fails the gate: the repository's migrations pass the rest.
    let errors: Vec<&Value> = findings
        .iter()
        .filter(|f| f["severity"] == "error")
        .collect();
    assert!(
        errors
            .iter()
            .all(|f| f["rule"].as_str().unwrap().starts_with("rehearsal-")),
        "{errors:#?}"
    );
    assert_eq!(labs(&db), 0);
}

/// Rehearsal findings pass through check's inline ignores like every other finding: an
/// ignore on the exclusion constraint silences its stall and is not reported unused.
#[test]
fn check_rehearse_findings_can_be_silenced_by_an_inline_ignore() {
    let db = fresh_db();
    let v6 = std::fs::read_to_string(repo_migrations().join("V6__no_double_booking.sql"))
        .unwrap()
        .replace(
            "ALTER TABLE appointments",
            "-- dbkit:ignore rehearsal-stall\nALTER TABLE appointments",
        );
    let alter_line = v6
        .lines()
        .position(|l| l.starts_with("ALTER TABLE appointments"))
        .unwrap()
        + 1;
    let dir = migrations_with(&[("V4__no_double_booking.sql", &v6)]);
    let (v, code) = check_rehearse(&db, dir.path(), "3");
    let findings = v["findings"].as_array().unwrap();
    assert!(
        !findings
            .iter()
            .any(|f| f["rule"] == "rehearsal-stall" && f["line"] == alter_line),
        "the stall at line {alter_line} was not silenced: {v:#}"
    );
    assert!(
        !findings.iter().any(|f| f["rule"] == "unused-ignore"),
        "{v:#}"
    );
    assert!(v["ran"]["ignored"].as_u64().unwrap() >= 1, "{v:#}");
    assert!(matches!(code, Some(0 | 1)), "{v:#}");
    assert_eq!(labs(&db), 0);
}
