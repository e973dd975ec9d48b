//! Resolve the database dbkit works on from a flag, the environment and `.env`.
//! Connection order: `--database-url` > `DATABASE_URL` (environment, then `.env` in
//! the working directory) > dbkit's local cluster in `.dbkit/pg/`. Takes plain values:
//! the command layer passes the flag's URL.

use std::path::{Path, PathBuf};

use anyhow::Result;
use tokio_postgres::Client;

use crate::db::cluster::Cluster;
use crate::db::{connect, DbUrl};
use crate::error::hinted;

/// Where the database comes from.
#[derive(Debug, Clone)]
pub enum Database {
    /// A URL given by flag, environment or `.env`.
    Url(Box<DbUrl>),
    /// dbkit's own cluster, started on demand.
    Local(PathBuf),
}

impl Database {
    /// Resolve `--database-url` (when given) against the environment and `.env`.
    pub fn resolve(database_url: Option<&str>) -> Result<Database> {
        let url = |raw: &str, origin: &str| -> Result<Database> {
            Ok(Database::Url(Box::new(DbUrl::parse(raw.trim(), origin)?)))
        };
        if let Some(raw) = database_url {
            return url(raw, "--database-url");
        }
        if let Ok(raw) = std::env::var("DATABASE_URL") {
            if !raw.trim().is_empty() {
                return url(&raw, "DATABASE_URL");
            }
        }
        if let Some(raw) = dotenv_database_url(Path::new(".env"))? {
            return url(&raw, ".env DATABASE_URL");
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
}

/// Read `DATABASE_URL` from a `.env` file without exporting anything else. A line
/// that does not parse is named by number only: its text may hold any secret.
fn dotenv_database_url(path: &Path) -> Result<Option<String>> {
    if !path.exists() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let iter = dotenvy::from_read_iter(text.as_bytes());
    for item in iter {
        let (key, value) = item.map_err(|e| env_error(path, &text, &e))?;
        if key == "DATABASE_URL" && !value.trim().is_empty() {
            return Ok(Some(value.trim().to_string()));
        }
    }
    Ok(None)
}

/// `cannot parse .env: line 3 is not KEY=VALUE`, never quoting the line.
fn env_error(path: &Path, text: &str, err: &dotenvy::Error) -> anyhow::Error {
    let line = match err {
        dotenvy::Error::LineParse(bad, _) => line_number(text, bad),
        _ => None,
    };
    let place = line.map_or_else(|| "a line".to_string(), |n| format!("line {n}"));
    hinted(
        format!(
            "cannot parse {}: {place} is not KEY=VALUE (an unterminated quote?)",
            path.display()
        ),
        format!(
            "fix that line of {} (its text is not shown: it may hold a secret), or pass --database-url",
            path.display()
        ),
    )
}

/// The 1-based line of `text` where `fragment` (dotenvy's copy of the bad line, which
/// may span several lines after an open quote) starts.
fn line_number(text: &str, fragment: &str) -> Option<usize> {
    let first = fragment.lines().next().filter(|l| !l.trim().is_empty())?;
    text.lines()
        .position(|line| line.trim_end() == first.trim_end() || line.contains(first.trim()))
        .map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_error(content: &str) -> (String, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(&path, content).unwrap();
        let err = dotenv_database_url(&path).unwrap_err();
        (crate::error::one_line(&err), crate::error::hint(&err))
    }

    #[test]
    fn a_bad_env_line_is_named_by_number_never_shown() {
        let (message, hint) = parse_error(
            "# app settings\nAPP=1\nDATABASE_URL=\"postgres://u:Hunter2@db/app\nAPI_KEY=sk_live_123\n",
        );
        assert!(message.contains("line 3"), "{message}");
        assert!(message.contains(".env"), "{message}");
        for secret in ["Hunter2", "sk_live", "postgres://"] {
            assert!(
                !message.contains(secret) && !hint.contains(secret),
                "{message} / {hint}"
            );
        }
        let (message, _) = parse_error("A=1\nAPI KEY=sk_live_456\n");
        assert!(
            message.contains("line 2") && !message.contains("sk_live"),
            "{message}"
        );
    }

    #[test]
    fn the_env_url_is_read_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(&path, "OTHER=x\nDATABASE_URL=postgres://u@h/d\n").unwrap();
        assert_eq!(
            dotenv_database_url(&path).unwrap().as_deref(),
            Some("postgres://u@h/d")
        );
        assert!(std::env::var("OTHER").is_err(), "nothing else is exported");
    }
}
