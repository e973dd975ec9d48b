//! `dbkit bench`: replay the phase-6 report's load test (ramp, burst, sustained) against
//! the database alone — the booking transaction as PostgREST runs it, through a
//! connection pool — then prove that the bench created no double booking and remove
//! what it inserted. Safe on a live database: only the bench's own rows are checked
//! and deleted, whatever other writers do meanwhile. Any other catalog runs as a
//! weighted mix of its queries (`mix`), pgbench-like.
//!
//! `scenario` (load shapes), `stats` (HDR histograms, summary rows), `workload`
//! (requests drawn from the seeded data), `transaction` (the booking statements),
//! `runner` (pool and clients), `client_thread` (the runtime the clients run on),
//! `verify` (overlap proof, cleanup), `before` (the before/after comparison on a lab
//! database), `progress` (the bench's indicators), `mix` (any catalog's queries).
//! The engine takes plain `BenchOptions` and returns `BenchReport`; rendering is
//! `crate::report::bench`'s.

pub mod before;
pub mod canonical;
pub mod client_thread;
pub mod mix;
pub mod progress;
pub mod runner;
pub mod scenario;
pub mod stats;
pub mod transaction;
pub mod verify;
pub mod workload;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::Result;
use serde::Serialize;

use crate::db::{connect, DbUrl};
use crate::error::hinted;
use scenario::{Phase, Stop};
use stats::{PhaseStats, ScenarioSummary};
use transaction::BookingStatements;

/// Transactions run before measuring (not reported).
const WARM_UP_REQUESTS: u64 = 50;

/// What to run: the engine's plain options (the command layer builds them from flags).
#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub phases: Vec<Phase>,
    pub pool_size: u32,
    /// Exit 1 when any scenario's p95 exceeds this (finite, positive).
    pub budget_p95_ms: f64,
    /// Share of requests aimed at hot slots (0..=1).
    pub collide_ratio: f64,
    pub seed: u64,
    pub statements: BookingStatements,
}

/// What a run found, in the JSON shape of DESIGN.md plus extras.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub scenarios: Vec<ScenarioSummary>,
    /// Overlapping pairs that involve a row the bench inserted.
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
    /// Rows of this run still present after cleanup (by id or marker): must be 0.
    pub own_rows_left: i64,
    /// Why the run fails its budget (empty when it passes).
    pub failures: Vec<String>,
}

impl BenchReport {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// `bench --cleanup`: rows of earlier runs removed.
#[derive(Debug, Clone, Serialize)]
pub struct Removed {
    pub removed: u64,
}

/// The booking statements: `dir` when given, else ./queries when it has a catalog,
/// else the catalog shipped in the binary (as explain).
pub fn load_statements(dir: Option<&Path>) -> Result<BookingStatements> {
    let default_dir = Path::new("queries");
    match dir {
        Some(dir) => canonical::load_dir(dir),
        None if default_dir.join("catalog.yaml").exists() => canonical::load_dir(default_dir),
        None => canonical::embedded(),
    }
    .map_err(|e| {
        hinted(
            crate::error::one_line(&e),
            "bench needs catalog.yaml with provider_contact_validation, provider_conflict_check and booking_insert; fix the query files or point --queries at another directory",
        )
    })
}

/// Remove every row any bench run left behind.
pub async fn cleanup(url: &DbUrl) -> Result<Removed> {
    let client = connect(url).await?;
    Ok(Removed {
        removed: verify::cleanup_all_runs(&client).await?,
    })
}

/// Set each flag on Ctrl-C or SIGTERM (`crate::signal`): both mean "stop the clients
/// after their current transaction and clean up". Abort the returned task when done.
pub fn on_stop_signal(flags: Vec<Arc<AtomicBool>>) -> tokio::task::JoinHandle<()> {
    let stop = stop_signal();
    tokio::spawn(async move {
        stop.await;
        for flag in flags {
            flag.store(true, Ordering::Relaxed);
        }
    })
}

/// Resolves on the first Ctrl-C or SIGTERM. Listening starts when this is called (so
/// the signal is left to the caller, see `crate::signal`).
pub fn stop_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    let stop = crate::signal::wait();
    async move {
        stop.await;
    }
}

/// Run the phases against `url`, verify, clean up, and judge the budget.
pub async fn run(url: &DbUrl, opts: &BenchOptions) -> Result<BenchReport> {
    let control = connect(url).await?;
    let tenants = workload::load(&control).await?;
    let workload = workload::Workload::new(tenants, opts.collide_ratio)?;
    let marker = transaction::marker(uuid::Uuid::new_v4());
    let pool_size = opts.pool_size as usize;
    let pool = runner::pool(url, pool_size)?;
    let runner = runner::Runner::new(
        pool.clone(),
        opts.statements.clone(),
        workload,
        marker.clone(),
        opts.seed,
    );

    let interrupted = Arc::new(AtomicBool::new(false));
    let on_signal = on_stop_signal(vec![runner.abort_flag(), interrupted.clone()]);
    let progress = progress::Progress::new();
    let mut results: Vec<(Phase, PhaseStats)> = Vec::new();
    let warming = progress.step(&format!(
        "warm-up ({pool_size} connections, {WARM_UP_REQUESTS} transactions)"
    ));
    let mut fatal = match runner.warm_up(pool_size).await {
        Ok(outcome) => outcome.err(),
        Err(e) => {
            on_signal.abort();
            return Err(e);
        }
    };
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
        for (i, phase) in opts.phases.iter().enumerate() {
            if interrupted.load(Ordering::Relaxed) {
                break;
            }
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
    if interrupted.load(Ordering::Relaxed) && fatal.is_none() {
        let deleted = verify::cleanup(&connect(url).await?, &inserted, &marker).await?;
        return Err(hinted(
            "bench interrupted",
            format!("the {deleted} appointment(s) it had inserted were removed"),
        ));
    }
    if let Some(fatal) = fatal {
        return Err(verify::after_fatal(url, &fatal, &inserted, &marker).await);
    }

    // The control connection may have died during the run (it is not the pool's).
    let control = if control.is_closed() {
        connect(url).await?
    } else {
        control
    };
    let double_bookings = match verify::double_bookings(&control, &inserted).await {
        Ok(n) => n,
        Err(e) => {
            let _ = verify::cleanup(&control, &inserted, &marker).await;
            return Err(e);
        }
    };
    let deleted = verify::cleanup(&control, &inserted, &marker).await?;
    let own_rows_left = verify::own_rows_left(&control, &inserted, &marker).await?;

    let scenarios = summarise(&results);
    let failures = judge(
        &scenarios,
        double_bookings,
        own_rows_left,
        opts.budget_p95_ms,
    );
    Ok(BenchReport {
        scenarios,
        double_bookings,
        pool_size: opts.pool_size,
        budget_p95_ms: opts.budget_p95_ms,
        statements: opts.statements.origin.clone(),
        inserted: inserted.len() as u64,
        warm_up_inserted,
        deleted,
        own_rows_left,
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

/// The budget: p95 per scenario, errors ≤ 1 %, no double booking involving the bench's
/// rows, none of its rows left.
pub fn judge(
    scenarios: &[ScenarioSummary],
    double_bookings: i64,
    own_rows_left: i64,
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
            "{double_bookings} overlapping pair(s) of appointments of one provider involving the bench's rows"
        ));
    }
    if own_rows_left > 0 {
        failures.push(format!(
            "{own_rows_left} appointment(s) of this run are still present after cleanup"
        ));
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn sustained_batches_get_a_merged_row_and_budget_is_judged() {
        let mut results = Vec::new();
        for phase in scenario::phases(scenario::Scenario::Sustained, 1) {
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
        let failures = judge(&rows, 0, 0, 500.0);
        assert_eq!(failures.len(), 6, "{failures:?}");
        assert!(judge(&rows, 0, 0, 1000.0).is_empty());
        assert_eq!(judge(&rows, 2, 1, 1000.0).len(), 2);
    }
}
