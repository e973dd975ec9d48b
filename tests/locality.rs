//! `seed --reset` deletes tenant rows only on this machine: a URL counts as local only
//! when every address it connects to (hostaddr included) is loopback or a socket, and
//! a remote one is refused before any connection attempt (issue 13, item 4). The
//! binary runs in a network namespace of the test's own (`unshare --net`), where no
//! address but loopback exists, so no packet can leave even if the check failed.

mod common;

use std::process::Command;

fn seed_reset_in_own_netns(url: &str) -> std::process::Output {
    Command::new("unshare")
        .args(["--net", "--map-root-user", env!("CARGO_BIN_EXE_dbkit")])
        .args([
            "seed",
            "--reset",
            "--yes",
            "--orgs",
            "1",
            "--database-url",
            url,
        ])
        .current_dir(common::work_dir())
        .env_remove("DATABASE_URL")
        .env("NO_COLOR", "1")
        .output()
        .expect("unshare (util-linux) runs")
}

#[test]
fn remote_targets_are_refused_before_connecting() {
    for url in [
        "postgres://u@localhost:5432/app?hostaddr=10.255.255.1",
        "postgres://u@127.evil.example.com:5432/app",
        "postgres://u@localhost,db.example.com/app",
        "postgres://u@127.0.0.1/app?host=db.example.com",
    ] {
        let out = seed_reset_in_own_netns(url);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{url}: {stderr}");
        assert!(
            stderr.starts_with("error: refusing to --reset ")
                && stderr.contains("it is not on this machine"),
            "{url}: refused as remote, not after trying to connect: {stderr}"
        );
        assert!(!stderr.contains("cannot connect"), "{url}: {stderr}");
    }
}

#[test]
fn loopback_targets_pass_the_check_and_then_connect() {
    // Nothing listens on loopback in the namespace: getting as far as the connection
    // proves the locality check let it through.
    let out = seed_reset_in_own_netns("postgres://u@127.0.0.1:5432/app?hostaddr=127.0.0.1");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with("error: cannot connect to 127.0.0.1"),
        "{stderr}"
    );
}
