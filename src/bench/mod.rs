//! `dbkit bench`: replay the phase-6 report's load test (ramp, burst, sustained) against
//! the database alone — the booking transaction as PostgREST runs it, through a
//! connection pool — then prove there is no double booking and remove what it inserted.
//!
//! `scenario` (load shapes), `stats` (HDR histograms, summary rows), `workload`
//! (requests drawn from the seeded data), `transaction` (the booking statements),
//! `runner` (pool and clients), `verify` (overlap proof, cleanup, row counts),
//! `report` (table / markdown / JSON).

pub mod before;
pub mod canonical;
pub mod progress;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod stats;
pub mod transaction;
pub mod verify;
pub mod workload;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Result;
use clap::Args;
use serde::Serialize;

use crate::config::Database;
use crate::db::{connect, DbUrl};
use crate::error::hinted;
use crate::exit::Outcome;
use crate::report::Format;
use scenario::{Phase, Scenario, Stop};
use stats::{PhaseStats, ScenarioSummary};
use transaction::BookingStatements;

/// Transactions run before measuring (not reported).
const WARM_UP_REQUESTS: u64 = 50;

#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Load shape from the phase-6 report (default: all).
    #[arg(long, value_enum, conflicts_with_all = ["concurrency", "duration", "requests"])]
    pub scenario: Option<Scenario>,
    /// One custom phase with N concurrent clients (with --duration or --requests).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub concurrency: Option<u32>,
    /// How long the custom phase runs (e.g. 30s).
    #[arg(long, value_name = "DURATION", value_parser = crate::cli::parse_duration, conflicts_with = "requests")]
    pub duration: Option<Duration>,
    /// How many transactions the custom phase runs in total.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub requests: Option<u64>,
    /// Transactions per client in each scenario phase (at least 100 per phase).
    #[arg(long, value_name = "N", default_value_t = scenario::DEFAULT_REQUESTS_PER_CLIENT,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub requests_per_client: u64,
    /// Connections in the pool (the report's suspect: 10).
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub pool_size: u32,
    /// Exit 1 when any scenario's p95 latency exceeds this, or errors exceed 1%.
    #[arg(long, value_name = "MS", default_value_t = 500.0)]
    pub budget_p95_ms: f64,
    /// Share of requests aimed at a few hot slots per org, so that they collide (0..1).
    #[arg(long, value_name = "RATIO", default_value_t = 0.1)]
    pub collide_ratio: f64,
    /// Seed of the request streams (same seed, same data: same requests).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Directory of canonical query files (catalog.yaml + *.sql) to take the booking
    /// statements from: provider_contact_validation, provider_conflict_check,
    /// booking_insert (default: ./queries when it exists, else the catalog shipped in the
    /// binary — as explain).
    #[arg(long, value_name = "DIR")]
    pub queries: Option<std::path::PathBuf>,
    /// Measure before and after: on a scratch database migrated to version V and seeded,
    /// then on the same database migrated to the head (the target is not touched).
    #[arg(long, value_name = "V", conflicts_with = "cleanup")]
    pub before: Option<u32>,
    /// Orgs to seed the --before scratch database with.
    #[arg(long, value_name = "N", default_value_t = 50, requires = "before")]
    pub orgs: u32,
    /// Keep the --before scratch database (its URL is printed).
    #[arg(long, requires = "before")]
    pub keep: bool,
    #[command(flatten)]
    pub source: crate::cli::MigrationSourceOpts,
    /// Remove appointments left behind by earlier bench runs that could not clean up, and exit.
    #[arg(long, conflicts_with_all = ["scenario", "concurrency", "duration", "requests"])]
    pub cleanup: bool,
}

impl BenchArgs {
    /// The phases to run.
    pub fn phases(&self) -> Vec<Phase> {
        if self.concurrency.is_some() || self.duration.is_some() || self.requests.is_some() {
            let concurrency = self.concurrency.unwrap_or(10) as usize;
            let stop = match (self.duration, self.requests) {
                (Some(d), _) => Stop::Duration(d),
                (None, Some(n)) => Stop::Requests(n),
                (None, None) => {
                    Stop::Requests((concurrency as u64 * self.requests_per_client).max(100))
                }
            };
            return vec![scenario::custom(concurrency, stop)];
        }
        scenario::phases(
            self.scenario.unwrap_or(Scenario::All),
            self.requests_per_client.max(1),
        )
    }
}

/// What a run found, in the JSON shape of DESIGN.md plus extras.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub scenarios: Vec<ScenarioSummary>,
    pub double_bookings: i64,
    pub pool_size: u32,
    pub budget_p95_ms: f64,
    /// Where the booking statements came from.
    pub statements: String,
    /// Every row the run inserted, warm-up included (all of them are deleted).
    pub inserted: u64,
    /// Of `inserted`, the rows booked by the unmeasured warm-up transactions.
    pub warm_up_inserted: u64,
    pub deleted: u64,
    pub row_counts_unchanged: bool,
    /// Why the run fails its budget (empty when it passes).
    pub failures: Vec<String>,
}

pub async fn command(database: &Database, args: &BenchArgs, format: Format) -> Result<Outcome> {
    if !(0.0..=1.0).contains(&args.collide_ratio) {
        return Err(hinted(
            format!("--collide-ratio {} is outside 0..1", args.collide_ratio),
            "e.g. --collide-ratio 0.1 aims one request in ten at a hot slot",
        ));
    }
    let url = database.url()?;
    let control = connect(&url).await?;
    if args.cleanup {
        let n = verify::cleanup_all_runs(&control).await?;
        let text = match format {
            Format::Json => format!("{}\n", serde_json::json!({ "removed": n })),
            _ => format!("removed {n} appointment(s) left by earlier bench runs\n"),
        };
        crate::report::print(&text)?;
        return Ok(Outcome::Clean);
    }
    // As explain: --queries DIR, else ./queries when it exists, else the shipped catalog.
    let default_dir = std::path::Path::new("queries");
    let statements = match &args.queries {
        Some(dir) => canonical::load_dir(dir),
        None if default_dir.join("catalog.yaml").exists() => canonical::load_dir(default_dir),
        None => canonical::embedded(),
    }
    .map_err(|e| {
        hinted(
            crate::error::one_line(&e),
            "bench needs catalog.yaml with provider_contact_validation, provider_conflict_check and booking_insert; fix the query files or point --queries at another directory",
        )
    })?;
    if let Some(version) = args.before {
        drop(control);
        let both = before::run(&url, args, statements, version).await?;
        crate::report::print(&report::render_before_after(&both, format)?)?;
        return Ok(if both.after.failures.is_empty() {
            Outcome::Clean
        } else {
            Outcome::Failed
        });
    }
    let report = run(&url, &control, args, statements).await?;
    crate::report::print(&report::render(&report, format)?)?;
    Ok(if report.failures.is_empty() {
        Outcome::Clean
    } else {
        Outcome::Failed
    })
}

/// Run the phases against `url`, verify, clean up, and judge the budget.
pub async fn run(
    url: &DbUrl,
    control: &tokio_postgres::Client,
    args: &BenchArgs,
    statements: BookingStatements,
) -> Result<BenchReport> {
    let counts_before = verify::row_counts(control).await?;
    let tenants = workload::load(control).await?;
    let workload = workload::Workload::new(tenants, args.collide_ratio)?;
    let run_id = uuid::Uuid::new_v4();
    let marker = transaction::marker(run_id);
    let origin = statements.origin.clone();
    let pool_size = args.pool_size as usize;
    let pool = runner::pool(url, pool_size)?;
    let runner = runner::Runner::new(
        pool.clone(),
        statements,
        workload,
        marker.clone(),
        args.seed,
    );

    // Ctrl-C: stop the clients after their current transaction, then clean up.
    let interrupted = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let on_signal = {
        let (abort, interrupted) = (runner.abort_flag(), interrupted.clone());
        tokio::spawn(async move {
            crate::signal::wait().await;
            interrupted.store(true, std::sync::atomic::Ordering::Relaxed);
            abort.store(true, std::sync::atomic::Ordering::Relaxed);
        })
    };
    let progress = progress::Progress::new();
    let mut results: Vec<(Phase, PhaseStats)> = Vec::new();
    let warming = progress.step(&format!(
        "warm-up ({pool_size} connections, {WARM_UP_REQUESTS} transactions)"
    ));
    let mut fatal = runner.warm_up(pool_size).await?.err();
    if fatal.is_none() {
        // Unmeasured warm-up transactions (caches, plans), cleaned up like the rest.
        let warm = scenario::custom(pool_size, Stop::Requests(WARM_UP_REQUESTS));
        fatal = runner
            .run_phase(&warm, u64::MAX, &warming.counter())
            .await
            .err();
    }
    warming.finish();
    let warm_up_inserted = runner.inserted().len() as u64;
    if fatal.is_none() {
        for (i, phase) in args.phases().iter().enumerate() {
            let bar = progress.phase(phase);
            let outcome = runner.run_phase(phase, i as u64, &bar.counter()).await;
            bar.finish();
            match outcome {
                Ok(stats) => results.push((phase.clone(), stats)),
                Err(f) => {
                    fatal = Some(f);
                    break;
                }
            }
        }
    }
    pool.close();
    let _verifying = progress.step("checking for double bookings and removing the inserted rows");
    on_signal.abort();
    let inserted = runner.inserted();
    if interrupted.load(std::sync::atomic::Ordering::Relaxed) && fatal.is_none() {
        let deleted = verify::cleanup(&connect(url).await?, &inserted, &marker).await?;
        return Err(hinted(
            "bench interrupted",
            format!("the {deleted} appointment(s) it had inserted were removed"),
        ));
    }

    if let Some(fatal) = fatal {
        // Clean up on a fresh connection: the control connection may have been killed too.
        let cleaned = match connect(url).await {
            Ok(c) => verify::cleanup(&c, &inserted, &marker).await,
            Err(e) => Err(e),
        };
        let what = match &fatal.code {
            Some(code) => format!("{} (SQLSTATE {code})", fatal.message),
            None => fatal.message.clone(),
        };
        let hint = match cleaned {
            Ok(n) => format!(
                "the run stopped; the {n} appointment(s) it had inserted were removed (transactions in flight were rolled back by the server). Check the server and run again"
            ),
            Err(e) => format!(
                "the {} appointment(s) it inserted could not be removed ({}); when the server is back, run `dbkit bench --cleanup`",
                inserted.len(),
                crate::error::one_line(&e)
            ),
        };
        return Err(hinted(
            format!("bench lost its database connection: {what}"),
            hint,
        ));
    }

    // The control connection may have died during the run (it is not the pool's).
    let reconnected;
    let control = if control.is_closed() {
        reconnected = connect(url).await?;
        &reconnected
    } else {
        control
    };
    let double_bookings = match verify::double_bookings(control, &inserted).await {
        Ok(n) => n,
        Err(e) => {
            let _ = verify::cleanup(control, &inserted, &marker).await;
            return Err(e);
        }
    };
    let deleted = verify::cleanup(control, &inserted, &marker).await?;
    let counts_after = verify::row_counts(control).await?;
    let changed = verify::changed_counts(&counts_before, &counts_after);

    let scenarios = summarise(&results);
    let failures = judge(&scenarios, double_bookings, &changed, args.budget_p95_ms);
    Ok(BenchReport {
        scenarios,
        double_bookings,
        pool_size: args.pool_size,
        budget_p95_ms: args.budget_p95_ms,
        statements: origin,
        inserted: inserted.len() as u64,
        warm_up_inserted,
        deleted,
        row_counts_unchanged: changed.is_empty(),
        failures,
    })
}

/// One row per phase, plus a merged row for a group of equal-concurrency batches
/// (`sustained`: the report's "average P95" over its five batches).
pub fn summarise(results: &[(Phase, PhaseStats)]) -> Vec<ScenarioSummary> {
    let mut rows: Vec<ScenarioSummary> = results
        .iter()
        .map(|(p, s)| s.summary(&p.name, p.concurrency))
        .collect();
    let mut groups: BTreeMap<&str, Vec<&(Phase, PhaseStats)>> = BTreeMap::new();
    for r in results {
        groups.entry(r.0.group.as_str()).or_default().push(r);
    }
    for (group, members) in groups {
        let same = members
            .iter()
            .all(|(p, _)| p.concurrency == members[0].0.concurrency);
        if members.len() > 1 && same {
            let mut merged = PhaseStats::default();
            for (_, s) in &members {
                merged.merge(s);
            }
            rows.push(merged.summary(group, members[0].0.concurrency));
        }
    }
    rows
}

/// The budget: p95 per scenario, errors ≤ 1 %, no double booking, table counts restored.
pub fn judge(
    scenarios: &[ScenarioSummary],
    double_bookings: i64,
    changed: &[(String, i64, i64)],
    budget_p95_ms: f64,
) -> Vec<String> {
    let mut failures = Vec::new();
    for s in scenarios {
        if s.p95_ms > budget_p95_ms {
            failures.push(format!(
                "{}: p95 {:.1} ms exceeds the budget of {budget_p95_ms} ms",
                s.name, s.p95_ms
            ));
        }
        if s.error_rate() > 0.01 {
            failures.push(format!(
                "{}: {} of {} requests failed ({:.1}%, budget 1%)",
                s.name,
                s.errors,
                s.requests,
                s.error_rate() * 100.0
            ));
        }
    }
    if double_bookings > 0 {
        failures.push(format!(
            "{double_bookings} overlapping pair(s) of appointments of one provider"
        ));
    }
    for (table, before, after) in changed {
        failures.push(format!(
            "{table}: {before} rows before the run, {after} after cleanup"
        ));
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        args: BenchArgs,
    }

    fn parse(argv: &[&str]) -> BenchArgs {
        Wrap::try_parse_from(std::iter::once("bench").chain(argv.iter().copied()))
            .unwrap()
            .args
    }

    #[test]
    fn default_is_all_scenarios() {
        assert_eq!(parse(&[]).phases().len(), 9);
    }

    #[test]
    fn custom_phase_from_concurrency_and_duration() {
        let p = parse(&["--concurrency", "4", "--duration", "2s"]).phases();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].concurrency, 4);
        assert_eq!(p[0].stop, Stop::Duration(Duration::from_secs(2)));
        let p = parse(&["--concurrency", "3", "--requests", "50"]).phases();
        assert_eq!(p[0].stop, Stop::Requests(50));
    }

    #[test]
    fn scenario_and_custom_conflict() {
        assert!(
            Wrap::try_parse_from(["bench", "--scenario", "burst", "--concurrency", "3"]).is_err()
        );
        assert!(Wrap::try_parse_from(["bench", "--duration", "1s", "--requests", "3"]).is_err());
    }

    #[test]
    fn sustained_batches_get_a_merged_row_and_budget_is_judged() {
        let mut results = Vec::new();
        for phase in scenario::phases(Scenario::Sustained, 1) {
            let mut s = PhaseStats::default();
            s.record(
                &stats::Outcome::SlotTaken(stats::Taken::ConflictCheck),
                Duration::ZERO,
                Duration::from_millis(600),
            );
            s.elapsed = Duration::from_secs(1);
            results.push((phase, s));
        }
        let rows = summarise(&results);
        assert_eq!(rows.len(), 6);
        assert_eq!(rows[5].name, "sustained");
        assert_eq!(rows[5].requests, 5);
        let failures = judge(&rows, 0, &[], 500.0);
        assert_eq!(failures.len(), 6, "{failures:?}");
        assert!(judge(&rows, 0, &[], 1000.0).is_empty());
        assert_eq!(
            judge(&rows, 2, &[("appointments".into(), 1, 2)], 1000.0).len(),
            2
        );
    }
}
