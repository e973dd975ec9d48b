//! dbkit's own PostgreSQL cluster, used when no database URL is configured: find the
//! server binaries, create the cluster in `<dir>/data` on first use, start and stop
//! it, report its state, and prepare the `dbkit` database (pg_stat_statements, hypopg).
//!
//! Layout of `<dir>` (default `./.dbkit/pg`):
//! - `data/`: the data directory (`PGDATA`); our settings live in `data/dbkit.conf`,
//!   included from `postgresql.conf` and rewritten at every start (port changes);
//! - `log`: the server log (`pg_ctl -l`), quoted in error messages;
//! - `port`: the port last used, reused while it is free;
//! - `lock`: held (flock) while starting, stopping or destroying, so two dbkit
//!   processes that auto-start the cluster at once do not race;
//! - the unix socket `.s.PGSQL.<port>` (TCP only when that path would be too long).
//!
//! PostgreSQL refuses to run as root. As root, dbkit runs `initdb`/`pg_ctl` as the
//! owner of an existing data directory, or else as the `postgres` system user, and
//! chowns `<dir>` to that user. That user must be able to traverse every parent of
//! `<dir>`; when it cannot (a checkout under a mode-700 `/root`), dbkit says so and
//! stops rather than moving the cluster elsewhere: a cluster silently living in the
//! temp directory would be wiped by tmp cleaners and surprise its owner. The test
//! harness places its clusters under the system temp directory instead.

use std::ffi::CString;
use std::fs;
use std::future::Future;
use std::io::{BufRead, IsTerminal, Write};
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use nix::fcntl::{Flock, FlockArg};
use nix::sys::signal::kill;
use nix::unistd::{Pid, User};
use serde::Serialize;

use crate::cli::DbAction;
use crate::db::{connect, DbUrl};
use crate::error::hinted;
use crate::exit::Outcome;
use crate::report::{render_rows, Format};

/// The database dbkit works in on its own cluster.
pub const DB_NAME: &str = "dbkit";
/// The cluster's superuser (no password: trust auth on loopback only).
pub const SUPERUSER: &str = "postgres";
/// Extensions created in `template1` and `dbkit` when the server has them.
const EXTENSIONS: [&str; 2] = ["pg_stat_statements", "hypopg"];

const INSTALL_HINT: &str =
    "install PostgreSQL (`apt-get install postgresql`, `brew install postgresql@16`) \
     or point PG_BINDIR at its bin directory; or set DATABASE_URL to use another server";

/// A unix socket path must fit in `sockaddr_un.sun_path` (108 bytes on Linux).
const MAX_SOCKET_PATH: usize = 100;

/// dbkit's local cluster rooted at `dir` (see the module documentation for its layout).
#[derive(Debug, Clone)]
pub struct Cluster {
    dir: PathBuf,
}

/// What `dbkit db status` reports.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Status {
    pub running: bool,
    /// The port it listens on (running), or will try first (stopped).
    pub port: Option<u16>,
    pub data_dir: PathBuf,
    /// Major version of the cluster (`PG_VERSION`), when it exists.
    pub version: Option<String>,
    #[serde(skip)]
    pub pid: Option<i32>,
}

/// What `start` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Started {
    AlreadyRunning {
        port: u16,
    },
    Started {
        port: u16,
        version: String,
        created: bool,
    },
}

impl Started {
    /// One line for `dbkit db start` and the auto-start announcement.
    pub fn describe(&self, dir: &str) -> String {
        match self {
            Started::AlreadyRunning { port } => format!("already running on port {port} ({dir})"),
            Started::Started {
                port,
                version,
                created,
            } => {
                let verb = if *created {
                    "created and started"
                } else {
                    "started"
                };
                format!("{verb} local PostgreSQL {version} on 127.0.0.1:{port} ({dir})")
            }
        }
    }
}

/// What `stop` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stopped {
    Stopped,
    /// It was not running; `stale_pid_file` when a crashed server's postmaster.pid was removed.
    NotRunning {
        stale_pid_file: bool,
    },
}

impl Cluster {
    /// `.dbkit/pg` under the working directory.
    pub fn default_dir() -> Result<PathBuf> {
        Ok(std::env::current_dir()?.join(".dbkit").join("pg"))
    }

    /// The cluster in `dir` (made absolute; nothing is created yet).
    pub fn new(dir: PathBuf) -> Result<Cluster> {
        let dir = std::path::absolute(&dir)
            .with_context(|| format!("cannot resolve {}", dir.display()))?;
        Ok(Cluster { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `PGDATA`.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// The server log.
    pub fn log_file(&self) -> PathBuf {
        self.dir.join("log")
    }

    fn pid_file(&self) -> PathBuf {
        self.data_dir().join("postmaster.pid")
    }

    fn port_file(&self) -> PathBuf {
        self.dir.join("port")
    }

    /// True once `initdb` has completed here.
    pub fn exists(&self) -> bool {
        self.data_dir().join("PG_VERSION").is_file()
    }

    /// Running or not, port, data directory, version. Reads files only.
    pub fn status(&self) -> Result<Status> {
        let pid_file = match fs::read_to_string(self.pid_file()) {
            Ok(text) => parse_pid_file(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => {
                return Err(anyhow!(e))
                    .with_context(|| format!("cannot read {}", self.pid_file().display()))
            }
        };
        let live = pid_file.filter(|p| process_alive(p.pid));
        let version = fs::read_to_string(self.data_dir().join("PG_VERSION"))
            .ok()
            .map(|v| v.trim().to_string());
        Ok(Status {
            running: live.is_some(),
            port: live.and_then(|p| p.port).or_else(|| self.remembered_port()),
            data_dir: self.data_dir(),
            version,
            pid: live.map(|p| p.pid),
        })
    }

    /// Start when not running, saying so in one line on stderr; silent when it was
    /// already running.
    pub fn ensure_running_announced(&self) -> Result<()> {
        let started = self.start()?;
        if matches!(started, Started::Started { .. }) {
            eprintln!("dbkit: {}", started.describe(&shown(&self.dir)));
        }
        Ok(())
    }

    /// Create the cluster on first use, start it unless it is running, and make sure
    /// the `dbkit` database and the extensions exist. Starting twice is harmless.
    pub fn start(&self) -> Result<Started> {
        if let Ok(status) = self.status() {
            if let (true, Some(port)) = (status.running, status.port) {
                return Ok(Started::AlreadyRunning { port });
            }
        }
        let bindir = find_bindir()?;
        fs::create_dir_all(&self.dir)
            .with_context(|| format!("cannot create {}", self.dir.display()))?;
        let owner = self.server_owner()?;
        if let Some(owner) = &owner {
            chown(&self.dir, owner)?;
            self.check_reachable(owner)?;
        }
        let _lock = self.lock()?;
        // Another process may have started it while we waited for the lock.
        let status = self.status()?;
        if let (true, Some(port)) = (status.running, status.port) {
            return Ok(Started::AlreadyRunning { port });
        }
        let created = !self.exists();
        if created {
            self.initdb(&bindir, owner.as_ref())?;
        }
        self.remove_stale_pid_file()?;
        let preload = has_library(&bindir, "pg_stat_statements");
        let mut fresh_port = false;
        let mut attempt = 0;
        let port = loop {
            attempt += 1;
            let port = self.choose_port(fresh_port)?;
            self.write_settings(port, preload, owner.as_ref())?;
            match self.pg_ctl_start(&bindir, owner.as_ref()) {
                Ok(()) => break port,
                Err(failure) if attempt < 4 && failure.port_taken => fresh_port = true,
                // Backends of a killed postmaster still hold its shared memory for a moment.
                Err(failure) if attempt < 10 && failure.shmem_in_use => {
                    std::thread::sleep(Duration::from_millis(500))
                }
                Err(failure) => return Err(failure.error),
            }
        };
        self.prepare_databases(port)?;
        let version = self.status()?.version.unwrap_or_else(|| "?".into());
        Ok(Started::Started {
            port,
            version,
            created,
        })
    }

    /// Fast shutdown (`pg_ctl -m fast stop`); a stale postmaster.pid is removed.
    pub fn stop(&self) -> Result<Stopped> {
        if !self.exists() {
            return Ok(Stopped::NotRunning {
                stale_pid_file: false,
            });
        }
        let _lock = self.lock()?;
        let status = self.status()?;
        if !status.running {
            let stale_pid_file = self.remove_stale_pid_file()?;
            return Ok(Stopped::NotRunning { stale_pid_file });
        }
        let bindir = find_bindir()?;
        let owner = self.server_owner()?;
        let data = self.data_dir();
        let output = self
            .tool(&bindir, "pg_ctl", owner.as_ref())
            .args(["-D".as_ref(), data.as_os_str()])
            .args(["-m", "fast", "-w", "-t", "60", "stop"])
            .output()
            .context("cannot run pg_ctl")?;
        if !output.status.success() {
            let text = String::from_utf8_lossy(&output.stderr);
            return Err(hinted(
                format!("cannot stop the local cluster: {}", last_line(&text)),
                format!("see the server log: {}", self.log_file().display()),
            ));
        }
        Ok(Stopped::Stopped)
    }

    /// Stop the cluster and delete `<dir>` with all its databases.
    pub fn destroy(&self) -> Result<()> {
        if !self.dir.exists() {
            return Ok(());
        }
        self.stop()?;
        fs::remove_dir_all(&self.dir)
            .with_context(|| format!("cannot delete {}", self.dir.display()))
    }

    /// URL of the `dbkit` database on the running cluster.
    pub fn url(&self) -> Result<DbUrl> {
        let status = self.status()?;
        match (status.running, status.port) {
            (true, Some(port)) => DbUrl::parse(&url_for(port, DB_NAME), "the local cluster"),
            _ => Err(hinted(
                format!("the local cluster in {} is not running", shown(&self.dir)),
                "start it with `dbkit db start`",
            )),
        }
    }

    /// URL of the `postgres` maintenance database, for creating and dropping databases.
    pub fn server_url(&self) -> Result<DbUrl> {
        Ok(self.url()?.with_dbname("postgres"))
    }

    fn remembered_port(&self) -> Option<u16> {
        fs::read_to_string(self.port_file())
            .ok()
            .and_then(|t| t.trim().parse().ok())
    }

    /// The remembered port while it is free, else a free one (remembered).
    fn choose_port(&self, fresh: bool) -> Result<u16> {
        if !fresh {
            if let Some(port) = self.remembered_port() {
                if TcpListener::bind(("127.0.0.1", port)).is_ok() {
                    return Ok(port);
                }
            }
        }
        let port = TcpListener::bind(("127.0.0.1", 0))
            .and_then(|l| l.local_addr())
            .context("cannot find a free port on 127.0.0.1")?
            .port();
        fs::write(self.port_file(), format!("{port}\n"))
            .with_context(|| format!("cannot write {}", self.port_file().display()))?;
        Ok(port)
    }

    /// Who runs the server: nobody special unless we are root; then the owner of an
    /// existing data directory, else the `postgres` system user.
    fn server_owner(&self) -> Result<Option<Owner>> {
        if !nix::unistd::geteuid().is_root() {
            return Ok(None);
        }
        if let Ok(meta) = fs::metadata(self.data_dir()) {
            if meta.uid() != 0 {
                if let Some(user) = User::from_uid(meta.uid().into())? {
                    return Ok(Some(Owner::from(user)));
                }
            }
        }
        match User::from_name(SUPERUSER)? {
            Some(user) => Ok(Some(Owner::from(user))),
            None => Err(hinted(
                "dbkit runs as root, PostgreSQL refuses to, and there is no `postgres` system user to run it as",
                "create one (`useradd --system --home-dir /var/lib/postgresql postgres`), run dbkit as a normal user, or set DATABASE_URL",
            )),
        }
    }

    /// The server user must be able to enter every parent of `<dir>`.
    fn check_reachable(&self, owner: &Owner) -> Result<()> {
        for parent in self.dir.ancestors().skip(1) {
            let Ok(meta) = fs::metadata(parent) else {
                continue;
            };
            if !can_traverse(
                meta.mode(),
                meta.uid(),
                meta.gid(),
                owner.uid,
                &owner.groups,
            ) {
                return Err(hinted(
                    format!(
                        "PostgreSQL cannot run in {}: it runs as `{}` (not as root), which cannot enter {} (mode {:o})",
                        shown(&self.dir),
                        owner.name,
                        parent.display(),
                        meta.mode() & 0o7777
                    ),
                    format!(
                        "let it through (`chmod o+x {}`), work from a checkout outside it, or set DATABASE_URL",
                        parent.display()
                    ),
                ));
            }
        }
        Ok(())
    }

    fn lock(&self) -> Result<Flock<fs::File>> {
        let path = self.dir.join("lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        Flock::lock(file, FlockArg::LockExclusive)
            .map_err(|(_, errno)| anyhow!("cannot lock {}: {errno}", path.display()))
    }

    /// A server binary, run as `owner` when set, from `<dir>` (the caller's working
    /// directory may be closed to that user).
    fn tool(&self, bindir: &Path, name: &str, owner: Option<&Owner>) -> Command {
        let mut cmd = Command::new(bindir.join(name));
        cmd.current_dir(&self.dir)
            .stdin(Stdio::null())
            .env_remove("PGDATA")
            .env("LC_MESSAGES", "C");
        if let Some(owner) = owner {
            cmd.uid(owner.uid).gid(owner.gid);
        }
        cmd
    }

    fn initdb(&self, bindir: &Path, owner: Option<&Owner>) -> Result<()> {
        let data = self.data_dir();
        // An interrupted initdb leaves a directory it then refuses to reuse.
        if data.exists() {
            fs::remove_dir_all(&data)
                .with_context(|| format!("cannot remove the half-made {}", data.display()))?;
        }
        let output = self
            .tool(bindir, "initdb", owner)
            .args(["-D".as_ref(), data.as_os_str()])
            .args(["-U", SUPERUSER, "-A", "trust", "--auth-local=trust"])
            .args([
                "--auth-host=trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ])
            .output()
            .with_context(|| format!("cannot run {}", bindir.join("initdb").display()))?;
        if !output.status.success() {
            let log = self.dir.join("initdb.log");
            let mut text = output.stdout.clone();
            text.extend_from_slice(&output.stderr);
            let _ = fs::write(&log, &text);
            return Err(hinted(
                format!(
                    "initdb failed: {}",
                    last_line(&String::from_utf8_lossy(&output.stderr))
                ),
                format!("see {}", log.display()),
            ));
        }
        let hba = data.join("pg_hba.conf");
        fs::write(&hba, PG_HBA).with_context(|| format!("cannot write {}", hba.display()))?;
        let conf = data.join("postgresql.conf");
        let mut file = fs::OpenOptions::new()
            .append(true)
            .open(&conf)
            .with_context(|| format!("cannot open {}", conf.display()))?;
        writeln!(
            file,
            "\n# dbkit's settings (rewritten at every start)\ninclude_if_exists = 'dbkit.conf'"
        )?;
        Ok(())
    }

    fn write_settings(&self, port: u16, preload: bool, owner: Option<&Owner>) -> Result<()> {
        let socket_dir =
            (self.dir.as_os_str().len() + 16 <= MAX_SOCKET_PATH).then_some(self.dir.as_path());
        let path = self.data_dir().join("dbkit.conf");
        fs::write(&path, server_settings(port, socket_dir, preload))
            .with_context(|| format!("cannot write {}", path.display()))?;
        if let Some(owner) = owner {
            chown(&path, owner)?;
        }
        Ok(())
    }

    /// `pg_ctl -w start`; on failure, the cause from the part of the log this attempt wrote.
    fn pg_ctl_start(&self, bindir: &Path, owner: Option<&Owner>) -> Result<(), StartFailure> {
        let log = self.log_file();
        let log_offset = fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
        let data = self.data_dir();
        let output = self
            .tool(bindir, "pg_ctl", owner)
            .args([
                "-D".as_ref(),
                data.as_os_str(),
                "-l".as_ref(),
                log.as_os_str(),
            ])
            .args(["-w", "-t", "60", "start"])
            .output();
        let output = match output {
            Ok(output) if output.status.success() => return Ok(()),
            Ok(output) => output,
            Err(e) => {
                return Err(StartFailure::other(anyhow!(e).context(format!(
                    "cannot run {}",
                    bindir.join("pg_ctl").display()
                ))))
            }
        };
        let written = read_from(&log, log_offset);
        let cause = log_cause(&written)
            .unwrap_or_else(|| last_line(&String::from_utf8_lossy(&output.stderr)));
        Err(StartFailure {
            port_taken: written.contains("could not bind") || written.contains("already in use"),
            shmem_in_use: written.contains("shared memory block is still in use"),
            error: hinted(
                format!("cannot start the local cluster: {cause}"),
                format!("see the server log: {}", log.display()),
            ),
        })
    }

    /// Remove postmaster.pid when the process it names is gone (crash, kill -9, or a
    /// zombie that nobody reaps: PostgreSQL itself would take it for a live server).
    /// The socket lock files `.s.PGSQL.<port>.lock` name the pid the same way.
    fn remove_stale_pid_file(&self) -> Result<bool> {
        let mut removed = false;
        let mut files = vec![self.pid_file()];
        if let Ok(entries) = fs::read_dir(&self.dir) {
            files.extend(entries.flatten().map(|e| e.path()).filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(".s.PGSQL.") && n.ends_with(".lock"))
            }));
        }
        for path in files {
            let Ok(text) = fs::read_to_string(&path) else {
                continue;
            };
            if parse_pid_file(&text).is_some_and(|pid| process_alive(pid.pid)) {
                continue;
            }
            fs::remove_file(&path)
                .with_context(|| format!("cannot remove stale {}", path.display()))?;
            removed = true;
        }
        Ok(removed)
    }

    /// Create `dbkit` and the extensions (in `template1` too, so new databases have them).
    fn prepare_databases(&self, port: u16) -> Result<()> {
        let server = DbUrl::parse(&url_for(port, "postgres"), "the local cluster")?;
        run_blocking(async move {
            let client = connect(&server.with_dbname("template1")).await?;
            let wanted: Vec<&str> = EXTENSIONS.to_vec();
            let rows = client
                .query(
                    "SELECT name FROM pg_available_extensions WHERE name = ANY($1) \
                     AND (name <> 'pg_stat_statements' \
                          OR current_setting('shared_preload_libraries') LIKE '%pg_stat_statements%') \
                     ORDER BY name",
                    &[&wanted],
                )
                .await?;
            let available: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
            create_extensions(&client, &available).await?;
            drop(client);
            let client = connect(&server).await?;
            let exists = client
                .query_opt("SELECT 1 FROM pg_database WHERE datname = $1", &[&DB_NAME])
                .await?
                .is_some();
            if !exists {
                client
                    .batch_execute(&format!("CREATE DATABASE {DB_NAME}"))
                    .await
                    .context("cannot create database dbkit")?;
            }
            drop(client);
            let client = connect(&server.with_dbname(DB_NAME)).await?;
            create_extensions(&client, &available).await
        })
        .context("cannot prepare the dbkit database on the local cluster")
    }
}

async fn create_extensions(client: &tokio_postgres::Client, names: &[String]) -> Result<()> {
    for name in names {
        // `name` comes from EXTENSIONS via pg_available_extensions, never from user text.
        client
            .batch_execute(&format!("CREATE EXTENSION IF NOT EXISTS {name}"))
            .await
            .with_context(|| format!("cannot create extension {name}"))?;
    }
    Ok(())
}

const PG_HBA: &str = "\
# dbkit's local cluster: trust, from this machine only.
local   all             all                     trust
host    all             all     127.0.0.1/32    trust
host    all             all     ::1/128         trust
local   replication     all                     trust
host    replication     all     127.0.0.1/32    trust
";

/// The settings dbkit owns: a dev/test cluster, durability traded for speed.
pub fn server_settings(port: u16, socket_dir: Option<&Path>, preload: bool) -> String {
    let sockets = socket_dir
        .map(|d| d.display().to_string().replace('\'', "''"))
        .unwrap_or_default();
    let mut out = format!(
        "# Written by dbkit at every start; edit postgresql.conf instead.\n\
         listen_addresses = '127.0.0.1'\n\
         port = {port}\n\
         unix_socket_directories = '{sockets}'\n\
         max_connections = 200\n\
         fsync = off\n\
         synchronous_commit = off\n\
         full_page_writes = off\n"
    );
    if preload {
        out.push_str("shared_preload_libraries = 'pg_stat_statements'\n");
    }
    out
}

/// `postgresql://postgres@127.0.0.1:PORT/DB` (no password exists).
pub fn url_for(port: u16, db: &str) -> String {
    format!("postgresql://{SUPERUSER}@127.0.0.1:{port}/{db}")
}

struct StartFailure {
    port_taken: bool,
    shmem_in_use: bool,
    error: anyhow::Error,
}

impl StartFailure {
    fn other(error: anyhow::Error) -> Self {
        StartFailure {
            port_taken: false,
            shmem_in_use: false,
            error,
        }
    }
}

/// The system user the server runs as (when dbkit runs as root).
#[derive(Debug, Clone)]
struct Owner {
    name: String,
    uid: u32,
    gid: u32,
    groups: Vec<u32>,
}

impl From<User> for Owner {
    fn from(user: User) -> Self {
        let groups = CString::new(user.name.clone())
            .ok()
            .and_then(|name| nix::unistd::getgrouplist(&name, user.gid).ok())
            .map(|gs| gs.into_iter().map(|g| g.as_raw()).collect())
            .unwrap_or_else(|| vec![user.gid.as_raw()]);
        Owner {
            name: user.name,
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
            groups,
        }
    }
}

fn chown(path: &Path, owner: &Owner) -> Result<()> {
    nix::unistd::chown(path, Some(owner.uid.into()), Some(owner.gid.into()))
        .with_context(|| format!("cannot give {} to user {}", path.display(), owner.name))
}

/// May a user (uid, groups) enter a directory with this mode and ownership?
pub fn can_traverse(mode: u32, dir_uid: u32, dir_gid: u32, uid: u32, groups: &[u32]) -> bool {
    if uid == 0 {
        true
    } else if uid == dir_uid {
        mode & 0o100 != 0
    } else if groups.contains(&dir_gid) {
        mode & 0o010 != 0
    } else {
        mode & 0o001 != 0
    }
}

/// The fields of postmaster.pid dbkit uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PidFile {
    pub pid: i32,
    pub port: Option<u16>,
}

/// Line 1 is the postmaster's pid, line 4 its port.
pub fn parse_pid_file(text: &str) -> Option<PidFile> {
    let mut lines = text.lines();
    let pid = lines.next()?.trim().parse().ok().filter(|p: &i32| *p > 0)?;
    let port = lines.nth(2).and_then(|l| l.trim().parse().ok());
    Some(PidFile { pid, port })
}

/// Is `pid` a live PostgreSQL process? A zombie (killed, not yet reaped) or a pid
/// reused by another program does not count.
fn process_alive(pid: i32) -> bool {
    match kill(Pid::from_raw(pid), None) {
        Ok(()) | Err(nix::errno::Errno::EPERM) => {}
        Err(_) => return false,
    }
    let proc_dir = Path::new("/proc").join(pid.to_string());
    match fs::read_to_string(proc_dir.join("stat")) {
        Ok(stat) if stat_is_dead(&stat) => false,
        Ok(_) => fs::read_to_string(proc_dir.join("comm"))
            .map(|comm| comm.starts_with("postgres") || comm.starts_with("postmaster"))
            .unwrap_or(true),
        // No procfs (macOS): trust kill(2).
        Err(_) => true,
    }
}

/// `/proc/PID/stat`: the state follows the parenthesised command name.
pub fn stat_is_dead(stat: &str) -> bool {
    stat.rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().next())
        .is_some_and(|state| state == "Z" || state == "X")
}

/// The one line of a server log that explains a failure: the last FATAL/PANIC/ERROR
/// (from the severity on), else the last line.
pub fn log_cause(log: &str) -> Option<String> {
    let lines: Vec<&str> = log
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let message = |l: &str, sev: &str| l.find(sev).map(|i| l[i..].to_string());
    let found = ["FATAL:", "PANIC:", "ERROR:"].iter().find_map(|sev| {
        let at = lines.iter().rposition(|l| l.contains(sev))?;
        let mut cause = message(lines[at], sev)?;
        // "configuration file ... contains errors": the line before says which.
        if cause.contains("contains errors") && at > 0 {
            if let Some(detail) = message(lines[at - 1], "LOG:") {
                cause = format!("{cause} ({detail})");
            }
        }
        Some(cause)
    });
    found
        .or(lines.last().map(|l| l.to_string()))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
}

fn last_line(text: &str) -> String {
    log_cause(text).unwrap_or_else(|| "no output".into())
}

fn read_from(path: &Path, offset: u64) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let mut text = String::new();
    if let Ok(mut file) = fs::File::open(path) {
        if file.seek(SeekFrom::Start(offset)).is_ok() {
            let _ = file.read_to_string(&mut text);
        }
    }
    text
}

/// Is `<bindir>/../lib/<name>.so` (or pg_config's pkglibdir) there? Unknown counts as yes.
fn has_library(bindir: &Path, name: &str) -> bool {
    let pkglibdir = Command::new(bindir.join("pg_config"))
        .arg("--pkglibdir")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    match pkglibdir {
        Some(dir) => {
            dir.join(format!("{name}.so")).exists() || dir.join(format!("{name}.dylib")).exists()
        }
        None => true,
    }
}

/// Where `initdb`, `pg_ctl` and `postgres` are: `PG_BINDIR`, `pg_config --bindir`,
/// `PATH`, then the highest `/usr/lib/postgresql/*/bin`.
pub fn find_bindir() -> Result<PathBuf> {
    let explicit = std::env::var_os("PG_BINDIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let pg_config = Command::new("pg_config")
        .arg("--bindir")
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let path: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    let versioned: Vec<PathBuf> = fs::read_dir("/usr/lib/postgresql")
        .map(|rd| rd.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    let found = choose_bindir(explicit.clone(), pg_config, path, versioned, has_server)
        .ok_or_else(|| match &explicit {
            Some(dir) => hinted(
                format!("PG_BINDIR={} has no initdb and pg_ctl", dir.display()),
                "point PG_BINDIR at PostgreSQL's bin directory (`pg_config --bindir`), or unset it",
            ),
            None => hinted(
                "PostgreSQL server binaries (initdb, pg_ctl) not found",
                INSTALL_HINT,
            ),
        })?;
    // PATH often holds symlinks (/usr/local/bin/initdb); pg_ctl wants its real siblings.
    Ok(fs::canonicalize(found.join("initdb"))
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
        .unwrap_or(found))
}

fn has_server(dir: &Path) -> bool {
    dir.join("initdb").is_file() && dir.join("pg_ctl").is_file()
}

/// The bindir search order, pure. An explicit `PG_BINDIR` is final: when it is
/// wrong, say so rather than silently use another installation.
pub fn choose_bindir(
    explicit: Option<PathBuf>,
    pg_config: Option<PathBuf>,
    path: Vec<PathBuf>,
    mut versioned: Vec<PathBuf>,
    has_server: impl Fn(&Path) -> bool,
) -> Option<PathBuf> {
    if let Some(dir) = explicit {
        return has_server(&dir).then_some(dir);
    }
    versioned.sort_by_key(|bin| std::cmp::Reverse(version_key(bin)));
    pg_config
        .into_iter()
        .chain(path)
        .chain(versioned)
        .find(|dir| has_server(dir))
}

/// `/usr/lib/postgresql/9.6/bin` → [9, 6]; non-numeric names sort first.
fn version_key(bin: &Path) -> Vec<u32> {
    bin.parent()
        .and_then(|p| p.file_name())
        .and_then(|n| n.to_str())
        .map(|n| n.split('.').map(|part| part.parse().unwrap_or(0)).collect())
        .unwrap_or_default()
}

/// `path` relative to the working directory when it is under it.
fn shown(path: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| path.to_path_buf())
        .display()
        .to_string()
}

/// Run a future to completion from sync code, inside or outside a Tokio runtime (of
/// either flavour): on a thread of its own with a small runtime.
fn run_blocking<T, F>(fut: F) -> Result<T>
where
    T: Send + 'static,
    F: Future<Output = Result<T>> + Send + 'static,
{
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(fut)
    })
    .join()
    .map_err(|_| anyhow!("the local cluster's setup thread panicked"))?
}

/// `dbkit db start|stop|status|url|destroy` on `./.dbkit/pg`.
pub fn command(action: DbAction, format: Format) -> Result<Outcome> {
    let cluster = Cluster::new(Cluster::default_dir()?)?;
    let dir = shown(cluster.dir());
    // What an action did: its line, or with --format json the cluster's status with it.
    let done = |message: String| -> Result<()> {
        if format == Format::Json {
            let mut status = serde_json::to_value(cluster.status()?)?;
            status["message"] = message.into();
            crate::report::print(&format!("{status}\n"))
        } else {
            crate::report::print(&format!("{message}\n"))
        }
    };
    match action {
        DbAction::Start => done(cluster.start()?.describe(&dir))?,
        DbAction::Stop => done(match cluster.stop()? {
            Stopped::Stopped => format!("stopped ({dir})"),
            Stopped::NotRunning {
                stale_pid_file: true,
            } => format!("not running ({dir}); removed a stale postmaster.pid"),
            Stopped::NotRunning { .. } => format!("not running ({dir})"),
        })?,
        DbAction::Status => crate::report::print(&render_status(&cluster.status()?, format)?)?,
        DbAction::Url if format == Format::Json => crate::report::print(&format!(
            "{}\n",
            serde_json::json!({ "url": cluster.url()?.to_string() })
        ))?,
        DbAction::Url => crate::report::print(&format!("{}\n", cluster.url()?))?,
        DbAction::Destroy { yes } => {
            if !cluster.dir().exists() {
                done(format!("nothing to destroy ({dir} does not exist)"))?;
                return Ok(Outcome::Clean);
            }
            if !yes
                && !confirm(&format!(
                    "Delete the local cluster in {dir} and all its databases?"
                ))?
            {
                done(format!("kept {dir}"))?;
                return Ok(Outcome::Clean);
            }
            cluster.destroy()?;
            done(format!("destroyed {dir}"))?;
        }
    }
    Ok(Outcome::Clean)
}

/// Ask on the terminal; refuse outright when stdin is not one.
fn confirm(question: &str) -> Result<bool> {
    if !std::io::stdin().is_terminal() {
        return Err(hinted(
            "refusing to destroy the local cluster without confirmation (stdin is not a terminal)",
            "pass --yes: `dbkit db destroy --yes`",
        ));
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}

/// `dbkit db status` in the chosen format.
pub fn render_status(status: &Status, format: Format) -> Result<String> {
    if format == Format::Json {
        return Ok(format!("{}\n", serde_json::to_string(status)?));
    }
    let state = match (status.running, &status.version) {
        (true, _) => "running",
        (false, Some(_)) => "stopped",
        (false, None) => "not created",
    };
    let row = vec![
        state.to_string(),
        status.port.map(|p| p.to_string()).unwrap_or_default(),
        shown(&status.data_dir),
        status.version.clone().unwrap_or_default(),
    ];
    Ok(render_rows(
        format,
        &["state", "port", "data dir", "version"],
        &[row],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_bindir_is_final() {
        let all = |_: &Path| true;
        let none = |_: &Path| false;
        let pick = choose_bindir(
            Some("/opt/pg/bin".into()),
            Some("/usr/bin".into()),
            vec![],
            vec![],
            all,
        );
        assert_eq!(pick, Some(PathBuf::from("/opt/pg/bin")));
        let pick = choose_bindir(
            Some("/opt/pg/bin".into()),
            None,
            vec!["/usr/local/bin".into()],
            vec![],
            none,
        );
        assert_eq!(pick, None);
    }

    #[test]
    fn pg_config_without_initdb_falls_through_to_path_then_highest_version() {
        let has =
            |dirs: &'static [&'static str]| move |d: &Path| dirs.iter().any(|x| Path::new(x) == d);
        let versioned = vec![
            PathBuf::from("/usr/lib/postgresql/9.6/bin"),
            PathBuf::from("/usr/lib/postgresql/16/bin"),
            PathBuf::from("/usr/lib/postgresql/10/bin"),
        ];
        let pick = choose_bindir(
            None,
            Some("/usr/bin".into()),
            vec!["/usr/sbin".into(), "/usr/local/bin".into()],
            versioned.clone(),
            has(&["/usr/local/bin", "/usr/lib/postgresql/16/bin"]),
        );
        assert_eq!(pick, Some(PathBuf::from("/usr/local/bin")));
        let pick = choose_bindir(
            None,
            Some("/usr/bin".into()),
            vec![],
            versioned,
            has(&[
                "/usr/lib/postgresql/9.6/bin",
                "/usr/lib/postgresql/10/bin",
                "/usr/lib/postgresql/16/bin",
            ]),
        );
        assert_eq!(pick, Some(PathBuf::from("/usr/lib/postgresql/16/bin")));
        assert_eq!(choose_bindir(None, None, vec![], vec![], has(&[])), None);
    }

    #[test]
    fn pid_file_gives_pid_and_port() {
        let text = "4242\n/x/data\n1732820000\n54123\n/x\n127.0.0.1\n  1234567   98765\nready   \n";
        assert_eq!(
            parse_pid_file(text),
            Some(PidFile {
                pid: 4242,
                port: Some(54123)
            })
        );
        assert_eq!(
            parse_pid_file("4242\n"),
            Some(PidFile {
                pid: 4242,
                port: None
            })
        );
        assert_eq!(parse_pid_file(""), None);
        assert_eq!(parse_pid_file("garbage\n"), None);
    }

    #[test]
    fn zombies_are_dead() {
        assert!(stat_is_dead("123 (postgres) Z 1 123 123 0 -1"));
        assert!(!stat_is_dead("123 (postgres) S 1 123 123 0 -1"));
        // A command name with a parenthesis and a space in it.
        assert!(stat_is_dead("123 (a) b) Z 1"));
    }

    #[test]
    fn traversal_follows_owner_group_other() {
        assert!(!can_traverse(0o700, 0, 0, 101, &[104]));
        assert!(can_traverse(0o701, 0, 0, 101, &[104]));
        assert!(can_traverse(0o710, 0, 104, 101, &[104]));
        assert!(
            !can_traverse(0o701, 0, 104, 101, &[104]),
            "group bits apply to members"
        );
        assert!(can_traverse(0o700, 101, 0, 101, &[104]));
        assert!(can_traverse(0o000, 5, 5, 0, &[]));
    }

    #[test]
    fn log_cause_picks_the_last_fatal() {
        let log = "2026-01-01 10:00:00.000 UTC [1] LOG:  starting PostgreSQL 15\n\
                   2026-01-01 10:00:00.001 UTC [1] FATAL:  could not bind IPv4 address \"127.0.0.1\": Address already in use\n\
                   2026-01-01 10:00:00.002 UTC [1] LOG:  database system is shut down\n";
        assert_eq!(
            log_cause(log).unwrap(),
            "FATAL: could not bind IPv4 address \"127.0.0.1\": Address already in use"
        );
        let log = "2026-01-01 10:00:00.000 UTC [1] LOG:  invalid value for parameter \"shared_buffers\": \"lots\"\n\
                   2026-01-01 10:00:00.001 UTC [1] FATAL:  configuration file \"/x/postgresql.conf\" contains errors\n";
        assert_eq!(
            log_cause(log).unwrap(),
            "FATAL: configuration file \"/x/postgresql.conf\" contains errors \
             (LOG: invalid value for parameter \"shared_buffers\": \"lots\")"
        );
        assert_eq!(log_cause("just one line\n").unwrap(), "just one line");
        assert_eq!(log_cause("\n \n"), None);
    }

    #[test]
    fn start_lines() {
        let started = Started::Started {
            port: 54123,
            version: "15".into(),
            created: false,
        };
        assert_eq!(
            started.describe(".dbkit/pg"),
            "started local PostgreSQL 15 on 127.0.0.1:54123 (.dbkit/pg)"
        );
        let again = Started::AlreadyRunning { port: 54123 };
        assert_eq!(again.describe("x"), "already running on port 54123 (x)");
    }

    #[test]
    fn settings_name_port_socket_and_speed() {
        let s = server_settings(54123, Some(Path::new("/tmp/it's/pg")), true);
        assert!(s.contains("port = 54123\n"), "{s}");
        assert!(
            s.contains("unix_socket_directories = '/tmp/it''s/pg'\n"),
            "{s}"
        );
        assert!(s.contains("listen_addresses = '127.0.0.1'\n"));
        assert!(s.contains("fsync = off\n") && s.contains("full_page_writes = off\n"));
        assert!(s.contains("shared_preload_libraries = 'pg_stat_statements'"));
        let s = server_settings(1, None, false);
        assert!(s.contains("unix_socket_directories = ''\n") && !s.contains("shared_preload"));
    }

    #[test]
    fn port_is_remembered_while_free() {
        let tmp = tempfile::tempdir().unwrap();
        let cluster = Cluster::new(tmp.path().to_path_buf()).unwrap();
        let first = cluster.choose_port(false).unwrap();
        assert_eq!(cluster.remembered_port(), Some(first));
        assert_eq!(cluster.choose_port(false).unwrap(), first);
        let held = TcpListener::bind(("127.0.0.1", first)).unwrap();
        let second = cluster.choose_port(false).unwrap();
        assert_ne!(second, first);
        assert_eq!(cluster.remembered_port(), Some(second));
        drop(held);
    }

    #[test]
    fn status_of_a_missing_cluster() {
        let tmp = tempfile::tempdir().unwrap();
        let cluster = Cluster::new(tmp.path().join("pg")).unwrap();
        let status = cluster.status().unwrap();
        assert!(!status.running && status.version.is_none() && status.port.is_none());
        let json = render_status(&status, Format::Json).unwrap();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(value["running"], false);
        assert!(value["data_dir"].as_str().unwrap().ends_with("pg/data"));
        assert!(cluster.url().is_err());
        assert_eq!(
            cluster.stop().unwrap(),
            Stopped::NotRunning {
                stale_pid_file: false
            }
        );
    }
}
