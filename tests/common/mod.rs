//! TEMPORARY test harness (branch `migrate`): fresh databases on the dev server at
//! 127.0.0.1:5499. The shared harness (one dbkit-started cluster per test process)
//! replaces this at merge time with the same API.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

const SERVER: &str = "postgres://postgres@127.0.0.1:5499";

/// A fresh database, dropped when the test passes and kept when it fails.
pub struct TestDb {
    name: String,
}

impl TestDb {
    /// Full URL of the database.
    pub fn url(&self) -> String {
        format!("{SERVER}/{}", self.name)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn query(&self, sql: &str) -> Vec<tokio_postgres::Row> {
        let url = self.url();
        block_on(async move {
            let client = connect(&url).await;
            client
                .query(sql, &[])
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
        })
    }

    pub fn execute(&self, sql: &str) {
        let url = self.url();
        block_on(async move {
            let client = connect(&url).await;
            client
                .batch_execute(sql)
                .await
                .unwrap_or_else(|e| panic!("{sql}: {e}"));
        })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("kept database {} for inspection", self.name);
            return;
        }
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        block_on(async move {
            let client = connect(&format!("{SERVER}/postgres")).await;
            let _ = client.batch_execute(&sql).await;
        });
    }
}

/// Create a database with a unique name.
pub fn fresh_db() -> TestDb {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let name = format!("dbkit_t_{}_{n}_{nanos}", std::process::id());
    let sql = format!("CREATE DATABASE {name}");
    block_on(async move {
        let client = connect(&format!("{SERVER}/postgres")).await;
        client
            .batch_execute(&sql)
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    });
    TestDb { name }
}

/// The dbkit binary, in a fresh empty working directory, with no DATABASE_URL.
pub fn dbkit() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(env!("CARGO_BIN_EXE_dbkit"));
    cmd.env_remove("DATABASE_URL")
        .env("NO_COLOR", "1")
        .current_dir(temp_dir());
    cmd
}

/// The repository's migrations directory.
pub fn repo_migrations() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("migrations")
}

fn temp_dir() -> PathBuf {
    tempfile::tempdir().expect("temp dir").keep()
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(future)
}

async fn connect(url: &str) -> tokio_postgres::Client {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| {
            panic!("cannot reach the test server {url}: {e} (is PostgreSQL running on 127.0.0.1:5499?)")
        });
    tokio::spawn(async move {
        let _ = conn.await;
    });
    client
}
