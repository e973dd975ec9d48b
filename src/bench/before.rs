//! `dbkit bench --before V`: the report's "Before / After Opt" table, measured. A scratch
//! database is migrated to V and seeded, the scenarios run, the same database is
//! migrated to the head (so both sides see identical rows: the bench removes what it
//! inserted) and the scenarios run again. The target database is never touched; the
//! scratch database is dropped unless `--keep`.
//!
//! Only the head run decides the exit code: the "before" side is expected to miss the
//! budget (and, without the V6 constraint, may even show double bookings).

use anyhow::{Context, Result};
use serde::Serialize;

use super::transaction::BookingStatements;
use super::{BenchArgs, BenchReport};
use crate::db::scratch::ScratchDb;
use crate::db::{connect, DbUrl};
use crate::error::hinted;
use crate::migrate::{migrate_url, MigrationSet, Version};

#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub name: String,
    pub concurrency: usize,
    pub p95_before_ms: f64,
    pub p95_after_ms: f64,
    /// p95 before / p95 after.
    pub p95_speedup: f64,
    pub throughput_before_rps: f64,
    pub throughput_after_rps: f64,
    pub errors_before: u64,
    pub errors_after: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct BeforeAfter {
    pub before_version: u32,
    pub after_version: i32,
    pub orgs: u32,
    pub before: BenchReport,
    pub after: BenchReport,
    pub comparison: Vec<Comparison>,
}

pub async fn run(
    server: &DbUrl,
    args: &BenchArgs,
    statements: BookingStatements,
    version: u32,
) -> Result<BeforeAfter> {
    let set = MigrationSet::resolve(&args.source.options())?;
    let head = set.latest().unwrap_or(Version::new(0));
    if Version::from(version) >= head || set.get(Version::from(version)).is_none() {
        return Err(hinted(
            format!(
                "--before {version}: there is no migration V{version} below the head (V{head})"
            ),
            format!("pick a version between 1 and {}", head.get() - 1),
        ));
    }
    let say = |what: &str| {
        if crate::report::stderr_is_terminal() {
            eprintln!("bench --before {version}: {what}");
        }
    };
    let scratch = ScratchDb::create(server, "bench", None).await?;
    say(&format!(
        "migrating scratch database {} to V{version}",
        scratch.name()
    ));
    migrate_url(scratch.url(), &set, Some(Version::from(version))).await?;
    say(&format!("seeding {} orgs", args.orgs));
    seed(scratch.url(), args.orgs).await?;

    let control = connect(scratch.url()).await?;
    say("running the scenarios before");
    let before = super::run(scratch.url(), &control, args, statements.clone()).await?;
    say(&format!("migrating to the head (V{head})"));
    migrate_url(scratch.url(), &set, None).await?;
    control
        .batch_execute("ANALYZE")
        .await
        .context("ANALYZE after migrating")?;
    say("running the scenarios after");
    let after = super::run(scratch.url(), &control, args, statements).await?;
    drop(control);
    if args.keep {
        let url = scratch.keep();
        eprintln!("kept the scratch database: {url}");
    } else {
        scratch.drop_now().await?;
    }
    let comparison = compare(&before, &after);
    Ok(BeforeAfter {
        before_version: version,
        after_version: head.to_i32()?,
        orgs: args.orgs,
        before,
        after,
        comparison,
    })
}

/// Seed the scratch database like `dbkit seed --orgs N` (default profile, fixed seed),
/// so both sides hold the same rows as every other `--before` of dbkit.
async fn seed(url: &DbUrl, orgs: u32) -> Result<()> {
    let opts = crate::seed::SeedOptions {
        orgs,
        progress: crate::report::stderr_is_terminal(),
        ..crate::seed::SeedOptions::default()
    };
    crate::seed::seed_database(url, &opts)
        .await
        .context("seeding the scratch database")?;
    Ok(())
}

pub fn compare(before: &BenchReport, after: &BenchReport) -> Vec<Comparison> {
    before
        .scenarios
        .iter()
        .filter_map(|b| {
            let a = after.scenarios.iter().find(|a| a.name == b.name)?;
            Some(Comparison {
                name: b.name.clone(),
                concurrency: b.concurrency,
                p95_before_ms: b.p95_ms,
                p95_after_ms: a.p95_ms,
                p95_speedup: if a.p95_ms > 0.0 {
                    (b.p95_ms / a.p95_ms * 10.0).round() / 10.0
                } else {
                    0.0
                },
                throughput_before_rps: b.throughput_rps,
                throughput_after_rps: a.throughput_rps,
                errors_before: b.errors,
                errors_after: a.errors,
            })
        })
        .collect()
}
