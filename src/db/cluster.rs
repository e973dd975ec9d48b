//! dbkit's own PostgreSQL cluster in `.dbkit/pg/` (INTERFACE ONLY — being implemented).

use std::path::PathBuf;

use anyhow::{bail, Result};

use crate::cli::DbAction;
use crate::db::DbUrl;
use crate::exit::Outcome;
use crate::report::Format;

pub struct Cluster {
    #[allow(dead_code)]
    dir: PathBuf,
}

impl Cluster {
    /// `.dbkit/pg` under the working directory.
    pub fn default_dir() -> Result<PathBuf> {
        Ok(std::env::current_dir()?.join(".dbkit").join("pg"))
    }

    pub fn new(dir: PathBuf) -> Result<Cluster> {
        Ok(Cluster { dir })
    }

    /// Start when not running, saying so in one line on stderr.
    pub fn ensure_running_announced(&self) -> Result<()> {
        bail!("local cluster not implemented yet")
    }

    /// URL of the `dbkit` database on the running cluster.
    pub fn url(&self) -> Result<DbUrl> {
        bail!("local cluster not implemented yet")
    }
}

pub fn command(_action: DbAction, _format: Format) -> Result<Outcome> {
    bail!("local cluster not implemented yet")
}
