//! `dbkit rehearse`: flags → `RehearseOptions` → `rehearse::run` → `report::rehearse`
//! → exit 1 when a statement stalls the traffic beyond `--max-stall` or fails it.
//! `dbkit check --rehearse` builds its options here too (`options`).

use std::time::Duration;

use anyhow::Result;

use crate::cli::rehearse::RehearseArgs;
use crate::cli::{ConnectOpts, OutputFormat};
use crate::config::Database;
use crate::error::hinted;
use crate::exit::Outcome;
use crate::migrate::MigrationSet;
use crate::rehearse::RehearseOptions;
use crate::report::{emit, sarif};

/// What a rehearsal needs besides its defaults (baseline 5 s, lock_timeout 5 s, no
/// `--keep`, the lab cache as the target allows).
pub struct Load {
    /// Query files of the booking traffic (None: `queries/` or the embedded ones).
    pub queries: Option<std::path::PathBuf>,
    pub before: Option<u32>,
    pub orgs: u32,
    pub clients: u32,
    pub max_stall: Duration,
    pub cache: bool,
}

/// The engine's options for rehearsing `migrations` on `database`'s server.
pub fn options(
    database: &Database,
    migrations: MigrationSet,
    load: Load,
) -> Result<RehearseOptions> {
    let before = match load.before {
        Some(v) => Some(i32::try_from(v).map_err(|_| {
            hinted(
                format!("--before {v} is too large"),
                "versions are 32-bit integers",
            )
        })?),
        None => None,
    };
    Ok(RehearseOptions {
        target: database.url()?,
        migrations,
        before,
        orgs: load.orgs,
        clients: load.clients,
        max_stall: load.max_stall,
        baseline: crate::rehearse::MIN_BASELINE,
        lock_timeout: Duration::from_secs(5),
        keep: false,
        statements: crate::bench::load_statements(load.queries.as_deref())?,
        seed: 42,
        cache: crate::lab::CachePolicy::for_target(
            matches!(database, Database::Local(_)),
            load.cache,
        ),
    })
}

pub async fn run(
    connect: &ConnectOpts,
    args: &RehearseArgs,
    output: OutputFormat,
) -> Result<Outcome> {
    let format = match output {
        OutputFormat::Sarif => None,
        other => Some(super::report_format(other)?),
    };
    let database = Database::resolve(connect.database_url.as_deref())?;
    let load = Load {
        queries: args.queries.clone(),
        before: args.before,
        orgs: args.orgs,
        clients: args.clients,
        max_stall: args.max_stall,
        cache: args.cache,
    };
    let migrations = MigrationSet::resolve(&args.source.options())?;
    let opts = RehearseOptions {
        baseline: args.baseline,
        lock_timeout: args.lock_timeout,
        keep: args.keep,
        ..options(&database, migrations, load)?
    };
    let rehearsal = crate::rehearse::run(&opts).await?;
    match format {
        Some(format) => emit(&rehearsal, format)?,
        None => sarif::emit(&sarif::from_rehearsal(&rehearsal, &opts.migrations))?,
    }
    Ok(if rehearsal.passed() {
        Outcome::Clean
    } else {
        Outcome::Failed
    })
}
