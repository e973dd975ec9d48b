//! `dbkit rehearse`: apply the pending migrations to a seeded lab database under live
//! traffic (the booking transaction, or any catalog's mix: `traffic`) and measure, statement by statement, what the traffic saw — the
//! stall — and which locks did it. Owns the orchestration and the result types;
//! `probe` (the observer given to the migrate engine), `sampler` (pg_locks,
//! pg_stat_activity, relfilenodes, from a connection of its own) and `verdict`
//! (budget, recipes) do the parts. Traffic runs on bench's runners and pool.
//! Rendering is `crate::report::rehearse`'s. The target is only read (its version);
//! the lab database is dropped unless kept — also on Ctrl-C or SIGTERM.

mod assemble;
pub mod failure;
pub mod gate;
pub mod probe;
pub mod sampler;
pub mod traffic;
pub mod verdict;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use serde::Serialize;

use crate::bench::runner::Windows;
use crate::bench::stats::PhaseStats;
use crate::db::{connect, DbUrl};
use crate::error::hinted;
use crate::lab::{CachePolicy, CacheUse, Finished, Lab};
use crate::migrate::apply::{migrate_observed, ApplyOptions};
use crate::migrate::failure::MigrationFailed;
use crate::migrate::{MigrationSet, Version};
pub use failure::StepFailure;
use probe::{Probe, StepRecord};
use traffic::Clients;
pub use traffic::TrafficSource;

/// What to rehearse: the engine's plain options.
#[derive(Debug, Clone)]
pub struct RehearseOptions {
    /// The target: only its version is read (when `before` is None), and the lab is
    /// created on its server.
    pub target: DbUrl,
    pub migrations: MigrationSet,
    /// The version the lab starts at (None: the target's).
    pub before: Option<Version>,
    pub orgs: u32,
    /// Concurrent booking clients (and pool connections).
    pub clients: u32,
    /// A statement whose traffic max latency exceeds this fails the gate.
    pub max_stall: Duration,
    /// How long the traffic is measured before the first migration (at least 5 s).
    pub baseline: Duration,
    /// As `dbkit migrate --lock-timeout`.
    pub lock_timeout: Duration,
    pub keep: bool,
    /// What the clients send: the booking transaction, or a catalog's mix.
    pub traffic: TrafficSource,
    pub seed: u64,
    /// Whether the seeded database at `before` may come from (and is kept as) a lab
    /// template.
    pub cache: CachePolicy,
}

/// The shortest baseline measured.
pub const MIN_BASELINE: Duration = Duration::from_secs(5);

/// The traffic before any migration.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Baseline {
    pub p99_ms: f64,
    pub requests: u64,
    pub errors: u64,
}

/// What the traffic saw during one statement.
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct Traffic {
    pub requests: u64,
    pub errors: u64,
    pub errors_by_sqlstate: std::collections::BTreeMap<String, u64>,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Longest time a booking was seen waiting on a lock the migration held or queued for.
    pub lock_wait_ms: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LockTaken {
    pub relation: String,
    /// PostgreSQL's name: `AccessExclusiveLock`, `ShareUpdateExclusiveLock`, …
    pub mode: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StatementRehearsal {
    /// Line in the file; null for a transactional file's COMMIT.
    pub line: Option<usize>,
    pub sql: String,
    pub ms: f64,
    pub locks: Vec<LockTaken>,
    pub rewrites: Vec<String>,
    pub traffic: Traffic,
    pub retries: u32,
    /// Why it fails the gate (empty: it passes).
    pub failures: Vec<String>,
    /// The migration failed at this statement (under the traffic): why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<failure::StepFailure>,
    /// The lock it was waiting for when it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub waited_for: Option<LockTaken>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MigrationRehearsal {
    pub version: i64,
    pub name: String,
    pub mode: String,
    /// Wall time of the whole file under the probe (its snapshots included).
    pub wall_ms: f64,
    pub statements: Vec<StatementRehearsal>,
}

/// A statement that fails the gate.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Finding {
    pub version: i64,
    pub file: String,
    pub line: Option<usize>,
    /// `AccessExclusiveLock on public.appointments`.
    pub lock: String,
    pub stall_ms: f64,
    pub message: String,
    pub recipe: String,
    /// Set when the migration failed at this statement (`40P01` deadlock, `55P03`
    /// lock_timeout after the retries, …); None for a stall.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sqlstate: Option<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Rehearsal {
    /// How the project names its versions (`V3`, `20240101120000`).
    #[serde(skip)]
    pub layout: crate::migrate::Layout,
    /// What the clients sent: `booking` (the booking transaction) or the catalog's mix.
    pub traffic: String,
    pub before_version: i64,
    pub orgs: u32,
    pub clients: u32,
    pub baseline: Baseline,
    pub stall_budget_ms: u64,
    pub migrations: Vec<MigrationRehearsal>,
    pub findings: Vec<Finding>,
    /// Pending migrations never applied because an earlier one failed under traffic.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_rehearsed: Vec<String>,
    /// How the seeded lab database was made: `reused dbkit_cache_…` (a template's
    /// clone), `stored dbkit_cache_…`, `not stored (why)`; absent without the cache.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lab_cache: Option<String>,
    /// The kept lab database's URL (password redacted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept: Option<String>,
}

impl Rehearsal {
    /// A version as the project's layout names it.
    pub fn label(&self, version: i64) -> String {
        self.layout.label(Version::new(version))
    }

    pub fn passed(&self) -> bool {
        self.findings.is_empty()
    }
}

impl MigrationRehearsal {
    /// The strongest lock any statement took, as `mode on relation`.
    pub fn worst_lock(&self) -> Option<LockTaken> {
        self.statements
            .iter()
            .flat_map(|s| &s.locks)
            .max_by_key(|l| sampler::strength(&l.mode))
            .cloned()
    }

    pub fn ms(&self) -> f64 {
        self.statements.iter().map(|s| s.ms).sum()
    }

    /// The longest traffic latency during any statement.
    pub fn stall_ms(&self) -> f64 {
        self.statements
            .iter()
            .map(|s| s.traffic.max_ms)
            .fold(0.0, f64::max)
    }

    pub fn passed(&self) -> bool {
        self.statements.iter().all(|s| s.failures.is_empty())
    }
}

/// Rehearse: build the lab, run the traffic, apply and measure, judge, clean up.
pub async fn run(opts: &RehearseOptions) -> Result<Rehearsal> {
    let version = match opts.before {
        Some(v) => v,
        None => target_version(&opts.target, &opts.migrations).await?,
    };
    let head = opts.migrations.latest().unwrap_or(Version::new(0));
    if opts.migrations.get(version).is_none() || version > head {
        let label = opts.migrations.label(version);
        return Err(hinted(
            format!(
                "--before {label}: there is no migration {label} in {}",
                opts.migrations.describe()
            ),
            format!("pick a version up to {}", opts.migrations.label(head)),
        ));
    }
    let interrupted = || {
        hinted(
            "rehearse interrupted",
            "the traffic was stopped and the lab database dropped; the target was not touched",
        )
    };
    let (lab, built) = Lab::seeded_for(
        &opts.target,
        "rehearse",
        "rehearse",
        opts.migrations.clone(),
        version,
        opts.orgs,
        opts.cache,
        interrupted,
    )
    .await?;
    let measured = tokio::select! {
        m = rehearse_on(&lab, opts) => m,
        _ = crate::bench::stop_signal() => Err(interrupted()),
    };
    let (lab, measured) = dropped_on_error(lab, measured).await?;
    let kept = match lab.finish(opts.keep).await? {
        Finished::Kept { url, .. } => Some(url.to_string()),
        Finished::Dropped => None,
    };
    let budget_ms = opts.max_stall.as_secs_f64() * 1000.0;
    let failed = measured.failed.as_ref();
    let mut migrations = assemble::assemble(
        &opts.migrations,
        measured.records,
        &measured.windows,
        budget_ms,
        failed,
    );
    for m in &mut migrations {
        if let Some((_, wall)) = measured.walls.iter().find(|(v, _)| *v == m.version) {
            m.wall_ms = round1(wall.as_secs_f64() * 1000.0);
        }
    }
    let mut findings = assemble::findings(&opts.migrations, &migrations, failed);
    if matches!(opts.traffic, TrafficSource::Catalog(_)) {
        reword_for_requests(&mut migrations, &mut findings);
    }
    let not_rehearsed = match failed {
        Some(f) => opts
            .migrations
            .migrations
            .iter()
            .filter(|m| m.version > f.version)
            .map(|m| m.file_name.clone())
            .collect(),
        None => Vec::new(),
    };
    Ok(Rehearsal {
        layout: opts.migrations.layout(),
        traffic: match &opts.traffic {
            TrafficSource::Booking(_) => "booking".into(),
            TrafficSource::Catalog(_) => "catalog".into(),
        },
        before_version: version.get(),
        orgs: opts.orgs,
        clients: measured.clients,
        baseline: measured.baseline,
        stall_budget_ms: opts.max_stall.as_millis() as u64,
        migrations,
        findings,
        not_rehearsed,
        lab_cache: match built.cache {
            CacheUse::Off => None,
            CacheUse::Hit(name) => Some(format!("reused {name}")),
            CacheUse::Stored(name) => Some(format!("stored {name}")),
            CacheUse::NotStored(why) => Some(format!("not stored ({why})")),
        },
        kept,
    })
}

/// The verdict's texts speak of bookings (the booking transaction's traffic); under a
/// catalog's mix the traffic is requests.
fn reword_for_requests(migrations: &mut [MigrationRehearsal], findings: &mut [Finding]) {
    fn reword(text: &str) -> String {
        text.replace("the booking traffic", "the traffic")
            .replace("a booking (pid", "a request (pid")
            .replace("bookings", "requests")
    }
    for s in migrations.iter_mut().flat_map(|m| m.statements.iter_mut()) {
        for f in &mut s.failures {
            *f = reword(f);
        }
        if let Some(e) = &mut s.error {
            e.conflict = e.conflict.as_deref().map(reword);
        }
    }
    for f in findings.iter_mut() {
        f.message = reword(&f.message);
        f.recipe = reword(&f.recipe);
    }
}

/// The lab and the value; on an error the lab is dropped before the error is returned.
async fn dropped_on_error<T>(lab: Lab, result: Result<T>) -> Result<(Lab, T)> {
    match result {
        Ok(value) => Ok((lab, value)),
        Err(e) => {
            let _ = lab.finish(false).await;
            Err(e)
        }
    }
}

/// The target's version: the highest applied migration (read only).
async fn target_version(target: &DbUrl, set: &MigrationSet) -> Result<Version> {
    let client = connect(target).await?;
    let history = crate::migrate::history::read(&client, set.layout()).await?;
    history.iter().map(|h| h.version).max().ok_or_else(|| {
        hinted(
            "the target has no migration applied, so there is no version to rehearse from",
            "give the version to start from: `dbkit rehearse --before 3` (in the gate: `dbkit check --rehearse --base 3`)",
        )
    })
}

/// Stops the traffic when dropped (an interrupted rehearsal drops this future).
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

struct Measured {
    baseline: Baseline,
    records: Vec<StepRecord>,
    walls: Vec<(i64, Duration)>,
    windows: Vec<PhaseStats>,
    clients: u32,
    /// Where the migrations stopped: a failure under traffic is a finding, not an error.
    failed: Option<MigrationFailed>,
}

/// On the lab: traffic, baseline, the migrations under the probe, traffic stopped.
async fn rehearse_on(lab: &Lab, opts: &RehearseOptions) -> Result<Measured> {
    let url = lab.url();
    let control = connect(url).await?;
    let windows = Arc::new(Windows::default());
    // No clients: the probe alone (what benches/rehearse_overhead.sh measures).
    let (runner, clients) = Clients::prepare(
        &opts.traffic,
        url,
        &control,
        opts.clients as usize,
        opts.seed,
        windows.clone(),
    )
    .await?;
    let _stop = StopOnDrop(runner.abort_flag());
    windows.open();
    let traffic = (clients > 0).then(|| runner.spawn(clients));
    let baseline_window = windows.open();
    if clients > 0 {
        crate::progress::say(&format!(
            "rehearse: measuring the baseline ({} s, {clients} clients)",
            opts.baseline.max(MIN_BASELINE).as_secs()
        ));
        tokio::time::sleep(opts.baseline.max(MIN_BASELINE)).await;
    }

    let mut migration = connect(url).await?;
    let pid: i32 = migration
        .query_one("SELECT pg_backend_pid()", &[])
        .await
        .context("reading the migration backend's pid")?
        .get(0);
    let probe = Probe::new(Arc::new(connect(url).await?), pid, windows.clone());
    let apply = ApplyOptions {
        target: None,
        lock_timeout: opts.lock_timeout,
        ..ApplyOptions::default()
    };
    crate::progress::say("rehearse: applying the pending migrations under traffic");
    let applied = migrate_observed(&mut migration, lab.migrations(), &apply, &probe).await;
    // Let the requests that waited on the last statement finish, then stop.
    runner.abort_flag().store(true, Ordering::Relaxed);
    let traffic = match traffic {
        Some(task) => task.await,
        None => Ok(Ok(())),
    };
    runner.close();
    let (records, walls, sampling_error) = probe.finish();
    runner.stop_and_clean(&control).await;
    let failed = match applied {
        Ok(_) => None,
        Err(partial) => match partial.error.downcast_ref::<MigrationFailed>() {
            Some(f) => Some(f.clone()),
            None => return Err(partial.error),
        },
    };
    match traffic {
        Ok(Ok(_)) => {}
        Ok(Err(fatal)) => {
            return Err(hinted(
                format!("the traffic lost its connection: {}", fatal.message),
                "the measurements are incomplete; check the lab server and run again",
            ))
        }
        Err(join) => return Err(anyhow::anyhow!("the traffic failed: {join}")),
    }
    // Fail closed: a statement measured without its samples is not a pass.
    if let Some(e) = sampling_error {
        return Err(hinted(
            format!("rehearse could not sample the migration's locks: {e}"),
            "the rehearsal cannot prove what the migrations lock; check the lab server and run again",
        ));
    }
    let stats = windows.snapshot();
    let base = stats.get(baseline_window).cloned().unwrap_or_default();
    let baseline = Baseline {
        p99_ms: round1(base.latency.quantile_ms(0.99)),
        requests: base.requests(),
        errors: base.error_count(),
    };
    Ok(Measured {
        baseline,
        records,
        walls,
        windows: stats,
        clients: clients as u32,
        failed,
    })
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}
