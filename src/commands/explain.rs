//! `dbkit explain`: `ExplainArgs` → `ExplainOptions` → the explain engine →
//! `ExplainReport` → the reporter; `--fail-on` decides the outcome.

use anyhow::Result;

use crate::cli::{ConnectOpts, ExplainArgs, OutputFormat};
use crate::config::Database;
use crate::exit::Outcome;
use crate::explain::rules::Thresholds;
use crate::explain::{BeforeOptions, ExplainOptions, ExplainReport, RunOptions};
use crate::migrate::MigrationSet;
use crate::report::Format;
use crate::seed::{Profile, SeedOptions};

pub async fn run(
    connect: &ConnectOpts,
    args: &ExplainArgs,
    output: OutputFormat,
) -> Result<Outcome> {
    let format = match output {
        OutputFormat::Sarif => None,
        other => Some(super::report_format(other)?),
    };
    // Resolving connects to nothing: catalog errors still name their file first.
    let database = Database::resolve(connect.database_url.as_deref())?;
    let opts = options(args, matches!(database, Database::Local(_)))?;
    let catalog = crate::explain::load_catalog(&opts)?;
    let report = crate::explain::explain(&database.url()?, &catalog, &opts).await?;
    if let Some(dir) = &args.save_plans {
        crate::explain::save_plans(&report, dir)?;
    }
    let Some(format) = format else {
        crate::report::sarif::emit(&crate::report::sarif::from_explain(&report, &catalog.dir))?;
        return Ok(outcome(&report, args));
    };
    crate::report::emit(&report, format)?;
    if format == Format::Json {
        // The table and markdown list these themselves; JSON's stdout stays one document.
        for line in crate::report::explain::error_lines(&report) {
            eprintln!("{line}");
        }
    }
    Ok(outcome(&report, args))
}

fn outcome(report: &ExplainReport, args: &ExplainArgs) -> Outcome {
    if report.fails(&args.fail_on) {
        Outcome::Failed
    } else {
        Outcome::Clean
    }
}

/// The engine's plain options from the flags.
fn options(args: &ExplainArgs, local_cluster: bool) -> Result<ExplainOptions> {
    let before = match args.before {
        Some(version) => {
            let profile = match &args.profile {
                Some(path) => Profile::from_file(path)?,
                None => Profile::default_profile(),
            };
            Some(BeforeOptions {
                version,
                migrations: MigrationSet::resolve(&args.source.options())?,
                seed: SeedOptions {
                    orgs: args.orgs,
                    seed: args.seed,
                    profile,
                    ..SeedOptions::default()
                },
                keep: args.keep,
                cache: crate::lab::CachePolicy::for_target(local_cluster, args.cache),
            })
        }
        None => None,
    };
    Ok(ExplainOptions {
        queries: args.queries.clone(),
        only: args.only.clone(),
        run: RunOptions {
            runs: args.runs.max(1),
            series_budget: args.budget,
            statement_timeout: args.statement_timeout,
            jobs: args.jobs.max(1),
            index_suggestions: !args.no_index_suggestions,
            thresholds: Thresholds {
                seq_scan_min_rows: args.seq_scan_min_rows as f64,
                ..Thresholds::default()
            },
        },
        before,
    })
}
