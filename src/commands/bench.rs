//! `dbkit bench`: flags → `BenchOptions` (and `BeforeOptions` for `--before`) → the
//! bench engine → `report::bench` → an outcome (exit 1 when the budget is missed). The
//! booking catalog runs the report's scenarios; any other catalog (or `--mix`) runs
//! its weighted mix of queries (`bench::mix`).

use anyhow::Result;

use crate::bench::before::BeforeOptions;
use crate::bench::mix::MixOptions;
use crate::bench::BenchOptions;
use crate::cli::bench::BenchArgs;
use crate::cli::ConnectOpts;
use crate::config::Database;
use crate::error::hinted;
use crate::exit::Outcome;
use crate::migrate::MigrationSet;
use crate::report::{emit, Format};
use crate::workload::CatalogSource;

pub async fn run(connect: &ConnectOpts, args: &BenchArgs, format: Format) -> Result<Outcome> {
    let database = Database::resolve(connect.database_url.as_deref())?;
    let url = database.url()?;
    if args.cleanup {
        emit(&crate::bench::cleanup(&url).await?, format)?;
        return Ok(Outcome::Clean);
    }
    let source = CatalogSource::locate(args.queries.as_deref(), &args.source.options(), &[])?;
    if args.mix || args.rate.is_some() || !crate::bench::canonical::is_booking(&source) {
        return mix(&url, &database, args, source, format).await;
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
            let before = before_options(&database, args, version)?;
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
    Ok(outcome(passed))
}

/// The catalog's weighted mix, on the target or (`--before`) on a lab before and after.
async fn mix(
    url: &crate::db::DbUrl,
    database: &Database,
    args: &BenchArgs,
    source: CatalogSource,
    format: Format,
) -> Result<Outcome> {
    if args.scenario.is_some() {
        let missing: Vec<&str> = match &source {
            CatalogSource::Loaded(catalog) => crate::bench::canonical::BOOKING_QUERIES
                .iter()
                .copied()
                .filter(|name| !catalog.queries.iter().any(|q| q.name == *name))
                .collect(),
            CatalogSource::Derived { .. } => crate::bench::canonical::BOOKING_QUERIES.to_vec(),
        };
        return Err(hinted(
            format!(
                "--scenario replays the booking transaction, and this catalog has no query `{}`: it runs as a mix",
                missing.join("`, `")
            ),
            "bench needs catalog.yaml with provider_contact_validation, provider_conflict_check and booking_insert for the scenarios; for the mix use --concurrency, --duration or --requests and --rate",
        ));
    }
    let opts = MixOptions {
        phase: args.mix_phase(),
        role: args.role.into(),
        pool_size: args.pool_size,
        seed: args.seed,
        budget_p95_ms: args.budget_p95_ms,
        tenants: args.tenants as usize,
    };
    let passed = match args.before {
        Some(version) => {
            let before = before_options(database, args, version)?;
            let both = crate::bench::before::run_mix(url, &source, &opts, &before).await?;
            emit(&both, format)?;
            both.after.passed()
        }
        None => {
            let report = crate::bench::mix::run(url, &source, &opts).await?;
            emit(&report, format)?;
            report.passed()
        }
    };
    Ok(outcome(passed))
}

fn before_options(
    database: &Database,
    args: &BenchArgs,
    version: crate::migrate::Version,
) -> Result<BeforeOptions> {
    let migrations = MigrationSet::resolve(&args.source.options())?;
    Ok(BeforeOptions {
        version: migrations.below_head("--before", version)?,
        orgs: args.orgs,
        keep: args.keep,
        migrations,
        cache: crate::lab::CachePolicy::for_target(
            matches!(database, Database::Local(_)),
            args.cache,
        ),
    })
}

fn outcome(passed: bool) -> Outcome {
    if passed {
        Outcome::Clean
    } else {
        Outcome::Failed
    }
}
