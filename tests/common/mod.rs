//! Test harness shared by every integration test (`mod common;`).
//!
//! - One PostgreSQL cluster per test process (per run under cargo-nextest, where
//!   every test is a process), started with `dbkit::db::cluster` under the system
//!   temp directory on first use, stopped and deleted when the process exits. Runs
//!   that were killed leave their directory behind; the next run deletes it. A
//!   nextest run's cluster outlives the run (its processes come and go) until a
//!   later test run finds it unused for ten minutes.
//! - `fresh_db()`: an empty database of its own for each test (`fresh_db_from` copies
//!   a template built once with `template`).
//! - `dbkit()`: the real binary in an empty directory of its own, without
//!   `DATABASE_URL`, with `NO_COLOR=1` (`dbkit_in(dir)` with `work_dir()` to run
//!   several commands in one directory).
//! - `sql` / `batch`: run SQL from a test, from sync or async code; `server_url()`
//!   for server-level work; `block_on` for other async library calls.
//!
//! PostgreSQL missing is a failure with the install hint, never a skip. Set
//! `DBKIT_TEST_KEEP=1` to keep the cluster (its URL is printed) for inspection, until
//! a later test run sweeps it.
//!
//! ```ignore
//! mod common;
//! use predicates::prelude::*;
//!
//! #[test]
//! fn migrate_creates_the_tables() {
//!     let db = common::fresh_db();
//!     common::dbkit()
//!         .args(["migrate", "--database-url", &db.url_string()])
//!         .assert()
//!         .success();
//!     let rows = common::sql(db.url(), "SELECT count(*) FROM appointments");
//!     assert_eq!(rows[0].get::<_, i64>(0), 0);
//! }
//! ```
#![allow(dead_code)]

use std::fs;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use dbkit::db::cluster::Cluster;
use dbkit::db::scratch::ScratchDb;
use dbkit::db::{connect, DbUrl};
use nix::fcntl::{Flock, FlockArg};

/// A database of one test. Left in place when the test ends: the whole cluster goes
/// when the process exits.
#[derive(Debug, Clone)]
pub struct TestDb {
    url: DbUrl,
    name: String,
    port: u16,
}

impl TestDb {
    pub fn url(&self) -> &DbUrl {
        &self.url
    }

    /// The full URL, for `--database-url` or `DATABASE_URL` (with the test cluster's
    /// generated password).
    pub fn url_string(&self) -> String {
        self.url.reveal()
    }

    /// Rows of one query on this database.
    pub fn query(&self, query: &str) -> Vec<tokio_postgres::Row> {
        sql(self.url(), query)
    }

    /// Run a script of statements on this database.
    pub fn execute(&self, script: &str) {
        batch(self.url(), script)
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

/// A fresh, empty database (a copy of `template1`, so pg_stat_statements and hypopg
/// are there).
pub fn fresh_db() -> TestDb {
    new_db(None)
}

/// A fresh copy of a template made by `template`.
pub fn fresh_db_from(template: &str) -> TestDb {
    new_db(Some(template))
}

/// The template database `name`, built once per cluster by `build` (which gets a
/// fresh database to fill, e.g. by running `dbkit migrate` on it). Returns `name`,
/// for `fresh_db_from`. Safe to call from many tests and processes at once.
pub fn template(name: &str, build: impl FnOnce(&TestDb)) -> String {
    let server = server();
    let lock_path = root().dir.join(format!("template-{name}.lock"));
    let _lock = lock_file(&lock_path, FlockArg::LockExclusive);
    let exists = !sql(
        &server.url,
        &format!(
            "SELECT 1 FROM pg_database WHERE datname = {}",
            quote_literal(name)
        ),
    )
    .is_empty();
    if !exists {
        // Built under another name and renamed when complete, so a build that
        // panics never leaves a half-made template behind under `name`.
        let building = new_db(None);
        build(&building);
        let (from, to) = (
            dbkit::db::ident::quote(building.name()),
            dbkit::db::ident::quote(name),
        );
        batch(
            &server.url,
            &format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = {} AND pid <> pg_backend_pid();
                 ALTER DATABASE {from} RENAME TO {to};",
                quote_literal(building.name())
            ),
        );
    }
    name.to_string()
}

/// The real `dbkit` binary, run in a fresh empty directory (no `.env` or `.dbkit`
/// of the repository leaks in), without `DATABASE_URL`, with `NO_COLOR=1`.
pub fn dbkit() -> assert_cmd::Command {
    dbkit_in(&work_dir())
}

/// The real binary like `dbkit()`, in `dir` (for several commands on one directory).
pub fn dbkit_in(dir: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(env!("CARGO_BIN_EXE_dbkit"));
    cmd.current_dir(dir)
        .env_remove("DATABASE_URL")
        .env("NO_COLOR", "1");
    cmd
}

/// A fresh empty directory under the harness's temp directory, deleted at exit
/// together with any local cluster a test started in it.
pub fn work_dir() -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = root().dir.join("work").join(format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    dir
}

/// Run one statement and return its rows.
pub fn sql(url: &DbUrl, query: &str) -> Vec<tokio_postgres::Row> {
    let (url, query) = (url.clone(), query.to_string());
    let (u, q) = (url.clone(), query.clone());
    block_on(async move {
        let client = connect(&u).await?;
        Ok(client.query(q.as_str(), &[]).await?)
    })
    .unwrap_or_else(|e| {
        panic!(
            "SQL failed on {url}: {}\n{query}",
            dbkit::error::one_line(&e)
        )
    })
}

/// Run a script of statements (simple protocol, no results).
pub fn batch(url: &DbUrl, script: &str) {
    let (url, script) = (url.clone(), script.to_string());
    let (u, s) = (url.clone(), script.clone());
    block_on(async move {
        let client = connect(&u).await?;
        Ok(client.batch_execute(&s).await?)
    })
    .unwrap_or_else(|e| {
        panic!(
            "SQL failed on {url}: {}\n{script}",
            dbkit::error::one_line(&e)
        )
    })
}

/// The test cluster's `postgres` database, for server-level work.
pub fn server_url() -> DbUrl {
    server().url.clone()
}

/// Where the harness keeps its cluster and work directories.
pub fn harness_dir() -> PathBuf {
    root().dir.clone()
}

fn new_db(template: Option<&str>) -> TestDb {
    let server = server();
    let url = server.url.clone();
    let template = template.map(str::to_string);
    let db = block_on(async move {
        let db = ScratchDb::create(&url, "test", template.as_deref()).await?;
        let name = db.name().to_string();
        Ok((db.keep(), name))
    })
    .unwrap_or_else(|e| {
        panic!(
            "cannot create a test database: {}",
            dbkit::error::one_line(&e)
        )
    });
    TestDb {
        url: db.0,
        name: db.1,
        port: server.port,
    }
}

/// Run a future from a test, sync or `#[tokio::test]`: on its own thread and runtime.
pub fn block_on<T: Send + 'static>(
    fut: impl Future<Output = anyhow::Result<T>> + Send + 'static,
) -> anyhow::Result<T> {
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(fut)
    })
    .join()
    .expect("harness thread panicked")
}

fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// The harness directory, held with a shared lock while this process uses it.
struct Root {
    dir: PathBuf,
    lock_path: PathBuf,
    lock: Flock<fs::File>,
    shared_run: bool,
}

/// The running cluster.
struct Server {
    url: DbUrl,
    port: u16,
}

static ROOT: OnceLock<Root> = OnceLock::new();
static SERVER: OnceLock<Server> = OnceLock::new();

fn root() -> &'static Root {
    ROOT.get_or_init(|| {
        let tmp = std::env::temp_dir();
        // cargo-nextest runs each test in a process of its own: share one cluster per run.
        let (key, shared_run) = match std::env::var("NEXTEST_RUN_ID") {
            Ok(id) => (format!("nextest-{id}"), true),
            Err(_) => (std::process::id().to_string(), false),
        };
        sweep_abandoned(&tmp, &key);
        let dir = tmp.join(format!("dbkit-test-{key}"));
        let lock_path = tmp.join(format!("dbkit-test-{key}.lock"));
        let lock = lock_file(&lock_path, FlockArg::LockShared);
        // The lock file's mtime says when the directory was last used.
        let _ = lock.set_modified(SystemTime::now());
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        // SAFETY: registering a plain extern "C" fn with no captured state.
        unsafe { libc::atexit(at_exit) };
        Root {
            dir,
            lock_path,
            lock,
            shared_run,
        }
    })
}

fn server() -> &'static Server {
    SERVER.get_or_init(|| {
        let root = root();
        // Exclusive while starting: the processes of one nextest run start it once.
        let _starting = lock_file(&root.dir.join("start.lock"), FlockArg::LockExclusive);
        let cluster = Cluster::new(root.dir.join("pg")).expect("cluster path");
        if let Err(err) = cluster.start() {
            panic!(
                "cannot start the test cluster: {}{}",
                dbkit::error::one_line(&err),
                err.chain()
                    .find_map(|c| c.downcast_ref::<dbkit::error::Hinted>())
                    .map(|h| format!("\nhint: {}", h.hint))
                    .unwrap_or_default()
            );
        }
        let url = cluster.server_url().expect("cluster url");
        let port = url.config().get_ports()[0];
        Server { url, port }
    })
}

fn lock_file(path: &Path, arg: FlockArg) -> Flock<fs::File> {
    let file = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    Flock::lock(file, arg).unwrap_or_else(|(_, e)| panic!("cannot lock {}: {e}", path.display()))
}

extern "C" fn at_exit() {
    let _ = std::panic::catch_unwind(|| {
        let Some(root) = ROOT.get() else { return };
        if std::env::var_os("DBKIT_TEST_KEEP").is_some() {
            if let Some(server) = SERVER.get() {
                eprintln!(
                    "dbkit tests: kept the test cluster at {} ({})",
                    server.url,
                    root.dir.display()
                );
            }
            return;
        }
        // A nextest run's next test process may come any moment: leave its cluster
        // to a later run's sweep.
        if !root.shared_run {
            tear_down(&root.dir);
            let _ = fs::remove_file(&root.lock_path);
        }
    });
}

/// Stop every cluster under `dir` (the harness's, and those tests started with the
/// binary in their work directories), then delete it.
fn tear_down(dir: &Path) {
    let mut clusters = vec![dir.join("pg")];
    if let Ok(entries) = fs::read_dir(dir.join("work")) {
        clusters.extend(
            entries
                .flatten()
                .map(|e| e.path().join(".dbkit").join("pg")),
        );
    }
    for pg in clusters.into_iter().filter(|p| p.exists()) {
        if let Ok(cluster) = Cluster::new(pg) {
            let _ = cluster.stop();
        }
    }
    let _ = fs::remove_dir_all(dir);
}

/// Delete what earlier runs left: the directory of a `dbkit-test-*.lock` that nobody
/// holds and that was not used lately (10 s: a process between creating and locking
/// it is left alone; 10 min for a nextest run, whose processes come and go).
fn sweep_abandoned(tmp: &Path, own_key: &str) {
    let Ok(entries) = fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(key) = name
            .strip_prefix("dbkit-test-")
            .and_then(|rest| rest.strip_suffix(".lock"))
        else {
            continue;
        };
        if key == own_key {
            continue;
        }
        let idle = if key.starts_with("nextest-") { 600 } else { 10 };
        let old = entry
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .is_some_and(|age| age > Duration::from_secs(idle));
        if !old {
            continue;
        }
        let Ok(file) = fs::OpenOptions::new().write(true).open(entry.path()) else {
            continue;
        };
        if let Ok(_held) = Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            tear_down(&tmp.join(format!("dbkit-test-{key}")));
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// The repository's migrations directory.
pub fn repo_migrations() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("migrations")
}

/// Runs the dbkit binary as another (unprivileged) user in `dir`: a copy of the binary
/// is placed in `dir` (the one under target/ may be unreadable to that user) and `dir`
/// is handed to the user.
pub struct AsUser {
    bin: PathBuf,
    dir: PathBuf,
    user: nix::unistd::User,
}

impl AsUser {
    pub fn new(user_name: &str, dir: &Path) -> AsUser {
        use std::os::unix::fs::PermissionsExt;
        let user = nix::unistd::User::from_name(user_name)
            .unwrap()
            .unwrap_or_else(|| panic!("user {user_name} does not exist"));
        let bin = dir.join("dbkit");
        fs::copy(env!("CARGO_BIN_EXE_dbkit"), &bin).unwrap();
        fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
        nix::unistd::chown(dir, Some(user.uid), Some(user.gid)).unwrap();
        AsUser {
            bin,
            dir: dir.to_path_buf(),
            user,
        }
    }

    pub fn uid(&self) -> u32 {
        self.user.uid.as_raw()
    }

    /// `dbkit ARGS` as the user, in the directory, without DATABASE_URL.
    pub fn dbkit(&self, args: &[&str]) -> assert_cmd::Command {
        use std::os::unix::process::CommandExt;
        let mut cmd = std::process::Command::new(&self.bin);
        cmd.args(args)
            .current_dir(&self.dir)
            .env_remove("DATABASE_URL")
            .env("HOME", &self.dir)
            .env("NO_COLOR", "1")
            .uid(self.user.uid.as_raw())
            .gid(self.user.gid.as_raw());
        assert_cmd::Command::from_std(cmd)
    }
}

/// Copy the directory `from` into `to`, recursively (a project copied to work in).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
