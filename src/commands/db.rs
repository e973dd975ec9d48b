//! `dbkit db start|stop|status|url|destroy`: dbkit's local cluster.

use anyhow::Result;

use crate::cli::DbAction;
use crate::exit::Outcome;
use crate::report::Format;

pub fn run(action: DbAction, format: Format) -> Result<Outcome> {
    crate::db::cluster::command(action, format)
}
