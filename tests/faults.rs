//! Fault injection: the server is killed (SIGKILL to the postmaster and its backends,
//! then restarted) or dbkit's backend is terminated (`pg_terminate_backend`) while
//! `migrate`, `seed`, `bench` and `explain --before` work. Afterwards: the migration
//! history matches the schema, only whole orgs are present, `bench --cleanup` leaves no
//! bench rows, the target of `--before` is untouched, and a rerun completes.
//!
//! These tests crash a cluster of their own (not the shared test cluster), one test at a
//! time.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use dbkit::db::cluster::Cluster;
use dbkit::db::DbUrl;

const SMALL_PROFILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/seed_small.yaml"
);

/// The crashable cluster, and the turn to crash it (under nextest, the test group
/// `crashing-cluster` of .config/nextest.toml).
struct Crashable {
    cluster: Cluster,
}

static CLUSTER: OnceLock<Crashable> = OnceLock::new();
static TURN: Mutex<()> = Mutex::new(());

fn crashable() -> (&'static Crashable, MutexGuard<'static, ()>) {
    let turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    let c = CLUSTER.get_or_init(|| {
        let cluster = Cluster::new(common::harness_dir().join("faults-pg")).expect("cluster path");
        cluster.start().expect("the fault cluster starts");
        Crashable { cluster }
    });
    // A previous test may have left it down.
    c.cluster.start().expect("the fault cluster runs");
    (c, turn)
}

impl Crashable {
    fn server(&self) -> DbUrl {
        self.cluster.server_url().expect("cluster url")
    }

    /// A fresh database on the crashable cluster.
    fn fresh_db(&self, name: &str) -> DbUrl {
        let server = self.server();
        common::batch(
            &server,
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        );
        common::batch(&server, &format!("CREATE DATABASE {name}"));
        server.with_dbname(name)
    }

    /// SIGKILL the postmaster and every backend of it (what a power cut or the OOM
    /// killer does), then start the cluster again.
    fn crash_and_restart(&self) {
        let pid_file = self.cluster.data_dir().join("postmaster.pid");
        let text = std::fs::read_to_string(&pid_file).expect("postmaster.pid");
        let pid: i32 = text.lines().next().unwrap().trim().parse().unwrap();
        let children = children_of(pid);
        let kill = |p: i32| {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(p),
                nix::sys::signal::Signal::SIGKILL,
            );
        };
        kill(pid);
        children.into_iter().for_each(kill);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        self.cluster
            .start()
            .expect("the cluster restarts after the crash");
    }
}

fn children_of(parent: i32) -> Vec<i32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // The fields after the command name (which is in parentheses).
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let ppid: i32 = rest
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        if ppid == parent {
            out.push(pid);
        }
    }
    out
}

fn dbkit_bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dbkit"));
    cmd.current_dir(common::work_dir())
        .env_remove("DATABASE_URL")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

fn spawn(args: &[&str], url: &DbUrl) -> Child {
    dbkit_bin()
        .args(args)
        .args(["--database-url", &url_string(url)])
        .spawn()
        .expect("dbkit starts")
}

fn url_string(url: &DbUrl) -> String {
    url.reveal()
}

fn run(args: &[&str], url: &DbUrl) -> std::process::Output {
    let mut cmd = dbkit_bin();
    cmd.args(args)
        .args(["--database-url", &url_string(url)])
        .stdout(Stdio::piped());
    let child = cmd.spawn().expect("dbkit starts");
    child.wait_with_output().expect("dbkit ends")
}

fn assert_ok(out: &std::process::Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Wait (bounded) until `query` on `url` returns true.
fn wait_for(url: &DbUrl, query: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let ok = common::block_on({
            let url = url.clone();
            let query = query.to_string();
            async move {
                let client = dbkit::db::connect(&url).await?;
                Ok(client
                    .query_one(query.as_str(), &[])
                    .await?
                    .get::<_, bool>(0))
            }
        })
        .unwrap_or(false);
        if ok {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn exit_code(child: Child) -> (Option<i32>, String) {
    let out = child.wait_with_output().expect("dbkit ends");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn scalar(url: &DbUrl, query: &str) -> i64 {
    common::sql(url, query)[0].get(0)
}

fn migrations_with(extra: &[(&str, &str)]) -> PathBuf {
    let dir = common::work_dir().join("migrations");
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(common::repo_migrations())
        .unwrap()
        .flatten()
    {
        std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
    }
    for (name, sql) in extra {
        std::fs::write(dir.join(name), sql).unwrap();
    }
    dir
}

/// The applied versions in the history.
fn history(url: &DbUrl) -> Vec<i32> {
    common::sql(
        url,
        "SELECT version FROM refinery_schema_history ORDER BY version",
    )
    .iter()
    .map(|r| r.get(0))
    .collect()
}

const SLOW_TRANSACTIONAL: &str =
    "CREATE TABLE fault_a (id int);\nSELECT pg_sleep(4);\nCREATE TABLE fault_b (id int);\n";
const SLOW_NO_TRANSACTION: &str = "-- dbkit:no-transaction\nCREATE INDEX CONCURRENTLY IF NOT EXISTS fault_first_idx ON appointments (created_at);\nSELECT pg_sleep(4);\nCREATE INDEX CONCURRENTLY IF NOT EXISTS fault_second_idx ON appointments (updated_at);\n";

fn migrate_fault(file: &str, sql: &str, fault: Fault) {
    let (c, _turn) = crashable();
    let url = c.fresh_db(&format!("faults_migrate_{}", fault.tag()));
    let dir = migrations_with(&[(file, sql)]);
    let dir = dir.to_str().unwrap();
    assert_ok(
        &run(&["migrate", "--target", "6", "--migrations", dir], &url),
        "migrate to V6",
    );
    let child = spawn(&["migrate", "--migrations", dir], &url);
    wait_for(
        &url,
        "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(4)%')",
        "the migration's sleep",
    );
    fault.inject(c, &url);
    let (code, stderr) = exit_code(child);
    assert_eq!(code, Some(2), "a fault mid-migration is exit 2: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    // The history matches the schema: V7 is not recorded, and a transactional V7 left
    // nothing behind.
    assert_eq!(history(&url), vec![1, 2, 3, 4, 5, 6], "{stderr}");
    if !sql.starts_with("-- dbkit:no-transaction") {
        assert_eq!(
            scalar(
                &url,
                "SELECT count(*) FROM pg_class WHERE relname IN ('fault_a', 'fault_b')"
            ),
            0,
            "nothing of the transactional V7 was kept"
        );
    }
    // A rerun completes and records V7 once; no INVALID index is left.
    assert_ok(&run(&["migrate", "--migrations", dir], &url), "the rerun");
    assert_eq!(history(&url), vec![1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(
        scalar(&url, "SELECT count(*) FROM pg_index WHERE NOT indisvalid"),
        0,
        "no INVALID index"
    );
}

#[derive(Clone, Copy)]
enum Fault {
    Crash,
    Terminate,
}

impl Fault {
    fn tag(self) -> &'static str {
        match self {
            Fault::Crash => "crash",
            Fault::Terminate => "terminate",
        }
    }

    /// Crash the server, or terminate every backend on `url`'s database but ours.
    fn inject(self, c: &Crashable, url: &DbUrl) {
        match self {
            Fault::Crash => c.crash_and_restart(),
            Fault::Terminate => {
                common::batch(
                    &c.server(),
                    &format!(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                         WHERE datname = '{}' AND pid <> pg_backend_pid()",
                        url.dbname()
                    ),
                );
            }
        }
    }
}

#[test]
fn a_crash_during_a_transactional_migration_keeps_history_and_schema_in_step() {
    migrate_fault("V7__slow_tables.sql", SLOW_TRANSACTIONAL, Fault::Crash);
}

#[test]
fn a_crash_during_a_no_transaction_migration_resumes_on_rerun() {
    migrate_fault("V7__slow_indexes.sql", SLOW_NO_TRANSACTION, Fault::Crash);
}

#[test]
fn a_terminated_backend_during_a_migration_is_exit_2_and_resumes() {
    migrate_fault("V7__slow_tables.sql", SLOW_TRANSACTIONAL, Fault::Terminate);
}

/// Orgs that lack any of the rows every seeded org has (settings, an owner member, a
/// provider, contacts): a partly written org.
const PARTIAL_ORGS: &str = "SELECT count(*) FROM orgs o WHERE \
       NOT EXISTS (SELECT 1 FROM org_settings s WHERE s.org_id = o.id) \
    OR NOT EXISTS (SELECT 1 FROM members m WHERE m.org_id = o.id) \
    OR NOT EXISTS (SELECT 1 FROM providers p WHERE p.org_id = o.id) \
    OR NOT EXISTS (SELECT 1 FROM contacts c WHERE c.org_id = o.id)";

/// The V6 schema's indexes and constraints, to compare with after a fault.
const SCHEMA_SHAPE: &str =
    "SELECT (SELECT count(*) FROM pg_indexes WHERE schemaname = 'public') * 1000 \
     + (SELECT count(*) FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace \
        WHERE n.nspname = 'public')";

#[test]
fn a_crash_during_seed_leaves_whole_orgs_and_a_complete_schema() {
    let (c, _turn) = crashable();
    let url = c.fresh_db("faults_seed");
    assert_ok(&run(&["migrate"], &url), "migrate");
    let shape = scalar(&url, SCHEMA_SHAPE);
    let child = spawn(&["seed", "--orgs", "300", "--profile", SMALL_PROFILE], &url);
    // A seed is one transaction (all orgs or none): crash it while it loads.
    wait_for(
        &url,
        "SELECT count(*) > 0 FROM pg_stat_activity WHERE query ILIKE 'COPY%appointments%'",
        "the seed loading appointments",
    );
    c.crash_and_restart();
    let (code, stderr) = exit_code(child);
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(scalar(&url, PARTIAL_ORGS), 0, "only whole orgs are present");
    assert_eq!(
        scalar(&url, "SELECT count(*) FROM orgs"),
        0,
        "nothing was reported"
    );
    assert_eq!(
        scalar(&url, SCHEMA_SHAPE),
        shape,
        "every index and constraint is still there"
    );
    // A rerun completes (the crashed seed's orgs are dbkit's own: --reset removes them).
    assert_ok(
        &run(
            &[
                "seed",
                "--orgs",
                "3",
                "--profile",
                SMALL_PROFILE,
                "--reset",
                "--yes",
            ],
            &url,
        ),
        "the rerun",
    );
    assert_eq!(scalar(&url, "SELECT count(*) FROM orgs"), 3);
    assert_eq!(scalar(&url, SCHEMA_SHAPE), shape);
}

#[test]
fn what_seed_reports_survives_a_crash_right_after_it() {
    let (c, _turn) = crashable();
    let url = c.fresh_db("faults_seed_durable");
    assert_ok(&run(&["migrate"], &url), "migrate");
    let out = run(
        &[
            "seed",
            "--orgs",
            "6",
            "--profile",
            SMALL_PROFILE,
            "--format",
            "json",
        ],
        &url,
    );
    assert_ok(&out, "seed");
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let reported = summary["tables"]["orgs"].as_i64().unwrap();
    c.crash_and_restart();
    assert_eq!(
        scalar(&url, "SELECT count(*) FROM orgs"),
        reported,
        "every org seed reported is durable"
    );
}

#[test]
fn a_crash_during_bench_leaves_nothing_after_cleanup() {
    let (c, _turn) = crashable();
    let url = c.fresh_db("faults_bench");
    assert_ok(&run(&["migrate"], &url), "migrate");
    assert_ok(
        &run(&["seed", "--orgs", "3", "--profile", SMALL_PROFILE], &url),
        "seed",
    );
    let orgs_before = scalar(&url, "SELECT count(*) FROM appointments");
    let child = spawn(&["bench", "--concurrency", "4", "--duration", "60s"], &url);
    wait_for(
        &url,
        "SELECT count(*) > 0 FROM appointments WHERE notes LIKE 'dbkit-bench run %'",
        "bench rows",
    );
    c.crash_and_restart();
    let (code, stderr) = exit_code(child);
    assert_eq!(code, Some(2), "{stderr}");
    assert_ok(&run(&["bench", "--cleanup"], &url), "bench --cleanup");
    assert_eq!(
        scalar(
            &url,
            "SELECT count(*) FROM appointments WHERE notes LIKE 'dbkit-bench run %'"
        ),
        0,
        "no stray bench rows"
    );
    assert_eq!(
        scalar(&url, "SELECT count(*) FROM appointments"),
        orgs_before
    );
}

#[test]
fn a_crash_during_explain_before_leaves_the_target_untouched() {
    let (c, _turn) = crashable();
    let url = c.fresh_db("faults_explain");
    assert_ok(&run(&["migrate"], &url), "migrate");
    assert_ok(
        &run(&["seed", "--orgs", "2", "--profile", SMALL_PROFILE], &url),
        "seed",
    );
    let fingerprint =
        "SELECT count(*) * 7 + sum(hashtext(id::text || status))::bigint FROM appointments";
    let before = scalar(&url, fingerprint);
    let child = spawn(
        &[
            "explain",
            "--before",
            "3",
            "--orgs",
            "2",
            "--profile",
            SMALL_PROFILE,
            "--format",
            "json",
        ],
        &url,
    );
    wait_for(
        &c.server(),
        "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname LIKE 'dbkit_scratch_%')",
        "the scratch database",
    );
    c.crash_and_restart();
    let (code, stderr) = exit_code(child);
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(scalar(&url, fingerprint), before, "the target is untouched");
    // A rerun completes (and drops the crashed run's scratch database).
    assert_ok(
        &run(
            &[
                "explain",
                "--before",
                "3",
                "--orgs",
                "2",
                "--profile",
                SMALL_PROFILE,
                "--format",
                "json",
            ],
            &url,
        ),
        "the rerun",
    );
    assert_eq!(scalar(&url, fingerprint), before);
    assert_eq!(
        scalar(
            &c.server(),
            "SELECT count(*) FROM pg_database WHERE datname LIKE 'dbkit_scratch_%'"
        ),
        0,
        "no scratch database is left"
    );
}
