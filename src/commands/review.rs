//! `dbkit review`: flags → `ReviewOptions` (check's, with the rehearsal; explain
//! `--before` the base) → `review::review` → the verdict document (markdown, table,
//! JSON) or SARIF → exit 1 when a finding reaches `--fail-on`.

use std::time::Duration;

use anyhow::Result;

use crate::check::CheckOptions;
use crate::cli::review::ReviewArgs;
use crate::cli::{ConnectOpts, OutputFormat};
use crate::config::Database;
use crate::exit::Outcome;
use crate::explain::rules::Thresholds;
use crate::explain::{BeforeOptions, ExplainOptions, RunOptions};
use crate::migrate::{MigrationSet, Version};
use crate::report::review::{ReviewReport, COMMENT_LIMIT};
use crate::report::sarif;
use crate::review::{PlanOptions, ReviewOptions};
use crate::seed::{Profile, SeedOptions};
use crate::workload::CatalogSource;

pub async fn run(
    connect: &ConnectOpts,
    args: &ReviewArgs,
    output: OutputFormat,
) -> Result<Outcome> {
    let format = match output {
        OutputFormat::Sarif => None,
        other => Some(super::report_format(other)?),
    };
    let database = Database::resolve(connect.database_url.as_deref())?;
    let local = matches!(database, Database::Local(_));
    let source = args.source.options();
    let migrations = MigrationSet::resolve(&source)?;
    let mut not_run = Vec::new();
    let base = Version::new(args.base);
    let rehearse = if args.no_rehearse {
        not_run.push("rehearsal under traffic: --no-rehearse".to_string());
        None
    } else {
        let load = super::rehearse::Load {
            queries: traffic_queries(args),
            source: source.clone(),
            before: Some(base),
            orgs: args.orgs,
            clients: args.clients,
            max_stall: args.max_stall,
            cache: false,
        };
        Some(super::rehearse::options(
            &database,
            migrations.clone(),
            load,
        )?)
    };
    let plans = if args.no_plans {
        not_run.push("query plans: --no-plans".to_string());
        None
    } else {
        let explain = explain_options(args, base, migrations, local)?;
        Some(PlanOptions {
            server: database.url()?,
            explain,
        })
    };
    let opts = ReviewOptions {
        check: CheckOptions {
            source,
            base: Some(args.base),
            all: false,
            server: Some(database.url()?),
            keep: false,
            rehearse,
            stats_from: args
                .stats_from
                .as_deref()
                .map(|raw| crate::db::DbUrl::parse(raw, "--stats-from"))
                .transpose()?,
        },
        plans,
        fail_on: args.fail_on,
        not_run,
    };
    let review = crate::review::review(opts).await?;
    if let Some(path) = &args.sarif {
        let mut out = Vec::new();
        sarif::write(&issues(&review), &mut out)?;
        std::fs::write(path, out).map_err(|e| {
            crate::error::hinted(
                format!("cannot write {}: {e}", path.display()),
                "pass a writable path to --sarif",
            )
        })?;
    }
    match format {
        Some(format) => crate::report::emit(
            &ReviewReport {
                review: &review,
                limit: COMMENT_LIMIT,
            },
            format,
        )?,
        None => sarif::emit(&issues(&review))?,
    }
    Ok(if review.verdict().passed {
        Outcome::Clean
    } else {
        Outcome::Failed
    })
}

/// The verdict's findings as SARIF issues: check's (the rehearsal's among them), then
/// the plans'.
fn issues(review: &crate::review::Review) -> Vec<sarif::Issue> {
    let mut issues = sarif::from_check(&review.check.findings);
    issues.extend(sarif::from_check(&review.plan_findings));
    issues
}

/// The catalog of the plans and the rehearsal's traffic: `--queries` when it is not the
/// default, else what explain and rehearse pick themselves (./queries, the shipped
/// booking queries for the booking schema, or queries derived from the schema).
fn traffic_queries(args: &ReviewArgs) -> Option<std::path::PathBuf> {
    (args.queries != std::path::Path::new("queries")).then(|| args.queries.clone())
}

/// explain `--before` the base, with explain's defaults but three runs per series
/// (the verdict rests on plan shape and buffers, not on timings).
fn explain_options(
    args: &ReviewArgs,
    base: Version,
    migrations: MigrationSet,
    local: bool,
) -> Result<ExplainOptions> {
    let catalog = CatalogSource::locate(
        traffic_queries(args).as_deref(),
        &args.source.options(),
        &[],
    )?;
    let profile = match &args.profile {
        Some(path) => Profile::from_file(path)?,
        None => Profile::default_profile(),
    };
    Ok(ExplainOptions {
        catalog,
        advise: None,
        run: RunOptions {
            runs: 3,
            series_budget: Duration::from_millis(500),
            statement_timeout: Duration::from_secs(30),
            jobs: 2,
            index_suggestions: true,
            thresholds: Thresholds::default(),
        },
        before: Some(BeforeOptions {
            version: migrations.below_head("--base", base)?,
            migrations,
            seed: SeedOptions {
                orgs: args.orgs,
                seed: 42,
                profile,
                ..SeedOptions::default()
            },
            keep: false,
            cache: crate::lab::CachePolicy::for_target(local, false),
        }),
    })
}
