//! `dbkit bench`: flags → `BenchOptions` (and `BeforeOptions` for `--before`) → the
//! bench engine → `report::bench` → an outcome (exit 1 when the budget is missed).

use anyhow::Result;

use crate::bench::before::BeforeOptions;
use crate::bench::BenchOptions;
use crate::cli::bench::BenchArgs;
use crate::cli::ConnectOpts;
use crate::config::Database;
use crate::error::hinted;
use crate::exit::Outcome;
use crate::migrate::MigrationSet;
use crate::report::{emit, Format};

pub async fn run(connect: &ConnectOpts, args: &BenchArgs, format: Format) -> Result<Outcome> {
    let database = Database::resolve(connect.database_url.as_deref())?;
    let url = database.url()?;
    if args.cleanup {
        emit(&crate::bench::cleanup(&url).await?, format)?;
        return Ok(Outcome::Clean);
    }
    let opts = BenchOptions {
        phases: args.phases(),
        pool_size: args.pool_size,
        budget_p95_ms: args.budget_p95_ms,
        collide_ratio: args.collide_ratio,
        seed: args.seed,
        statements: crate::bench::load_statements(args.queries.as_deref())?,
    };
    let passed = match args.before {
        Some(version) => {
            let before = BeforeOptions {
                version: i32::try_from(version).map_err(|_| {
                    hinted(
                        format!("--before {version} is too large"),
                        "versions are 32-bit integers",
                    )
                })?,
                orgs: args.orgs,
                keep: args.keep,
                migrations: MigrationSet::resolve(&args.source.options())?,
                cache: crate::lab::CachePolicy::for_target(
                    matches!(database, Database::Local(_)),
                    args.cache,
                ),
            };
            let both = crate::bench::before::run(&url, &opts, &before).await?;
            emit(&both, format)?;
            both.after.passed()
        }
        None => {
            let report = crate::bench::run(&url, &opts).await?;
            emit(&report, format)?;
            report.passed()
        }
    };
    Ok(if passed {
        Outcome::Clean
    } else {
        Outcome::Failed
    })
}
