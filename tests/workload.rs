//! explain, bench and rehearse on a project's own queries, on two schemas dbkit was not
//! written for: examples/salon (Supabase layout, RLS through a SECURITY DEFINER
//! membership helper) and tests/fixtures/workload/clinic (tenant from a JWT claim under
//! app_metadata, no membership table). `queries init` derives the catalog from the
//! schema; `--from-stats` reads it from pg_stat_statements after psql sent queries;
//! `--write-migration` writes the suggested index; bad catalog input is named by file
//! and line while the rest runs. Through the real binary, in the project's directory,
//! against a real PostgreSQL.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{dbkit_in, work_dir, TestDb};
use serde_json::Value;

/// The salon's versions: before its index migration, and that migration.
const SALON_BEFORE_INDEX: &str = "20250106093000";
/// The clinic's versions: with its claim policies, before the guards migration.
const CLINIC_POLICIES: &str = "20240105091500";

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// A work directory holding a copy of a project.
fn project(from: &str) -> PathBuf {
    let dir = work_dir();
    common::copy_tree(&repo(from), &dir);
    dir
}

/// Run dbkit in `dir` on `db`; the exit code must be one of `codes`. stdout, stderr.
fn run(dir: &Path, db: &TestDb, args: &[&str], codes: &[i32]) -> (String, String) {
    let out = dbkit_in(dir)
        .args(args)
        .args(["--database-url", &db.url_string()])
        .timeout(Duration::from_secs(300))
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    );
    assert!(
        codes.contains(&out.status.code().unwrap_or(-1)),
        "dbkit {args:?} exited {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status.code()
    );
    (stdout, stderr)
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}):\n{text}"))
}

/// A database with the Supabase platform and `project`'s migrations (up to `target`)
/// applied: a template built once per test run, copied.
fn project_db(name: &str, project: &str, target: Option<&str>) -> TestDb {
    let project = repo(project);
    let template = common::template(name, |db| {
        let url = db.url().clone();
        common::block_on(async move {
            let client = dbkit::db::connect(&url).await?;
            dbkit::platform::provide(&client).await
        })
        .unwrap();
        let mut migrate = dbkit_in(&project);
        migrate.args(["migrate", "--database-url", &db.url_string()]);
        if let Some(target) = target {
            migrate.args(["--target", target]);
        }
        migrate.assert().success();
    });
    common::fresh_db_from(&template)
}

/// The salon migrated, with the test's rows when `rows`.
fn salon_db(rows: bool) -> TestDb {
    let db = project_db("workload_salon", "examples/salon", None);
    if rows {
        db.execute(
            &std::fs::read_to_string(repo("tests/fixtures/workload/salon_rows.sql")).unwrap(),
        );
    }
    db
}

/// Every run of an explain report ran: no query error, no catalog error.
fn assert_all_ran(report: &Value) -> &Vec<Value> {
    let runs = report["runs"].as_array().unwrap();
    assert!(!runs.is_empty(), "{report:#}");
    for run in runs {
        assert!(run.get("error").is_none(), "query error: {run:#}");
    }
    assert!(report.get("catalog_errors").is_none(), "{report:#}");
    runs
}

fn findings<'a>(runs: &'a [Value], rule: &str) -> Vec<(&'a Value, &'a Value)> {
    runs.iter()
        .flat_map(|r| {
            r["findings"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |f| (r, f))
        })
        .filter(|(_, f)| f["rule"] == rule)
        .collect()
}

/// The salon, seeded by dbkit's own seeder: `queries init` writes a catalog from the
/// schema (and will not overwrite it), then explain, bench and rehearse all run it —
/// exit 0 or 1 with results, no query error. Tenant plans name the membership helper
/// evaluated per row and the rewrite; rehearse drives the catalog's mix and reports
/// the index migration's lock on bookings.
#[test]
fn salon_queries_init_then_explain_bench_and_rehearse() {
    let dir = project("examples/salon");
    let db = salon_db(false);
    run(&dir, &db, &["seed", "--orgs", "3"], &[0]);

    let (out, _) = run(&dir, &db, &["queries", "init", "--format", "json"], &[0]);
    let written = json(&out);
    let names: Vec<&str> = written["queries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q["name"].as_str().unwrap())
        .collect();
    for wanted in [
        "bookings_newest",
        "bookings_by_staff_id",
        "bookings_dashboard",
        "bookings_no_staff_overlap_check",
    ] {
        assert!(names.contains(&wanted), "{wanted} missing from {names:?}");
    }
    let catalog = std::fs::read_to_string(dir.join("queries/catalog.yaml")).unwrap();
    assert!(!catalog.contains("appointments"), "{catalog}");
    let (_, err) = run(&dir, &db, &["queries", "init"], &[2]);
    assert!(err.contains("exists") && err.contains("--force"), "{err}");
    run(&dir, &db, &["queries", "init", "--force"], &[0]);

    let (out, _) = run(
        &dir,
        &db,
        &["explain", "--runs", "1", "--format", "json"],
        &[0, 1],
    );
    let report = json(&out);
    let runs = assert_all_ran(&report);
    let per_row = findings(runs, "rls-per-row");
    assert!(
        per_row.iter().any(|(r, f)| r["role"] == "tenant"
            && f["message"].as_str().unwrap().contains("is_org_member()")
            && f["message"]
                .as_str()
                .unwrap()
                .contains("FROM organization_members WHERE user_id = (SELECT auth.uid())")),
        "{per_row:#?}"
    );

    let (out, _) = run(
        &dir,
        &db,
        &[
            "bench",
            "--duration",
            "2s",
            "--concurrency",
            "2",
            "--format",
            "json",
        ],
        &[0, 1],
    );
    let bench = json(&out);
    assert!(
        bench["overall"]["requests"].as_u64().unwrap() > 0,
        "{bench:#}"
    );
    assert_eq!(bench["overall"]["errors"], 0, "{bench:#}");
    assert_eq!(
        bench["queries"].as_array().unwrap().len(),
        names.len(),
        "{bench:#}"
    );

    let (out, _) = run(
        &dir,
        &db,
        &[
            "rehearse",
            "--before",
            SALON_BEFORE_INDEX,
            "--orgs",
            "2",
            "--clients",
            "2",
            "--format",
            "json",
        ],
        &[0, 1],
    );
    let rehearsal = json(&out);
    assert_eq!(rehearsal["traffic"], "catalog");
    assert!(
        rehearsal["baseline"]["requests"].as_u64().unwrap() > 0,
        "{rehearsal:#}"
    );
    let statements = rehearsal["migrations"][0]["statements"].as_array().unwrap();
    assert!(
        statements.iter().any(|s| {
            s["locks"].as_array().unwrap().iter().any(|l| {
                l["relation"] == "public.bookings" && l["mode"] == "ShareUpdateExclusiveLock"
            })
        }),
        "{rehearsal:#}"
    );
    for s in statements {
        assert_eq!(s["traffic"]["errors"], 0, "{s:#}");
    }
}

/// The clinic's tenant comes from a JWT claim under app_metadata: the derived catalog
/// names that claim and tenant runs see the tenant's rows. Queries sent through psql
/// come back from pg_stat_statements as a catalog, and explain on them flags the
/// missing index and suggests it. Rehearse reports the plain CREATE INDEX's ShareLock
/// and the exclusion constraint's AccessExclusiveLock on visits.
#[test]
fn clinic_claim_schema_from_stats_explain_bench_and_rehearse() {
    let dir = project("tests/fixtures/workload/clinic");
    let db = project_db(
        "workload_clinic",
        "tests/fixtures/workload/clinic",
        Some(CLINIC_POLICIES),
    );
    db.execute(&std::fs::read_to_string(repo("tests/fixtures/workload/clinic_rows.sql")).unwrap());

    run(&dir, &db, &["queries", "init"], &[0]);
    let catalog = std::fs::read_to_string(dir.join("queries/catalog.yaml")).unwrap();
    assert!(
        catalog.contains("tenant_claim: \"app_metadata.clinic_id\""),
        "{catalog}"
    );
    let (out, _) = run(
        &dir,
        &db,
        &["explain", "--runs", "1", "--format", "json"],
        &[0, 1],
    );
    let report = json(&out);
    let runs = assert_all_ran(&report);
    let tenant_newest = runs
        .iter()
        .find(|r| r["query"] == "visits_newest" && r["role"] == "tenant")
        .unwrap();
    assert!(
        tenant_newest["buffers"].as_u64().unwrap() > 0,
        "{tenant_newest:#}"
    );
    assert!(
        !findings(runs, "rls-per-row").is_empty(),
        "the claim is read per row"
    );

    let (out, _) = run(
        &dir,
        &db,
        &[
            "bench",
            "--requests",
            "60",
            "--concurrency",
            "2",
            "--as",
            "tenant",
            "--format",
            "json",
        ],
        &[0, 1],
    );
    let bench = json(&out);
    assert_eq!(bench["overall"]["requests"], 60, "{bench:#}");
    assert_eq!(bench["overall"]["errors"], 0, "{bench:#}");

    // Live traffic through psql, read back from pg_stat_statements.
    db.execute("SELECT pg_stat_statements_reset()");
    for pet in 1..=4 {
        let status = std::process::Command::new("psql")
            .arg(db.url_string())
            .args(["-q", "-c"])
            .arg(format!(
                "select id, starts_at, reason from visits where pet_id = 'e0000000-0000-4000-0003-00000000000{pet}' order by starts_at desc limit 10"
            ))
            .stdout(std::process::Stdio::null())
            .status()
            .expect("psql runs");
        assert!(status.success());
    }
    let (out, _) = run(
        &dir,
        &db,
        &[
            "queries",
            "init",
            "--from-stats",
            "--top",
            "5",
            "--out",
            "live",
            "--format",
            "json",
        ],
        &[0],
    );
    let written = json(&out);
    assert_eq!(written["source"], "pg_stat_statements");
    let sql = std::fs::read_to_string(dir.join("live/select_visits_by_pet_id.sql")).unwrap();
    assert!(
        sql.contains("where pet_id = $2 order by starts_at desc limit $3"),
        "{sql}"
    );
    let (out, _) = run(
        &dir,
        &db,
        &[
            "explain",
            "--queries",
            "live",
            "--runs",
            "1",
            "--format",
            "json",
        ],
        &[0, 1],
    );
    let report = json(&out);
    let runs = assert_all_ran(&report);
    assert!(
        findings(runs, "seq-scan")
            .iter()
            .any(|(r, _)| r["query"] == "select_visits_by_pet_id"),
        "{report:#}"
    );
    let suggested = findings(runs, "index-suggestion");
    assert!(
        suggested.iter().any(|(_, f)| f["message"]
            .as_str()
            .unwrap()
            .contains("ON visits (pet_id)")),
        "{suggested:#?}"
    );

    let (out, _) = run(
        &dir,
        &db,
        &[
            "rehearse",
            "--before",
            CLINIC_POLICIES,
            "--orgs",
            "2",
            "--clients",
            "2",
            "--format",
            "json",
        ],
        &[0, 1],
    );
    let rehearsal = json(&out);
    let locks: Vec<(String, String)> = rehearsal["migrations"][0]["statements"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["locks"].as_array().unwrap().iter())
        .map(|l| {
            (
                l["relation"].as_str().unwrap().to_string(),
                l["mode"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for wanted in ["ShareLock", "AccessExclusiveLock"] {
        assert!(
            locks.contains(&("public.visits".to_string(), wanted.to_string())),
            "{wanted} on public.visits missing from {locks:?}"
        );
    }
}

/// The index explain suggests becomes the project's next migration — a timestamped
/// Supabase file, no-transaction, CONCURRENTLY — and `dbkit check` accepts it; and
/// `explain --before <timestamp>` shows the salon's index migration cut the buffers of
/// the calendar query.
#[test]
fn write_migration_passes_check_and_before_a_timestamp_shows_the_index() {
    let dir = project("examples/salon");
    let db = salon_db(true);
    let (_, err) = run(
        &dir,
        &db,
        &[
            "explain",
            "--runs",
            "1",
            "--write-migration",
            "add_suggested_indexes",
        ],
        &[0, 1],
    );
    let written: Vec<PathBuf> = std::fs::read_dir(dir.join("supabase/migrations"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with("_add_suggested_indexes.sql"))
        .collect();
    assert_eq!(written.len(), 1, "{err}");
    let text = std::fs::read_to_string(&written[0]).unwrap();
    assert!(text.starts_with("-- dbkit:no-transaction\n"), "{text}");
    assert!(
        text.contains("CREATE INDEX CONCURRENTLY IF NOT EXISTS"),
        "{text}"
    );
    let stem = written[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_string();
    assert!(stem[..14].chars().all(|c| c.is_ascii_digit()), "{stem}");
    let (out, _) = run(&dir, &db, &["check", "--format", "json"], &[0]);
    let check = json(&out);
    assert!(
        check["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["severity"] != "error"),
        "{check:#}"
    );

    let (out, _) = run(
        &dir,
        &db,
        &[
            "explain",
            "--before",
            SALON_BEFORE_INDEX,
            "--orgs",
            "3",
            "--only",
            "bookings_newest",
            "--runs",
            "1",
            "--format",
            "json",
        ],
        &[0, 1],
    );
    let report = json(&out);
    assert_eq!(report["setting"]["before_version"], 20_250_106_093_000i64);
    let service = report["diff"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["role"] == "service" && r["org"] == "largest")
        .unwrap_or_else(|| panic!("{report:#}"));
    assert!(
        service["after_buffers"].as_u64().unwrap() < service["before_buffers"].as_u64().unwrap(),
        "{service:#}"
    );
}

/// A query that no longer runs is an error at its file and line while the others run;
/// a sampler that finds nothing skips its query with the reason; an empty database
/// says to seed; a database without pg_stat_statements says how to enable it.
#[test]
fn bad_catalog_input_is_named_and_the_rest_runs() {
    let dir = project("examples/salon");
    let db = salon_db(true);
    run(&dir, &db, &["queries", "init"], &[0]);
    let queries = dir.join("queries");
    std::fs::write(
        queries.join("bookings_newest.sql"),
        "-- the calendar\nSELECT *\nFROM bookings\nWHERE organization_id = $1\nORDER BY starts_on DESC\nLIMIT 50\n",
    )
    .unwrap();
    let catalog = std::fs::read_to_string(queries.join("catalog.yaml")).unwrap();
    let sampler = "SELECT id FROM clients WHERE organization_id = $1 ORDER BY random() LIMIT 1";
    assert!(catalog.contains(sampler), "{catalog}");
    std::fs::write(
        queries.join("catalog.yaml"),
        catalog.replace(sampler, "SELECT id FROM clients WHERE false"),
    )
    .unwrap();
    let (out, err) = run(
        &dir,
        &db,
        &["explain", "--runs", "1", "--format", "json"],
        &[1],
    );
    let report = json(&out);
    let errors = report["catalog_errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{report:#}");
    let error = errors[0].as_str().unwrap();
    assert!(
        error.contains("bookings_newest.sql:5:") && error.contains("starts_on"),
        "{error}"
    );
    assert!(err.contains("bookings_newest.sql:5:"), "{err}");
    let runs = report["runs"].as_array().unwrap();
    assert!(runs
        .iter()
        .all(|r| r["query"] != "bookings_newest" && r["query"] != "clients_by_id"));
    assert!(
        runs.iter().any(|r| r["query"] == "bookings_dashboard"),
        "the others ran"
    );
    let notes: Vec<&str> = report["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap())
        .collect();
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("skipped clients_by_id (largest)")
                && n.contains("found no value")),
        "{notes:?}"
    );

    let empty = salon_db(false);
    let (_, err) = run(&dir, &empty, &["explain", "--runs", "1"], &[2]);
    assert!(err.contains("seed"), "{err}");

    empty.execute("DROP EXTENSION IF EXISTS pg_stat_statements");
    let (_, err) = run(
        &dir,
        &empty,
        &["queries", "init", "--from-stats", "--out", "x"],
        &[2],
    );
    assert!(
        err.contains("pg_stat_statements") && err.contains("CREATE EXTENSION"),
        "{err}"
    );
}
