//! Throw-away databases on a server: `ScratchDb` for work that must not touch the
//! target's data (the lab: `explain --before`, `bench --before`, `check`) and for
//! tests, plus the drop helpers it is made of (`CREATE DATABASE t TEMPLATE tpl` is
//! fast, so a migrated template makes fresh databases cheap).
//!
//! A scratch database is named `dbkit_scratch_<prefix>_<pid>_<n>`. It lives until
//! `drop_now` (drop it) or `keep` (leave it on purpose, `--keep`: recorded with
//! `COMMENT ON DATABASE … IS 'dbkit: kept …'`). One dropped without either — an error
//! propagated with `?` — is left for inspection and said so on stderr. Leftovers of
//! processes that have exited are dropped by the next `ScratchDb::create` on the same
//! local server, when nobody is connected to them and they were not kept. While a
//! scratch database is held it is registered, so a stop signal that nobody handles
//! drops it before the process exits (`crate::signal`, `drop_held`).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, Result};
use nix::sys::signal::kill;
use nix::unistd::Pid;
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

use crate::db::ident::quote as quote_ident;
use crate::db::{connect, DbUrl};

const PREFIX: &str = "dbkit_scratch_";
/// How a kept database's comment starts; leftovers with it are never dropped.
const KEPT_MARK: &str = "dbkit: kept";
/// PostgreSQL truncates identifiers to 63 bytes.
const MAX_IDENT: usize = 63;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The scratch databases this process holds (server, name), for `drop_held`.
static HELD: Mutex<Vec<(DbUrl, String)>> = Mutex::new(Vec::new());

fn held() -> std::sync::MutexGuard<'static, Vec<(DbUrl, String)>> {
    HELD.lock().unwrap_or_else(|e| e.into_inner())
}

fn release(name: &str) {
    held().retain(|(_, held)| held != name);
}

/// A database created for one piece of work (see the module documentation).
#[derive(Debug)]
pub struct ScratchDb {
    server: DbUrl,
    url: DbUrl,
    name: String,
    settled: bool,
}

impl ScratchDb {
    /// Create a fresh database on the server `server` points at (any database there
    /// will do), empty or as a copy of `template`.
    pub async fn create(server: &DbUrl, prefix: &str, template: Option<&str>) -> Result<ScratchDb> {
        let client = connect(server).await?;
        if server.is_local() {
            // Best effort: a failure here must not stop the work.
            let _ = drop_leftovers_with(&client).await;
        }
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = scratch_name(prefix, std::process::id(), n);
        create_with(&client, &name, template).await?;
        held().push((server.clone(), name.clone()));
        Ok(ScratchDb {
            server: server.clone(),
            url: server.with_dbname(&name),
            name,
            settled: false,
        })
    }

    /// The scratch database's URL.
    pub fn url(&self) -> &DbUrl {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Disconnect everyone and drop it.
    pub async fn drop_now(mut self) -> Result<()> {
        self.settled = true;
        release(&self.name);
        drop_database(&self.server, &self.name).await
    }

    /// Leave it on the server (for inspection or `--keep`), marked as kept so no later
    /// run takes it for a leftover, and return its URL. A mark that cannot be written
    /// is said on stderr (the database stays either way).
    pub fn keep(mut self) -> DbUrl {
        self.settled = true;
        release(&self.name);
        let (server, name) = (self.server.clone(), self.name.clone());
        if let Err(err) = crate::db::block_on(async move { mark_kept(&server, &name).await }) {
            eprintln!(
                "dbkit: could not mark {} as kept ({}); a later run may drop it",
                self.name,
                crate::error::one_line(&err)
            );
        }
        self.url.clone()
    }
}

/// `COMMENT ON DATABASE name IS 'dbkit: kept by pid N at T'`.
async fn mark_kept(server: &DbUrl, name: &str) -> Result<()> {
    let client = connect(server).await?;
    let note = format!(
        "{KEPT_MARK} by pid {} at {}",
        std::process::id(),
        chrono::Utc::now().format("%Y-%m-%d %H:%M:%S UTC")
    );
    // COMMENT takes no bound parameters: the note is ours, quoted as a literal.
    client
        .batch_execute(&format!(
            "COMMENT ON DATABASE {} IS '{}'",
            quote_ident(name),
            note.replace('\'', "''")
        ))
        .await
        .with_context(|| format!("cannot mark database {name} as kept"))
}

/// Drop every scratch database this process still holds: the last-resort cleanup
/// when a stop signal ends the process (`crate::signal`). Says each on stderr.
pub async fn drop_held() {
    let databases: Vec<(DbUrl, String)> = held().drain(..).collect();
    for (server, name) in databases {
        match drop_database(&server, &name).await {
            Ok(()) => eprintln!("dbkit: dropped scratch database {name}"),
            Err(err) => eprintln!(
                "dbkit: could not drop scratch database {name}: {}",
                crate::error::one_line(&err)
            ),
        }
    }
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        // Work abandoned because a stop signal arrived: left registered, so the
        // command's cleanup (`drop_held`) drops it rather than leaving it behind.
        if !self.settled && crate::signal::stopped().is_some() {
            return;
        }
        if !self.settled {
            release(&self.name);
            eprintln!(
                "dbkit: left scratch database {} on {} for inspection",
                self.name,
                self.server.target()
            );
        }
    }
}

/// `CREATE DATABASE name [TEMPLATE template]`, retried briefly while the template is
/// in use by another session.
async fn create_with(client: &Client, name: &str, template: Option<&str>) -> Result<()> {
    let mut sql = format!("CREATE DATABASE {}", quote_ident(name));
    if let Some(template) = template {
        sql.push_str(&format!(" TEMPLATE {}", quote_ident(template)));
        // PostgreSQL 15's default WAL_LOG strategy writes every block of the copy through
        // the WAL: several times slower than a file copy for a gigabyte-sized lab template.
        let version: i32 = client
            .query_one("SELECT current_setting('server_version_num')::int", &[])
            .await?
            .get(0);
        if version >= 150000 {
            sql.push_str(" STRATEGY = FILE_COPY");
        }
    }
    let mut attempt = 0;
    loop {
        attempt += 1;
        match client.batch_execute(&sql).await {
            Ok(()) => return Ok(()),
            Err(e) if attempt < 20 && e.code() == Some(&SqlState::OBJECT_IN_USE) => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(e) => {
                let from = template
                    .map(|t| format!(" from template {t}"))
                    .unwrap_or_default();
                return Err(e).with_context(|| format!("cannot create database {name}{from}"));
            }
        }
    }
}

/// Terminate the database's other sessions and drop it (`WITH (FORCE)` where the
/// server has it, PostgreSQL 13+). Missing is fine.
pub async fn drop_database(server: &DbUrl, name: &str) -> Result<()> {
    let client = connect(server).await?;
    client
        .execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()",
            &[&name],
        )
        .await
        .with_context(|| format!("cannot disconnect the sessions of {name}"))?;
    let version: i32 = client
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .await?
        .get(0);
    let force = if version >= 130000 {
        " WITH (FORCE)"
    } else {
        ""
    };
    client
        .batch_execute(&format!(
            "DROP DATABASE IF EXISTS {}{force}",
            quote_ident(name)
        ))
        .await
        .with_context(|| format!("cannot drop database {name}"))
}

/// Drop the scratch databases of processes that no longer run (this machine's pids,
/// so only meaningful on a local server), that were not kept and that nobody is
/// connected to. Returns how many were dropped.
pub async fn drop_leftovers(server: &DbUrl) -> Result<usize> {
    let client = connect(server).await?;
    drop_leftovers_with(&client).await
}

/// Scratch databases not marked as kept.
const LEFTOVERS: &str = "SELECT datname FROM pg_database \
     WHERE starts_with(datname, $1) \
       AND coalesce(shobj_description(oid, 'pg_database'), '') NOT LIKE $2";

async fn drop_leftovers_with(client: &Client) -> Result<usize> {
    let rows = client
        .query(LEFTOVERS, &[&PREFIX, &format!("{KEPT_MARK}%")])
        .await?;
    let mut dropped = 0;
    for row in rows {
        let name: String = row.get(0);
        let Some(pid) = owner_pid(&name) else {
            continue;
        };
        if pid_alive(pid) {
            continue;
        }
        // No FORCE: a database someone is still using stays.
        if client
            .batch_execute(&format!("DROP DATABASE IF EXISTS {}", quote_ident(&name)))
            .await
            .is_ok()
        {
            dropped += 1;
        }
    }
    Ok(dropped)
}

/// `dbkit_scratch_<prefix>_<pid>_<n>`, the prefix reduced to `[a-z0-9_]` and short
/// enough for the whole name to fit in an identifier.
pub fn scratch_name(prefix: &str, pid: u32, n: u32) -> String {
    let tail = format!("_{pid}_{n}");
    let room = MAX_IDENT - PREFIX.len() - tail.len();
    let clean: String = prefix
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .take(room)
        .collect();
    format!("{PREFIX}{clean}{tail}")
}

/// The pid in a scratch database's name.
pub fn owner_pid(name: &str) -> Option<u32> {
    let rest = name.strip_prefix(PREFIX)?;
    let mut parts = rest.rsplit('_');
    parts.next()?.parse::<u32>().ok()?;
    parts.next()?.parse().ok()
}

fn pid_alive(pid: u32) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    matches!(
        kill(Pid::from_raw(raw), None),
        Ok(()) | Err(nix::errno::Errno::EPERM)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_clean_and_fit() {
        assert_eq!(
            scratch_name("Explain-Before", 42, 7),
            "dbkit_scratch_explain_before_42_7"
        );
        let long = scratch_name(&"x".repeat(100), 4_194_304, u32::MAX);
        assert!(long.len() <= MAX_IDENT, "{long}");
        assert_eq!(owner_pid(&long), Some(4_194_304));
    }

    #[test]
    fn owner_pid_reads_the_name_back() {
        assert_eq!(owner_pid("dbkit_scratch_check_base_123_0"), Some(123));
        assert_eq!(owner_pid("dbkit_scratch__9_1"), Some(9));
        assert_eq!(owner_pid("dbkit_scratch_x"), None);
        assert_eq!(owner_pid("app"), None);
    }
}
