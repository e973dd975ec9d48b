//! Secrets never reach output, and the local cluster is its owner's alone: a `.env`
//! that does not parse is named by file and line, never quoted; `?password=` is
//! redacted like a userinfo password; another user of the machine cannot connect to
//! the cluster without its generated password (issue 13, items 1–3).

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;

use predicates::prelude::*;

/// An unterminated quote in `.env` with a password and an API key after it: the error
/// names the file and line 2, and shows neither secret.
#[test]
fn a_broken_env_file_is_named_by_line_never_quoted() {
    let dir = common::work_dir();
    fs::write(
        dir.join(".env"),
        "APP_NAME=booking\nDATABASE_URL=\"postgres://u:Hunter2Secret@db.example.com/app\nAPI_KEY=sk_live_51Habc\n",
    )
    .unwrap();
    let out = common::dbkit_in(&dir)
        .args(["migrate", "status"])
        .assert()
        .code(2);
    let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        stderr.starts_with("error: cannot parse .env: line 2 "),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 2, "{stderr}");
    assert!(
        stderr.lines().nth(1).unwrap().starts_with("hint: "),
        "{stderr}"
    );
    for secret in ["Hunter2Secret", "sk_live", "db.example.com"] {
        assert!(!stderr.contains(secret), "{secret} shown: {stderr}");
    }
    assert!(
        !dir.join(".dbkit").exists(),
        "no fallback to the local cluster"
    );
}

/// A password given as `?password=` works, and every URL dbkit shows hides it: in an
/// error about the server, and in the kept database's URL of `check --keep`.
#[test]
fn a_query_password_is_used_and_never_shown() {
    let db = common::fresh_db();
    let port = db.url().config().get_ports()[0];
    let password = fs::read_to_string(common::harness_dir().join("pg/password")).unwrap();
    let password = password.trim();
    let url = format!(
        "postgresql://postgres@127.0.0.1:{port}/{}?password={password}&sslmode=disable",
        db.name()
    );
    common::dbkit()
        .args(["migrate", "--database-url", &url])
        .arg("--migrations")
        .arg(common::repo_migrations())
        .assert()
        .success()
        .stdout(predicate::str::contains(password).not())
        .stderr(predicate::str::contains(password).not());

    let missing = format!("postgresql://postgres@127.0.0.1:{port}/no_such_db?password={password}");
    common::dbkit()
        .args(["migrate", "status", "--database-url", &missing])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no_such_db"))
        .stderr(predicate::str::contains(password).not());

    let out = common::dbkit()
        .args(["check", "--keep", "--database-url", &url])
        .arg("--migrations")
        .arg(common::repo_migrations())
        .assert();
    let output = out.get_output();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        all.contains("dbkit_scratch_"),
        "the kept database is named: {all}"
    );
    assert!(
        all.contains("password=***"),
        "its URL is shown redacted: {all}"
    );
    assert!(!all.contains(password), "{all}");
}

/// The harness cluster (started through `db::cluster`, as `dbkit db start` does):
/// its directory is the owner's alone, its password file mode 600, and `nobody`
/// reaches it neither over TCP without the password nor through the socket.
#[test]
fn another_user_cannot_connect_without_the_password() {
    let server = common::server_url();
    let port = server.config().get_ports()[0];
    let pg = common::harness_dir().join("pg");
    assert_eq!(fs::metadata(&pg).unwrap().mode() & 0o777, 0o700);
    let password_file = fs::metadata(pg.join("password")).unwrap();
    assert_eq!(password_file.mode() & 0o777, 0o600);
    if !nix::unistd::geteuid().is_root() {
        // Without root there is no other user to run as; the modes above are the proof.
        return;
    }
    let dir = common::work_dir();
    let nobody = common::AsUser::new("nobody", &dir);
    let attempts = [
        format!("postgresql://postgres@127.0.0.1:{port}/postgres"),
        format!("postgresql://postgres:guess@127.0.0.1:{port}/postgres"),
        format!(
            "postgresql://postgres@localhost/postgres?host={}&port={port}",
            pg.display()
        ),
    ];
    for url in &attempts {
        let out = nobody
            .dbkit(&["migrate", "status", "--database-url", url])
            .assert()
            .code(2);
        let stderr = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
        // (after the one line saying the built-in schema is used)
        assert!(
            stderr
                .lines()
                .any(|l| l.starts_with("error: cannot connect")),
            "{url}: {stderr}"
        );
    }
    // With the password (what `dbkit db url` gives the owner), it connects.
    let with_password = common::fresh_db().url_string();
    nobody
        .dbkit(&["migrate", "status", "--database-url", &with_password])
        .assert()
        .success();
}

/// A cluster made by an older dbkit (trust for every local connection, no password
/// file) gets a password and scram-sha-256 at its next start.
#[test]
fn an_old_trusting_cluster_is_secured_at_its_next_start() {
    let dir = common::work_dir();
    common::dbkit_in(&dir)
        .args(["db", "start"])
        .assert()
        .success();
    let pg = dir.join(".dbkit/pg");
    let hba = pg.join("data/pg_hba.conf");
    common::dbkit_in(&dir)
        .args(["db", "stop"])
        .assert()
        .success();
    // What dbkit wrote before it generated passwords.
    fs::write(
        &hba,
        "local all all trust\nhost all all 127.0.0.1/32 trust\n",
    )
    .unwrap();
    let old_password = fs::read_to_string(pg.join("password")).unwrap();
    fs::remove_file(pg.join("password")).unwrap();

    common::dbkit_in(&dir)
        .args(["db", "start"])
        .assert()
        .success();
    let password = fs::read_to_string(pg.join("password")).unwrap();
    assert_ne!(password, old_password, "a new password was generated");
    assert!(
        fs::read_to_string(&hba).unwrap().contains("scram-sha-256"),
        "pg_hba.conf is dbkit's again"
    );
    let out = common::dbkit_in(&dir)
        .args(["db", "url"])
        .assert()
        .success();
    let url = String::from_utf8_lossy(&out.get_output().stdout)
        .trim()
        .to_string();
    assert!(
        url.contains(password.trim()),
        "db url gives the new password"
    );
    let rows = common::sql(
        &dbkit::db::DbUrl::parse(&url, "test").unwrap(),
        "SELECT current_user::text",
    );
    assert_eq!(rows[0].get::<_, String>(0), "postgres");
    let port = url::Url::parse(&url).unwrap().port().unwrap();
    common::dbkit()
        .args(["migrate", "status", "--database-url"])
        .arg(format!("postgresql://postgres@127.0.0.1:{port}/dbkit"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("\nerror: cannot connect"));
    common::dbkit_in(&dir)
        .args(["db", "destroy", "--yes"])
        .assert()
        .success();
}
