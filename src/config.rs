//! Resolve flags, the environment and `.env` into one validated configuration.
//! Connection order: `--database-url` > `DATABASE_URL` (environment, then `.env` in
//! the working directory) > dbkit's local cluster in `.dbkit/pg/`.

use std::path::{Path, PathBuf};

use anyhow::Result;
use tokio_postgres::Client;

use crate::cli::ConnectOpts;
use crate::db::cluster::Cluster;
use crate::db::{connect, DbUrl};

/// Where the database comes from.
#[derive(Debug, Clone)]
pub enum Database {
    /// A URL given by flag, environment or `.env`.
    Url(Box<DbUrl>),
    /// dbkit's own cluster, started on demand.
    Local(PathBuf),
}

impl Database {
    /// Resolve the connection flags against the environment and `.env`.
    pub fn resolve(opts: &ConnectOpts) -> Result<Database> {
        if let Some(raw) = &opts.database_url {
            return Ok(Database::Url(Box::new(DbUrl::parse(
                raw,
                "--database-url",
            )?)));
        }
        if let Ok(raw) = std::env::var("DATABASE_URL") {
            if !raw.trim().is_empty() {
                return Ok(Database::Url(Box::new(DbUrl::parse(
                    raw.trim(),
                    "DATABASE_URL",
                )?)));
            }
        }
        if let Some(raw) = dotenv_database_url(Path::new(".env"))? {
            return Ok(Database::Url(Box::new(DbUrl::parse(
                &raw,
                ".env DATABASE_URL",
            )?)));
        }
        Ok(Database::Local(Cluster::default_dir()?))
    }

    /// The URL to use, starting the local cluster when that is the target.
    pub fn url(&self) -> Result<DbUrl> {
        match self {
            Database::Url(url) => Ok((**url).clone()),
            Database::Local(dir) => {
                let cluster = Cluster::new(dir.clone())?;
                cluster.ensure_running_announced()?;
                cluster.url()
            }
        }
    }

    /// Connect to the target database.
    pub async fn connect(&self) -> Result<Client> {
        let url = self.url()?;
        connect(&url).await
    }

    pub fn is_local_cluster(&self) -> bool {
        matches!(self, Database::Local(_))
    }
}

/// Read `DATABASE_URL` from a `.env` file without exporting anything else.
fn dotenv_database_url(path: &Path) -> Result<Option<String>> {
    if !path.exists() {
        return Ok(None);
    }
    let iter = dotenvy::from_path_iter(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    for item in iter {
        let (key, value) =
            item.map_err(|e| anyhow::anyhow!("cannot parse {}: {e}", path.display()))?;
        if key == "DATABASE_URL" && !value.trim().is_empty() {
            return Ok(Some(value.trim().to_string()));
        }
    }
    Ok(None)
}
