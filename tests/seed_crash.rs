//! `dbkit seed` when the server is killed (SIGKILL to the postmaster, then a restart),
//! on a cluster of this test's own so no other test loses its server:
//! - right after a seed exits 0, every org it reported is there (the commit was
//!   durable before the report, whatever `synchronous_commit` the server has: dbkit's
//!   own cluster runs with it off);
//! - in the middle of a `--reset` load, the crash rolls the whole seed back: the
//!   previous rows and every index and constraint are there; a rerun completes.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use dbkit::db::cluster::Cluster;
use dbkit::db::DbUrl;

const ANCHOR: &str = "2026-03-18";
const TABLES: &str = "'{orgs,org_settings,members,providers,contacts,appointments}'";

/// Stops and deletes the cluster however the test ends.
struct OwnCluster(Cluster);

impl Drop for OwnCluster {
    fn drop(&mut self) {
        let _ = self.0.destroy();
    }
}

fn scalar(url: &DbUrl, query: &str) -> String {
    let rows = common::sql(url, &format!("SELECT x::text FROM ({query}) AS q(x)"));
    rows[0].get::<_, Option<String>>(0).unwrap_or_default()
}

fn schema(url: &DbUrl) -> String {
    scalar(
        url,
        &format!(
            "SELECT string_agg(x, E'\\n' ORDER BY x) FROM ( \
             SELECT format('index %s %s valid=%s', i.indexrelid::regclass, \
                           pg_get_indexdef(i.indexrelid), i.indisvalid) \
               FROM pg_index i WHERE i.indrelid = ANY ({TABLES}::regclass[]) \
             UNION ALL \
             SELECT format('constraint %s %s %s validated=%s', c.conrelid::regclass, \
                           c.conname, pg_get_constraintdef(c.oid), c.convalidated) \
               FROM pg_constraint c WHERE c.conrelid = ANY ({TABLES}::regclass[])) s(x)"
        ),
    )
}

fn contents(url: &DbUrl) -> String {
    scalar(
        url,
        "SELECT concat_ws(':', (SELECT count(*) FROM orgs), \
         (SELECT md5(string_agg(o::text, '' ORDER BY o.id)) FROM orgs o), \
         (SELECT count(*) FROM contacts), (SELECT count(*) FROM appointments), \
         (SELECT md5(string_agg(a.id::text, '' ORDER BY a.id)) FROM appointments a))",
    )
}

/// The cluster's `dbkit` database, as a URL to pass on (its port after a restart).
fn raw_url(cluster: &Cluster) -> String {
    cluster.url().unwrap().reveal()
}

fn seed_args(url: &str, profile: &Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "seed",
        "--orgs",
        "5",
        "--anchor-date",
        ANCHOR,
        "--format",
        "json",
        "--database-url",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(url.to_string());
    args.push("--profile".into());
    args.push(profile.display().to_string());
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// SIGKILL the postmaster, wait for it to go, start the cluster again.
fn crash_and_restart(cluster: &Cluster) {
    let pid = cluster.status().unwrap().pid.expect("the cluster runs");
    let pid = nix::unistd::Pid::from_raw(pid);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL).unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while nix::sys::signal::kill(pid, None).is_ok() {
        assert!(Instant::now() < deadline, "the postmaster did not die");
        std::thread::sleep(Duration::from_millis(20));
    }
    cluster.start().unwrap();
}

#[test]
fn a_server_crash_loses_no_reported_org_and_never_an_index() {
    let dir = tempfile::tempdir().unwrap();
    let cluster = OwnCluster(Cluster::new(dir.path().join("pg")).unwrap());
    cluster.0.start().unwrap();
    let url = cluster.0.url().unwrap();
    common::dbkit()
        .args(["migrate", "--migrations"])
        .arg(common::repo_migrations())
        .args(["--database-url", &raw_url(&cluster.0)])
        .assert()
        .success();
    // WAL of asynchronous commits then waits up to 10 s for the WAL writer: a seed
    // that reported success before its commit was flushed loses orgs to the crash.
    common::batch(&url, "ALTER SYSTEM SET wal_writer_delay = '10s'");
    common::batch(&url, "SELECT pg_reload_conf()");
    let before = schema(&url);
    let profile = dir.path().join("even.yaml");
    std::fs::write(
        &profile,
        "window: {past_days: 150, future_days: 14}\n\
         orgs: {size_skew: 0, largest_providers: 4, size_jitter: 0, contacts_per_provider: 50}\n",
    )
    .unwrap();

    // Killed right after a seed reported success: everything reported survives.
    let out = common::dbkit()
        .args(seed_args(&raw_url(&cluster.0), &profile, &[]))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    crash_and_restart(&cluster.0);
    let url = cluster.0.url().unwrap();
    for t in [
        "orgs",
        "org_settings",
        "members",
        "providers",
        "contacts",
        "appointments",
    ] {
        let n: u64 = scalar(&url, &format!("SELECT count(*) FROM {t}"))
            .parse()
            .unwrap();
        assert_eq!(summary["tables"][t], n, "{t} after the crash");
    }
    let seeded = contents(&url);

    // Killed in the middle of a --reset load: the seed is rolled back as a whole.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_dbkit"))
        .args(seed_args(
            &raw_url(&cluster.0),
            &profile,
            &["--seed", "9", "--reset", "--yes"],
        ))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Any table's COPY: the load's whole length is the window (on a quiet machine the
    // appointments alone can come and go between two polls).
    let loading = "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY %'";
    let deadline = Instant::now() + Duration::from_secs(120);
    while scalar(&url, loading) == "0" {
        assert!(
            child.try_wait().unwrap().is_none(),
            "seed ended before loading"
        );
        assert!(Instant::now() < deadline, "the load did not start in time");
        std::thread::sleep(Duration::from_millis(5));
    }
    crash_and_restart(&cluster.0);
    let url = cluster.0.url().unwrap();
    let status = child.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(2),
        "the seed fails when its server goes"
    );
    assert_eq!(schema(&url), before);
    assert_eq!(
        contents(&url),
        seeded,
        "the rows of the earlier seed are intact"
    );

    // A rerun completes, with the schema whole.
    common::dbkit()
        .args(seed_args(
            &raw_url(&cluster.0),
            &profile,
            &["--seed", "9", "--reset", "--yes"],
        ))
        .assert()
        .success();
    assert_eq!(schema(&url), before);
    assert_ne!(contents(&url), seeded);
}
