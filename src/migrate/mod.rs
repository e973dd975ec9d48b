//! Migrations (INTERFACE ONLY — being implemented).

use anyhow::{bail, Result};

use crate::cli::{MigrateArgs, NewArgs};
use crate::config::Database;
use crate::exit::Outcome;
use crate::report::Format;

pub async fn command(_db: &Database, _args: &MigrateArgs, _format: Format) -> Result<Outcome> {
    bail!("migrate not implemented yet")
}

pub fn new_migration(_args: &NewArgs) -> Result<Outcome> {
    bail!("new not implemented yet")
}
