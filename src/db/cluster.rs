//! The server process of dbkit's own PostgreSQL cluster, used when no database URL is
//! configured: create it in `<dir>/data` on first use, start and stop it, read its
//! state, and prepare the `dbkit` database (pg_stat_statements, hypopg). Binary
//! discovery is `db::bindir`, the OS user it runs as `db::owner`, what it leaves on
//! disk `db::postmaster`; the `dbkit db` command is `commands::db`.
//!
//! Layout of `<dir>` (default `./.dbkit/pg`, mode 700, so only its owner reaches the
//! socket and the files):
//! - `data/`: the data directory (`PGDATA`); our settings live in `data/dbkit.conf`,
//!   included from `postgresql.conf` and rewritten at every start (port changes);
//! - `password`: the superuser's generated password (mode 600). Every connection,
//!   socket or TCP, authenticates with scram-sha-256: another user of the machine
//!   cannot connect, and so cannot run `COPY ... FROM PROGRAM` as the server's user;
//! - `log`: the server log (`pg_ctl -l`), quoted in error messages;
//! - `port`: the port last used, reused while it is free;
//! - `lock`: held (flock) while starting, stopping or destroying, so two dbkit
//!   processes that auto-start the cluster at once do not race;
//! - the unix socket `.s.PGSQL.<port>` (TCP only when that path would be too long).
//!
//! As root, the server runs as another user (`db::owner`), who gets `<dir>`; root
//! still reads the password file and so still connects. That user must be able to
//! traverse every parent of `<dir>`; when it cannot (a checkout under a mode-700
//! `/root`), dbkit says so and stops rather than moving the cluster elsewhere: a
//! cluster silently living in the temp directory would be wiped by tmp cleaners and
//! surprise its owner. The test harness places its clusters under the system temp
//! directory instead.

use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use nix::fcntl::{Flock, FlockArg};
use serde::Serialize;

use crate::db::bindir::{find_bindir, has_library};
use crate::db::owner::{check_reachable, chown, server_owner, Owner};
use crate::db::postmaster::{last_line, log_cause, parse_pid_file, process_alive, read_from};
use crate::db::settings::{self, server_settings, PG_HBA};
use crate::db::DbUrl;
use crate::error::hinted;

/// The database dbkit works in on its own cluster.
pub const DB_NAME: &str = "dbkit";
/// The cluster's superuser (password in `<dir>/password`).
pub const SUPERUSER: &str = "postgres";

/// A unix socket path must fit in `sockaddr_un.sun_path` (108 bytes on Linux).
const MAX_SOCKET_PATH: usize = 100;

/// dbkit's local cluster rooted at `dir` (see the module documentation for its layout).
#[derive(Debug, Clone)]
pub struct Cluster {
    dir: PathBuf,
}

/// What `dbkit db status` reports (rendered by `report::db`).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ClusterStatus {
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
    pub fn status(&self) -> Result<ClusterStatus> {
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
        Ok(ClusterStatus {
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
        let owner = server_owner(&self.data_dir())?;
        if let Some(owner) = &owner {
            chown(&self.dir, owner)?;
            check_reachable(&self.dir, owner)?;
        }
        // Owner only: the socket lives here, and so does the password.
        fs::set_permissions(&self.dir, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot restrict {} to its owner", self.dir.display()))?;
        let _lock = self.lock()?;
        // Another process may have started it while we waited for the lock.
        let status = self.status()?;
        if let (true, Some(port)) = (status.running, status.port) {
            return Ok(Started::AlreadyRunning { port });
        }
        let created = !self.exists();
        let password = self.ensure_password(owner.as_ref())?;
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
        self.secure(port, &password)?;
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
        let owner = server_owner(&self.data_dir())?;
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
            (true, Some(port)) => self.url_on(port, DB_NAME),
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

    /// The URL of database `db` on `port`, with the password when there is one (a
    /// cluster made before dbkit generated passwords has none until its next start).
    fn url_on(&self, port: u16, db: &str) -> Result<DbUrl> {
        let password = self.password()?.unwrap_or_default();
        DbUrl::parse(&url_for(port, &password, db), "the local cluster")
    }

    fn password_file(&self) -> PathBuf {
        self.dir.join("password")
    }

    /// The superuser's password, when the cluster has one.
    fn password(&self) -> Result<Option<String>> {
        match fs::read_to_string(self.password_file()) {
            Ok(text) => Ok(Some(text.trim().to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(anyhow!(e))
                .with_context(|| format!("cannot read {}", self.password_file().display())),
        }
    }

    /// The password, generated (256 random bits, hex) and written with mode 600 on
    /// first use. As root it belongs to the server's user, whose `initdb` reads it.
    fn ensure_password(&self, owner: Option<&Owner>) -> Result<String> {
        if let Some(password) = self.password()? {
            return Ok(password);
        }
        let password = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        let path = self.password_file();
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        writeln!(file, "{password}").with_context(|| format!("cannot write {}", path.display()))?;
        if let Some(owner) = owner {
            chown(&path, owner)?;
        }
        Ok(password)
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
            .args(["-U", SUPERUSER, "-A", "scram-sha-256"])
            .arg(format!("--pwfile={}", self.password_file().display()))
            .args(["-E", "UTF8", "--no-locale", "--no-sync"])
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

    /// After a start: the `dbkit` database, the extensions, and the password required
    /// of every connection (`settings::prepare`).
    fn secure(&self, port: u16, password: &str) -> Result<()> {
        let server = self.url_on(port, "postgres")?;
        let hba = self.data_dir().join("pg_hba.conf");
        let password = password.to_string();
        crate::db::block_on(async move { settings::prepare(&server, &hba, &password).await })
            .context("cannot prepare the dbkit database on the local cluster")
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
}

/// `postgresql://postgres:PASSWORD@127.0.0.1:PORT/DB` (no `:PASSWORD` when empty).
pub fn url_for(port: u16, password: &str, db: &str) -> String {
    if password.is_empty() {
        format!("postgresql://{SUPERUSER}@127.0.0.1:{port}/{db}")
    } else {
        format!("postgresql://{SUPERUSER}:{password}@127.0.0.1:{port}/{db}")
    }
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

/// `path` relative to the working directory when it is under it.
pub fn shown(path: &Path) -> String {
    std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| path.to_path_buf())
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(status.data_dir.ends_with("pg/data"));
        assert!(cluster.url().is_err());
        assert_eq!(
            cluster.stop().unwrap(),
            Stopped::NotRunning {
                stale_pid_file: false
            }
        );
    }

    #[test]
    fn urls_carry_the_password_only_when_there_is_one() {
        assert_eq!(
            url_for(5433, "", "dbkit"),
            "postgresql://postgres@127.0.0.1:5433/dbkit"
        );
        assert_eq!(
            url_for(5433, "abc", "dbkit"),
            "postgresql://postgres:abc@127.0.0.1:5433/dbkit"
        );
    }

    #[test]
    fn the_password_is_generated_once_with_mode_600() {
        use std::os::unix::fs::MetadataExt;
        let tmp = tempfile::tempdir().unwrap();
        let cluster = Cluster::new(tmp.path().to_path_buf()).unwrap();
        let first = cluster.ensure_password(None).unwrap();
        assert_eq!(first.len(), 64);
        assert_eq!(cluster.ensure_password(None).unwrap(), first);
        let meta = fs::metadata(cluster.password_file()).unwrap();
        assert_eq!(meta.mode() & 0o777, 0o600);
        let other = Cluster::new(tmp.path().join("other")).unwrap();
        fs::create_dir_all(other.dir()).unwrap();
        assert_ne!(other.ensure_password(None).unwrap(), first);
    }
}
