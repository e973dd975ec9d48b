//! `dbkit rehearse`: flags → `RehearseOptions` → `rehearse::run` → `report::rehearse`
//! → exit 1 when a statement stalls the traffic beyond `--max-stall` or fails it.

use anyhow::Result;

use crate::cli::rehearse::RehearseArgs;
use crate::cli::ConnectOpts;
use crate::config::Database;
use crate::error::hinted;
use crate::exit::Outcome;
use crate::migrate::MigrationSet;
use crate::rehearse::RehearseOptions;
use crate::report::{emit, Format};

pub async fn run(connect: &ConnectOpts, args: &RehearseArgs, format: Format) -> Result<Outcome> {
    let database = Database::resolve(connect.database_url.as_deref())?;
    let before = match args.before {
        Some(v) => Some(i32::try_from(v).map_err(|_| {
            hinted(
                format!("--before {v} is too large"),
                "versions are 32-bit integers",
            )
        })?),
        None => None,
    };
    let opts = RehearseOptions {
        target: database.url()?,
        migrations: MigrationSet::resolve(&args.source.options())?,
        before,
        orgs: args.orgs,
        clients: args.clients,
        max_stall: args.max_stall,
        baseline: args.baseline,
        lock_timeout: args.lock_timeout,
        keep: args.keep,
        statements: crate::bench::load_statements(args.queries.as_deref())?,
        seed: 42,
        cache: crate::lab::CachePolicy::for_target(
            matches!(database, Database::Local(_)),
            args.cache,
        ),
    };
    let rehearsal = crate::rehearse::run(&opts).await?;
    emit(&rehearsal, format)?;
    Ok(if rehearsal.passed() {
        Outcome::Clean
    } else {
        Outcome::Failed
    })
}
