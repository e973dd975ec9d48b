//! TEMPORARY stand-in for the shared harness (tests/common) until it lands on main:
//! fresh databases on the dev server (SEED_TEST_SERVER, default the team's dev
//! PostgreSQL on 127.0.0.1:5499), created from a migrated template (V1..V6), dropped
//! when the test's handle goes away. Same names as tests/common so the swap is small.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;

fn server() -> String {
    std::env::var("SEED_TEST_SERVER")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5499".into())
}

fn psql(db: &str, args: &[&str]) -> String {
    let out = Command::new("psql")
        .arg(format!("{}/{db}", server()))
        .args(["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"])
        .args(args)
        .output()
        .expect("psql must be installed for the seed tests");
    assert!(
        out.status.success(),
        "psql {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A template database holding migrations V1..V6, made once per test process.
fn template() -> &'static str {
    static TEMPLATE: OnceLock<String> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let name = format!("seed_tpl_{}", std::process::id());
        psql(
            "postgres",
            &["-c", &format!("DROP DATABASE IF EXISTS {name}")],
        );
        psql("postgres", &["-c", &format!("CREATE DATABASE {name}")]);
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "sql"))
            .collect();
        files.sort_by_key(|p| {
            let n = p.file_name().unwrap().to_string_lossy().to_string();
            n[1..n.find("__").unwrap()].parse::<u32>().unwrap()
        });
        for f in files {
            psql(&name, &["-f", f.to_str().unwrap()]);
        }
        name
    })
}

pub struct TestDb {
    name: String,
}

pub fn fresh_db() -> TestDb {
    static N: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "seed_t_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    );
    let tpl = template();
    psql(
        "postgres",
        &["-c", &format!("CREATE DATABASE {name} TEMPLATE {tpl}")],
    );
    TestDb { name }
}

impl TestDb {
    pub fn url(&self) -> String {
        format!("{}/{}", server(), self.name)
    }

    /// The first column of the first row, as text.
    pub fn scalar(&self, sql: &str) -> String {
        psql(&self.name, &["-c", sql])
    }

    pub fn psql_file(&self, path: &Path) {
        psql(&self.name, &["-f", path.to_str().unwrap()]);
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = Command::new("psql")
                .arg(format!("{}/postgres", server()))
                .args([
                    "-X",
                    "-q",
                    "-c",
                    &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
                ])
                .output();
        }
    }
}

/// The real dbkit binary, in a temporary working directory, without DATABASE_URL.
pub fn dbkit() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::cargo_bin("dbkit").unwrap();
    cmd.env_remove("DATABASE_URL")
        .current_dir(std::env::temp_dir());
    cmd
}
