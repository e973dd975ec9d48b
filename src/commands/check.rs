//! `dbkit check`: the CI gate.

use anyhow::Result;

use crate::check::render::Output;
use crate::check::CheckArgs;
use crate::cli::{ConnectOpts, OutputFormat};
use crate::config::Database;
use crate::exit::Outcome;

pub async fn run(connect: &ConnectOpts, args: &CheckArgs, format: OutputFormat) -> Result<Outcome> {
    let database = Database::resolve(connect.database_url.as_deref())?;
    let output = match format.report() {
        Some(format) => Output::Report(format),
        None => Output::Github,
    };
    crate::check::command(&database, args, output).await
}
