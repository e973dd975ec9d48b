//! A stop signal during work that holds a scratch database drops it: SIGTERM behaves
//! like Ctrl-C (issue 13, item 10, the scratch-database part).

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn scratch_databases_of(pid: u32) -> Vec<String> {
    common::sql(
        &common::server_url(),
        &format!(
            "SELECT datname::text FROM pg_database \
             WHERE datname LIKE 'dbkit\\_scratch\\_%\\_{pid}\\_%'"
        ),
    )
    .iter()
    .map(|r| r.get(0))
    .collect()
}

fn stop_explain_before_with(signal: nix::sys::signal::Signal) {
    let db = common::fresh_db();
    let mut child = Command::new(env!("CARGO_BIN_EXE_dbkit"))
        .args(["explain", "--before", "3", "--orgs", "2", "--database-url"])
        .arg(db.url_string())
        .arg("--migrations")
        .arg(common::repo_migrations())
        .current_dir(common::work_dir())
        .env_remove("DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(60);
    while scratch_databases_of(pid).is_empty() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "explain ended before it made its scratch database"
        );
        assert!(Instant::now() < deadline, "no scratch database after 60 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert_eq!(
        scratch_databases_of(pid),
        Vec::<String>::new(),
        "the scratch database is dropped: {stderr}"
    );
}

#[test]
fn sigterm_during_explain_before_drops_the_scratch_database() {
    stop_explain_before_with(nix::sys::signal::Signal::SIGTERM);
}

#[test]
fn ctrl_c_during_explain_before_drops_the_scratch_database() {
    stop_explain_before_with(nix::sys::signal::Signal::SIGINT);
}
