//! The foundation's end-to-end promises: with no URL configured, `dbkit migrate` starts
//! dbkit's own cluster and migrates it (as root and as an unprivileged user), and V1
//! is a no-op where Supabase's roles and auth functions already exist.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use nix::unistd::User;
use predicates::prelude::*;
use serde_json::Value;

fn copy_migrations(into: &Path) {
    let dir = into.join("migrations");
    fs::create_dir_all(&dir).unwrap();
    for entry in fs::read_dir(common::repo_migrations()).unwrap() {
        let path = entry.unwrap().path();
        fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
    }
}

fn applied_versions(status_json: &[u8]) -> Vec<(i64, String)> {
    let rows: Value = serde_json::from_slice(status_json).expect("status is JSON");
    rows.as_array()
        .expect("an array")
        .iter()
        .map(|r| {
            (
                r["version"].as_i64().unwrap(),
                r["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn six_applied() -> Vec<(i64, String)> {
    (1..=6).map(|v| (v, "applied".to_string())).collect()
}

/// A clean checkout, no DATABASE_URL: `migrate` starts the local cluster (one line on
/// stderr), applies V1–V6, and `db stop` stops it.
#[test]
fn migrate_without_a_url_uses_the_local_cluster() {
    let dir = common::work_dir();
    copy_migrations(&dir);
    common::dbkit_in(&dir)
        .arg("migrate")
        .assert()
        .success()
        .stderr(predicate::str::contains("started local PostgreSQL"));
    let out = common::dbkit_in(&dir)
        .args(["migrate", "status", "--format", "json"])
        .assert()
        .success();
    assert_eq!(applied_versions(&out.get_output().stdout), six_applied());
    if nix::unistd::geteuid().is_root() {
        let data = dir.join(".dbkit/pg/data");
        let postgres = User::from_name("postgres").unwrap().unwrap();
        assert_eq!(fs::metadata(data).unwrap().uid(), postgres.uid.as_raw());
    }
    // Already running: no announcement the second time.
    common::dbkit_in(&dir)
        .arg("migrate")
        .assert()
        .success()
        .stderr(predicate::str::contains("started").not());
    common::dbkit_in(&dir)
        .args(["db", "stop"])
        .assert()
        .success();
    let out = common::dbkit_in(&dir)
        .args(["db", "status", "--format", "json"])
        .assert()
        .success();
    let status: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(status["running"], Value::Bool(false));
    common::dbkit_in(&dir)
        .args(["db", "destroy", "--yes"])
        .assert()
        .success();
}

/// The same as an unprivileged user (when the tests run as root; otherwise the test
/// above already is the unprivileged case).
#[test]
fn migrate_without_a_url_as_an_unprivileged_user() {
    if !nix::unistd::geteuid().is_root() {
        return;
    }
    let dir = common::work_dir();
    copy_migrations(&dir);
    let nobody = common::AsUser::new("nobody", &dir);
    nix::unistd::chown(
        &dir.join("migrations"),
        Some(nix::unistd::Uid::from_raw(nobody.uid())),
        None,
    )
    .unwrap();
    let as_nobody = |args: &[&str]| nobody.dbkit(args);
    as_nobody(&["migrate"])
        .assert()
        .success()
        .stderr(predicate::str::contains("started local PostgreSQL"));
    let out = as_nobody(&["migrate", "status", "--format", "json"])
        .assert()
        .success();
    assert_eq!(applied_versions(&out.get_output().stdout), six_applied());
    assert_eq!(
        fs::metadata(dir.join(".dbkit/pg/data")).unwrap().uid(),
        nobody.uid()
    );
    as_nobody(&["db", "stop"]).assert().success();
    as_nobody(&["db", "destroy", "--yes"]).assert().success();
}

/// Supabase already has the roles, the `auth` schema and its functions: V1 must leave
/// every one of them exactly as it was.
#[test]
fn v1_changes_nothing_where_supabase_auth_exists() {
    let db = common::fresh_db();
    // Supabase-like objects with bodies of their own, so a replacement would show.
    db.execute(
        "DO $$ BEGIN
             IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN CREATE ROLE anon NOLOGIN; END IF;
             IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN CREATE ROLE authenticated NOLOGIN; END IF;
             IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role') THEN CREATE ROLE service_role NOLOGIN BYPASSRLS; END IF;
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
         END $$;
         CREATE SCHEMA auth;
         CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS
           $f$ SELECT nullif(current_setting('request.jwt.claim.sub', true), '')::uuid /* supabase */ $f$;
         CREATE FUNCTION auth.jwt() RETURNS jsonb LANGUAGE sql STABLE AS
           $f$ SELECT nullif(current_setting('request.jwt.claims', true), '')::jsonb /* supabase */ $f$;
         CREATE FUNCTION auth.role() RETURNS text LANGUAGE sql STABLE AS
           $f$ SELECT current_setting('request.jwt.claim.role', true) $f$;",
    );
    let snapshot = |db: &common::TestDb| -> Vec<String> {
        db.query(
            "SELECT 'fn ' || p.oid::regprocedure::text || ' ' || pg_get_functiondef(p.oid)
                    || ' acl=' || coalesce(p.proacl::text, '-')
               FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
              WHERE n.nspname = 'auth'
             UNION ALL
             SELECT 'schema ' || nspname || ' owner=' || nspowner::regrole::text
                    || ' acl=' || coalesce(nspacl::text, '-')
               FROM pg_namespace WHERE nspname = 'auth'
             UNION ALL
             SELECT 'role ' || rolname || ' ' || rolcanlogin || rolbypassrls || rolinherit
               FROM pg_roles WHERE rolname IN ('anon', 'authenticated', 'service_role')
             ORDER BY 1",
        )
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect()
    };
    let before = snapshot(&db);
    assert_eq!(before.len(), 3 + 1 + 3, "{before:#?}");
    common::dbkit()
        .args([
            "migrate",
            "--target",
            "1",
            "--database-url",
            &db.url_string(),
        ])
        .arg("--migrations")
        .arg(common::repo_migrations())
        .assert()
        .success();
    assert_eq!(snapshot(&db), before);
}

/// `--database-url` > `DATABASE_URL` > `.env` > the local cluster, and an error names
/// the source of a bad URL.
#[test]
fn connection_order_flag_env_dotenv() {
    let db = common::fresh_db();
    let dead = "postgres://u:DEADPASS@127.0.0.1:1/nowhere";
    let dir = common::work_dir();
    copy_migrations(&dir);

    // .env alone is used; no local cluster gets started.
    fs::write(
        dir.join(".env"),
        format!("DATABASE_URL={}\n", db.url_string()),
    )
    .unwrap();
    common::dbkit_in(&dir)
        .args(["migrate", "--target", "2"])
        .assert()
        .success();
    assert!(
        !dir.join(".dbkit").exists(),
        "no local cluster with a .env URL"
    );
    assert_eq!(
        db.query("SELECT count(*) FROM refinery_schema_history")[0].get::<_, i64>(0),
        2
    );

    // The environment beats .env.
    fs::write(dir.join(".env"), format!("DATABASE_URL={dead}\n")).unwrap();
    common::dbkit_in(&dir)
        .env("DATABASE_URL", db.url_string())
        .args(["migrate", "status"])
        .assert()
        .success();

    // The flag beats the environment.
    common::dbkit_in(&dir)
        .env("DATABASE_URL", dead)
        .args(["migrate", "status", "--database-url", &db.url_string()])
        .assert()
        .success();

    // A malformed URL names where it came from; the password never shows.
    fs::write(
        dir.join(".env"),
        "DATABASE_URL=mysql://u:DOTENVPASS@host/db\n",
    )
    .unwrap();
    common::dbkit_in(&dir)
        .args(["migrate", "status"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains(".env"))
        .stderr(predicate::str::contains("DOTENVPASS").not());
    common::dbkit_in(&dir)
        .env("DATABASE_URL", "postgres://u:ENVPASS@[bad")
        .args(["migrate", "status"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("DATABASE_URL"))
        .stderr(predicate::str::contains("ENVPASS").not());
}

/// `dbkit migrate | head -0`: stdout is closed before dbkit writes anything, and a
/// failing migration's error line still reaches stderr (exit 2).
#[test]
fn a_closed_stdout_does_not_swallow_the_error() {
    let db = common::fresh_db();
    let dir = common::work_dir();
    fs::create_dir_all(dir.join("migrations")).unwrap();
    fs::write(
        dir.join("migrations/V1__ok.sql"),
        "CREATE TABLE fine (id int);\n",
    )
    .unwrap();
    fs::write(dir.join("migrations/V2__broken.sql"), "SELEC broken;\n").unwrap();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dbkit"))
        .args(["migrate", "--database-url", &db.url_string()])
        .current_dir(&dir)
        .stdout(writer)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("error: "), "{stderr}");
    assert!(stderr.contains("V2"), "{stderr}");
    assert!(stderr.contains("hint: "), "{stderr}");
}

/// libpq's URL semantics for every parameter: `options=-c%20search_path%3Dpublic`
/// reaches the server as `-c search_path=public` (no form encoding).
#[test]
fn url_options_keep_libpq_semantics() {
    let db = common::fresh_db();
    db.execute("CREATE SCHEMA other; CREATE TABLE other.refinery_schema_history (x int);");
    let url = format!(
        "{}?options=-c%20search_path%3Dpublic&application_name=dbkit%20test",
        db.url_string()
    );
    common::dbkit()
        .args(["migrate", "--target", "1", "--database-url", &url])
        .arg("--migrations")
        .arg(common::repo_migrations())
        .assert()
        .success();
    let rows = db.query(
        "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' \
         AND tablename = 'refinery_schema_history'",
    );
    assert_eq!(rows[0].get::<_, i64>(0), 1);
    let url = dbkit::db::DbUrl::parse(&url, "test").unwrap();
    let rows = common::sql(
        &url,
        "SELECT current_setting('search_path'), current_setting('application_name')",
    );
    assert_eq!(rows[0].get::<_, String>(0), "public");
    assert_eq!(rows[0].get::<_, String>(1), "dbkit test");
}
