//! The apply phase's seam to the rest of dbkit: a scratch database on the server, and
//! "apply these migrations to that URL, tell me the first failure with file and line".
//!
//! INTERIM: `db::scratch::ScratchDb` and the `migrate` module are being built on other
//! branches; until they land, `Scratch` creates/drops a database itself and
//! `apply_range` runs the files with the check module's splitter (one transaction per
//! file, statement by statement; `-- dbkit:no-transaction` files outside one), which is
//! what refinery + dbkit's migrate do. The lead swaps the bodies at merge; the
//! signatures are the boundary the rest of `check` uses.

use anyhow::{Context, Result};
use tokio_postgres::error::ErrorPosition;
use tokio_postgres::Client;

use super::files::MigrationFile;
use crate::db::{connect, DbUrl};

/// A throw-away database on the server.
pub struct Scratch {
    server: DbUrl,
    url: DbUrl,
    name: String,
    keep: bool,
}

impl Scratch {
    pub async fn create(server: &DbUrl, prefix: &str, keep: bool) -> Result<Scratch> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!("{prefix}_{}_{nanos:x}", std::process::id());
        let admin = connect(server).await?;
        // The name is generated above from digits and a fixed prefix, never user text.
        admin
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .await
            .with_context(|| {
                format!(
                    "cannot create scratch database {name} on {}",
                    server.target()
                )
            })?;
        Ok(Scratch {
            server: server.clone(),
            url: server.with_dbname(&name),
            name,
            keep,
        })
    }

    pub fn url(&self) -> &DbUrl {
        &self.url
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Drop it now (unless kept); errors are reported, not fatal.
    pub async fn finish(self) -> Result<()> {
        if self.keep {
            eprintln!(
                "kept scratch database {} on {}",
                self.name,
                self.server.target()
            );
            return Ok(());
        }
        let admin = connect(&self.server).await?;
        admin
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ))
            .await
            .with_context(|| format!("cannot drop scratch database {}", self.name))?;
        Ok(())
    }
}

/// Where and why PostgreSQL rejected a migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApplyFailure {
    pub file: String,
    pub line: usize,
    pub message: String,
}

/// Apply the files with `after < version <= upto` in order; the first failure stops it.
pub async fn apply_range(
    url: &DbUrl,
    files: &[MigrationFile],
    after: Option<i64>,
    upto: Option<i64>,
) -> Result<Option<ApplyFailure>> {
    let client = connect(url).await?;
    for file in files
        .iter()
        .filter(|f| after.is_none_or(|a| f.version > a) && upto.is_none_or(|u| f.version <= u))
    {
        if let Some(failure) = apply_file(&client, file).await? {
            return Ok(Some(failure));
        }
    }
    Ok(None)
}

async fn apply_file(client: &Client, file: &MigrationFile) -> Result<Option<ApplyFailure>> {
    if !file.no_transaction {
        client.batch_execute("BEGIN").await?;
    }
    for s in &file.statements {
        if let Err(err) = client.batch_execute(&s.stmt.sql).await {
            if !file.no_transaction {
                let _ = client.batch_execute("ROLLBACK").await;
            }
            let (line, message) = match err.as_db_error() {
                Some(db) => {
                    let offset = match db.position() {
                        Some(ErrorPosition::Original(pos)) => s
                            .stmt
                            .sql
                            .chars()
                            .take(*pos as usize)
                            .filter(|c| *c == '\n')
                            .count(),
                        _ => 0,
                    };
                    let mut message = format!("{}: {}", db.severity(), db.message());
                    if let Some(detail) = db.detail() {
                        message.push_str(&format!(" ({detail})"));
                    }
                    (s.stmt.line + offset, message)
                }
                None => return Err(err).context(format!("applying {}", file.display)),
            };
            return Ok(Some(ApplyFailure {
                file: file.display.clone(),
                line,
                message,
            }));
        }
    }
    if !file.no_transaction {
        client.batch_execute("COMMIT").await?;
    }
    Ok(None)
}
