//! `dbkit db start|stop|status|url|destroy` on the real binary, each test in a
//! directory of its own; and the harness itself (fresh databases, templates).

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, Instant};

use dbkit::db::cluster::Cluster;
use dbkit::db::scratch::ScratchDb;
use dbkit::db::DbUrl;
use nix::unistd::User;
use predicates::prelude::*;

fn status_json(dir: &Path) -> serde_json::Value {
    let out = common::dbkit_in(dir)
        .args(["db", "status", "--format", "json"])
        .assert()
        .success();
    serde_json::from_slice(&out.get_output().stdout).expect("status is JSON")
}

fn stdout_of(cmd: &mut assert_cmd::Command) -> String {
    let out = cmd.assert().success();
    String::from_utf8_lossy(&out.get_output().stdout).into_owned()
}

fn wait_until_dead(pid: i32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        match fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return,
            Ok(stat) if stat.contains(") Z ") => return,
            Ok(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    panic!("postmaster {pid} did not die");
}

#[test]
fn lifecycle_start_status_url_crash_stop_destroy() {
    let dir = common::work_dir();
    let data = dir.join(".dbkit/pg/data");

    common::dbkit_in(&dir)
        .args(["db", "start"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with(
            "created and started local PostgreSQL ",
        ));
    let status = status_json(&dir);
    assert_eq!(status["running"], true, "{status}");
    let port = status["port"].as_u64().expect("a port") as u16;
    assert_eq!(status["data_dir"], data.display().to_string());
    assert!(
        !status["version"].as_str().unwrap_or("").is_empty(),
        "{status}"
    );

    common::dbkit_in(&dir)
        .args(["db", "start"])
        .assert()
        .success()
        .stdout(format!("already running on port {port} (.dbkit/pg)\n"));

    let table = stdout_of(common::dbkit_in(&dir).args(["db", "status"]));
    assert!(
        table.contains("running") && table.contains(&port.to_string()),
        "{table}"
    );

    let url = stdout_of(common::dbkit_in(&dir).args(["db", "url"]));
    let password = fs::read_to_string(dir.join(".dbkit/pg/password")).unwrap();
    assert_eq!(
        url,
        format!(
            "postgresql://postgres:{}@127.0.0.1:{port}/dbkit\n",
            password.trim()
        )
    );
    let url = DbUrl::parse(url.trim(), "test").unwrap();
    let rows = common::sql(
        &url,
        "SELECT current_database(), array_agg(extname::text) FROM pg_extension",
    );
    assert_eq!(rows[0].get::<_, String>(0), "dbkit");
    let extensions: Vec<String> = rows[0].get(1);
    assert!(
        extensions.contains(&"pg_stat_statements".to_string()),
        "{extensions:?}"
    );
    let hypopg_available = !common::sql(
        &url,
        "SELECT 1 FROM pg_available_extensions WHERE name = 'hypopg'",
    )
    .is_empty();
    assert_eq!(
        extensions.contains(&"hypopg".to_string()),
        hypopg_available,
        "{extensions:?}"
    );
    let rows = common::sql(
        &url,
        "SELECT current_setting('fsync'), current_setting('listen_addresses')",
    );
    assert_eq!(rows[0].get::<_, String>(0), "off");
    assert_eq!(rows[0].get::<_, String>(1), "127.0.0.1");

    if nix::unistd::geteuid().is_root() {
        let postgres = User::from_name("postgres").unwrap().expect("user postgres");
        let owner = fs::metadata(&data).unwrap().uid();
        assert_eq!(
            owner,
            postgres.uid.as_raw(),
            "as root the data dir belongs to postgres"
        );
    }

    // A crash: kill -9 the postmaster. Its pid file stays behind (and in a container
    // whose init reaps nothing, the pid stays a zombie).
    let pid_text = fs::read_to_string(data.join("postmaster.pid")).unwrap();
    let pid: i32 = pid_text.lines().next().unwrap().trim().parse().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_until_dead(pid);
    assert_eq!(status_json(&dir)["running"], false);
    common::dbkit_in(&dir)
        .args(["db", "start"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("started local PostgreSQL "));
    let status = status_json(&dir);
    assert_eq!(status["running"], true, "{status}");
    assert_eq!(
        status["port"].as_u64(),
        Some(port as u64),
        "the port is reused"
    );
    let url = stdout_of(common::dbkit_in(&dir).args(["db", "url"]));
    let rows = common::sql(&DbUrl::parse(url.trim(), "test").unwrap(), "SELECT 1");
    assert_eq!(rows.len(), 1);

    common::dbkit_in(&dir)
        .args(["db", "stop"])
        .assert()
        .success()
        .stdout("stopped (.dbkit/pg)\n");
    assert_eq!(status_json(&dir)["running"], false);
    common::dbkit_in(&dir)
        .args(["db", "url"])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("is not running")
                .and(predicate::str::contains("dbkit db start")),
        );

    common::dbkit_in(&dir)
        .args(["db", "destroy"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--yes"));
    assert!(data.exists(), "kept without confirmation");
    common::dbkit_in(&dir)
        .args(["db", "destroy", "--yes"])
        .assert()
        .success()
        .stdout("destroyed .dbkit/pg\n");
    assert!(!dir.join(".dbkit/pg").exists());
}

#[test]
fn commands_on_a_missing_cluster() {
    let dir = common::work_dir();
    let status = status_json(&dir);
    assert_eq!(status["running"], false);
    assert!(
        status["port"].is_null() && status["version"].is_null(),
        "{status}"
    );
    common::dbkit_in(&dir)
        .args(["db", "status"])
        .assert()
        .success()
        .stdout(predicate::str::contains("not created"));
    common::dbkit_in(&dir)
        .args(["db", "stop"])
        .assert()
        .success()
        .stdout("not running (.dbkit/pg)\n");
    common::dbkit_in(&dir)
        .args(["db", "url"])
        .assert()
        .code(2)
        .stderr("error: the local cluster in .dbkit/pg is not running\nhint: start it with `dbkit db start`\n");
    common::dbkit_in(&dir)
        .args(["db", "destroy", "--yes"])
        .assert()
        .success()
        .stdout("nothing to destroy (.dbkit/pg does not exist)\n");
    assert!(!dir.join(".dbkit").exists());
}

#[test]
fn a_wrong_pg_bindir_is_named() {
    common::dbkit()
        .args(["db", "start"])
        .env("PG_BINDIR", "/nonexistent/pg/bin")
        .assert()
        .code(2)
        .stderr(
            predicate::str::starts_with(
                "error: PG_BINDIR=/nonexistent/pg/bin has no initdb and pg_ctl\nhint: ",
            )
            .and(predicate::str::contains("pg_config --bindir")),
        );
}

/// As root, run the binary as `nobody` in a directory it owns: no `postgres` user
/// switching, the data directory belongs to the caller.
#[test]
fn runs_as_an_unprivileged_user() {
    if !nix::unistd::geteuid().is_root() {
        // Not root: every other test here already runs unprivileged.
        return;
    }
    let dir = common::work_dir();
    let nobody = common::AsUser::new("nobody", &dir);
    let as_nobody = |args: &[&str]| nobody.dbkit(args);

    as_nobody(&["db", "start"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with(
            "created and started local PostgreSQL ",
        ));
    let data = dir.join(".dbkit/pg/data");
    assert_eq!(fs::metadata(&data).unwrap().uid(), nobody.uid());
    let out = as_nobody(&["db", "url"]).assert().success();
    let url = String::from_utf8_lossy(&out.get_output().stdout)
        .trim()
        .to_string();
    let rows = common::sql(
        &DbUrl::parse(&url, "test").unwrap(),
        "SELECT current_user::text",
    );
    assert_eq!(rows[0].get::<_, String>(0), "postgres");
    as_nobody(&["db", "stop"])
        .assert()
        .success()
        .stdout("stopped (.dbkit/pg)\n");
    as_nobody(&["db", "destroy", "--yes"]).assert().success();
}

/// `Database::url()` is sync and called from inside the multi-thread runtime of
/// every command: auto-start must work there.
#[tokio::test(flavor = "multi_thread")]
async fn auto_start_from_inside_a_runtime() {
    let dir = common::work_dir().join(".dbkit").join("pg");
    let database = dbkit::config::Database::Local(dir.clone());
    let url = database.url().expect("auto-start");
    let client = database.connect().await.expect("connect");
    let row = client
        .query_one("SELECT current_database()", &[])
        .await
        .unwrap();
    assert_eq!(row.get::<_, String>(0), "dbkit");
    assert_eq!(
        database.url().unwrap().to_string(),
        url.to_string(),
        "already running: same URL"
    );
    Cluster::new(dir).unwrap().destroy().unwrap();
}

#[test]
fn fresh_databases_are_separate_and_templates_copy() {
    let a = common::fresh_db();
    let b = common::fresh_db();
    assert_ne!(a.name(), b.name());
    common::batch(a.url(), "CREATE TABLE only_in_a (id int)");
    assert!(common::sql(
        b.url(),
        "SELECT 1 FROM pg_class WHERE relname = 'only_in_a'"
    )
    .is_empty());
    assert_eq!(
        DbUrl::parse(&a.url_string(), "test").unwrap().to_string(),
        a.url().to_string()
    );

    let tpl = common::template("dbkit_test_tpl", |db| {
        common::batch(
            db.url(),
            "CREATE TABLE booked (id int); INSERT INTO booked VALUES (1), (2);",
        )
    });
    let c = common::fresh_db_from(&tpl);
    let rows = common::sql(c.url(), "SELECT count(*) FROM booked");
    assert_eq!(rows[0].get::<_, i64>(0), 2);
    // Built once: a second call does not run the closure.
    common::template("dbkit_test_tpl", |_| panic!("built twice"));
}

#[tokio::test]
async fn scratch_databases_drop_and_keep() {
    let server = common::server_url();
    let scratch = ScratchDb::create(&server, "Drop Me", None).await.unwrap();
    let name = scratch.name().to_string();
    assert!(name.starts_with("dbkit_scratch_drop_me_"), "{name}");
    // A session left open on it does not stop the drop.
    let client = dbkit::db::connect(scratch.url()).await.unwrap();
    scratch.drop_now().await.unwrap();
    assert!(
        client.simple_query("SELECT 1").await.is_err(),
        "session terminated"
    );
    let exists = |name: String| {
        let server = common::server_url();
        move || {
            !common::sql(
                &server,
                &format!("SELECT 1 FROM pg_database WHERE datname = '{name}'"),
            )
            .is_empty()
        }
    };
    assert!(!exists(name)());

    let kept = ScratchDb::create(&server, "keep", Some("template1"))
        .await
        .unwrap();
    let name = kept.name().to_string();
    let url = kept.keep();
    assert_eq!(url.dbname(), name);
    assert!(exists(name.clone())());
    dbkit::db::scratch::drop_database(&server, &name)
        .await
        .unwrap();
    assert!(!exists(name)());
}

/// `--keep` databases survive the next run's leftover sweep; unkept leftovers of dead
/// processes do not (issue 13, item 11).
#[tokio::test]
async fn kept_scratch_databases_are_not_taken_for_leftovers() {
    let server = common::server_url();
    // A pid that is certainly dead: a child that has exited and been reaped.
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let kept = ScratchDb::create(&server, "keepme", None).await.unwrap();
    let kept_name = kept.name().to_string();
    kept.keep();
    // Renamed as if a dead process had kept it (the mark follows the database).
    let kept_dead = format!("dbkit_scratch_keepme_{dead}_0");
    let leftover = format!("dbkit_scratch_leftover_{dead}_0");
    common::batch(
        &server,
        &format!("ALTER DATABASE {kept_name} RENAME TO {kept_dead}"),
    );
    common::batch(&server, &format!("CREATE DATABASE {leftover}"));
    let exists = |name: &str| {
        !common::sql(
            &common::server_url(),
            &format!("SELECT 1 FROM pg_database WHERE datname = '{name}'"),
        )
        .is_empty()
    };
    // The sweep every ScratchDb::create on a local server runs.
    let dropped = dbkit::db::scratch::drop_leftovers(&server).await.unwrap();
    assert!(dropped >= 1);
    assert!(
        !exists(&leftover),
        "an unkept leftover of a dead pid is dropped"
    );
    assert!(exists(&kept_dead), "a kept database stays");
    let comment = common::sql(
        &server,
        &format!(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '{kept_dead}'"
        ),
    );
    assert!(comment[0]
        .get::<_, String>(0)
        .starts_with("dbkit: kept by pid "));
    dbkit::db::scratch::drop_database(&server, &kept_dead)
        .await
        .unwrap();
}
