//! `dbkit explain`.

use anyhow::Result;

use crate::cli::ConnectOpts;
use crate::config::Database;
use crate::exit::Outcome;
use crate::report::Format;

pub async fn run(
    connect: &ConnectOpts,
    args: &crate::explain::ExplainArgs,
    format: Format,
) -> Result<Outcome> {
    let database = Database::resolve(connect.database_url.as_deref())?;
    crate::explain::command(&database, args, format).await
}
