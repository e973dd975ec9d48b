//! `dbkit bench --before V`: the report's "Before / After Opt" table, measured. A lab
//! database (`crate::lab`) is migrated to V and seeded, the scenarios run, the same
//! database is migrated to the head (so both sides see identical rows: the bench removes
//! what it inserted) and the scenarios run again. The target database is never touched;
//! the lab database is dropped unless kept — also on Ctrl-C or SIGTERM.
//!
//! Only the head run decides the exit code: the "before" side is expected to miss the
//! budget (and, without the V6 constraint, may even show double bookings).

use anyhow::Result;
use serde::Serialize;

use super::mix::{MixOptions, MixReport, QueryRow};
use super::{BenchOptions, BenchReport};
use crate::db::DbUrl;
use crate::error::hinted;
use crate::lab::{CacheUse, Finished, Lab};
use crate::migrate::{MigrationSet, Version};
use crate::workload::CatalogSource;

/// The lab side of `--before`.
#[derive(Debug, Clone)]
pub struct BeforeOptions {
    /// A version of `migrations` below the head.
    pub version: Version,
    pub orgs: u32,
    pub keep: bool,
    pub migrations: MigrationSet,
    /// Whether the lab reuses and keeps templates of its builds.
    pub cache: crate::lab::CachePolicy,
}

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
    pub before_version: i64,
    pub after_version: i64,
    /// The two versions as the project's layout names them (`V3`, `20240101120000`).
    #[serde(skip)]
    pub labels: (String, String),
    pub orgs: u32,
    pub before: BenchReport,
    pub after: BenchReport,
    pub comparison: Vec<Comparison>,
    /// The kept lab database's URL (password redacted), with `keep`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept: Option<String>,
    /// What the lab cache did, when caching (a fast run is then not a cold one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lab_cache: Option<LabCache>,
}

/// The lab cache's part in a `--before` run: for the seeded database at V and for the
/// migrated head, `reused <template>`, `stored <template>` or `not stored (<why>)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LabCache {
    pub seeded: String,
    pub head: String,
}

impl LabCache {
    /// `None` when caching was off for both builds.
    pub fn of(seeded: &CacheUse, head: &CacheUse) -> Option<LabCache> {
        if (seeded, head) == (&CacheUse::Off, &CacheUse::Off) {
            return None;
        }
        let say = |u: &CacheUse| match u {
            CacheUse::Off => "not cached".to_string(),
            CacheUse::Hit(template) => format!("reused {template}"),
            CacheUse::Stored(template) => format!("stored {template}"),
            CacheUse::NotStored(why) => format!("not stored ({why})"),
        };
        Some(LabCache {
            seeded: say(seeded),
            head: say(head),
        })
    }
}

pub async fn run(
    server: &DbUrl,
    opts: &BenchOptions,
    before: &BeforeOptions,
) -> Result<BeforeAfter> {
    let both = on_lab(server, before, "the scenarios", |url| async move {
        super::run(&url, opts).await
    })
    .await?;
    let comparison = compare(&both.before, &both.after);
    Ok(BeforeAfter {
        before_version: before.version.get(),
        after_version: both.head.get(),
        labels: both.labels,
        orgs: before.orgs,
        before: both.before,
        after: both.after,
        comparison,
        kept: both.kept,
        lab_cache: both.lab_cache,
    })
}

/// What one measurement at V and one at the head on the same lab gave.
struct OnLab<R> {
    before: R,
    after: R,
    head: Version,
    labels: (String, String),
    kept: Option<String>,
    lab_cache: Option<LabCache>,
}

/// Build the seeded lab at `before.version`, `measure` it, migrate it to the head,
/// `measure` again — raced against a stop — and drop the lab (unless kept). `what`
/// names the measurement in the progress lines.
async fn on_lab<R, F, Fut>(
    server: &DbUrl,
    before: &BeforeOptions,
    what: &str,
    measure: F,
) -> Result<OnLab<R>>
where
    F: Fn(DbUrl) -> Fut,
    Fut: std::future::Future<Output = Result<R>>,
{
    let (mut lab, built, head) = lab_at(server, before).await?;
    let labels = (
        before.migrations.label(before.version),
        before.migrations.label(head),
    );
    let (v, h) = (&labels.0, &labels.1);
    let both = async {
        crate::progress::say(&format!("bench --before {v}: running {what} at {v}"));
        let at_v = measure(lab.url().clone()).await?;
        crate::progress::say(&format!("bench --before {v}: migrating to the head ({h})"));
        // With the lab cache, the head may be a clone of a template: `lab.url()` changes.
        let head_cache = lab.migrate_on(None).await?;
        crate::progress::say(&format!("bench --before {v}: running {what} at {h}"));
        let at_head = measure(lab.url().clone()).await?;
        Ok::<_, anyhow::Error>((at_v, at_head, head_cache))
    };
    let measured = tokio::select! {
        m = both => m,
        _ = super::stop_signal() => Err(interrupted()),
    };
    let (at_v, at_head, head_cache) = match measured {
        Ok(both) => both,
        Err(e) => {
            let _ = lab.finish(false).await;
            return Err(e);
        }
    };
    let kept = match lab.finish(before.keep).await? {
        Finished::Kept { url, .. } => Some(url.to_string()),
        Finished::Dropped => None,
    };
    Ok(OnLab {
        before: at_v,
        after: at_head,
        head,
        labels,
        kept,
        lab_cache: LabCache::of(&built.cache, &head_cache),
    })
}

fn interrupted() -> anyhow::Error {
    hinted(
        "bench --before interrupted",
        "the lab database was dropped; the target was not touched",
    )
}

/// The seeded lab at `before.version` (raced against a stop), and the head.
async fn lab_at(
    server: &DbUrl,
    before: &BeforeOptions,
) -> Result<(Lab, crate::lab::Built, Version)> {
    let set = &before.migrations;
    let version = set.below_head("--before", before.version)?;
    let head = set.latest().unwrap_or(Version::new(0));
    let (lab, built) = Lab::seeded_for(
        server,
        &format!("bench --before {}", set.label(version)),
        "bench",
        set.clone(),
        version,
        before.orgs,
        before.cache,
        interrupted,
    )
    .await?;
    Ok((lab, built, head))
}

/// `bench --before V` on a catalog's mix: the mix at V, then at the head, on the same
/// lab database.
pub async fn run_mix(
    server: &DbUrl,
    source: &CatalogSource,
    opts: &MixOptions,
    before: &BeforeOptions,
) -> Result<MixBeforeAfter> {
    let both = on_lab(server, before, "the mix", |url| async move {
        super::mix::run(&url, source, opts).await
    })
    .await?;
    let rows = |r: &MixReport| -> Vec<QueryRow> {
        r.queries
            .iter()
            .chain(std::iter::once(&r.overall))
            .cloned()
            .collect()
    };
    let after_rows = rows(&both.after);
    let comparison = rows(&both.before)
        .iter()
        .filter_map(|b| {
            let a = after_rows.iter().find(|a| a.query == b.query)?;
            Some(Comparison {
                name: b.query.clone(),
                concurrency: opts.phase.concurrency,
                p95_before_ms: b.p95_ms,
                p95_after_ms: a.p95_ms,
                p95_speedup: speedup(b.p95_ms, a.p95_ms),
                throughput_before_rps: b.throughput_rps,
                throughput_after_rps: a.throughput_rps,
                errors_before: b.errors,
                errors_after: a.errors,
            })
        })
        .collect();
    Ok(MixBeforeAfter {
        before_version: before.version.get(),
        after_version: both.head.get(),
        labels: both.labels,
        orgs: before.orgs,
        before: both.before,
        after: both.after,
        comparison,
        kept: both.kept,
        lab_cache: both.lab_cache,
    })
}

/// `--before` on a catalog's mix: both runs and the per-query comparison.
#[derive(Debug, Clone, Serialize)]
pub struct MixBeforeAfter {
    pub before_version: i64,
    pub after_version: i64,
    #[serde(skip)]
    pub labels: (String, String),
    pub orgs: u32,
    pub before: MixReport,
    pub after: MixReport,
    /// One row per query and the overall row (`all`).
    pub comparison: Vec<Comparison>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lab_cache: Option<LabCache>,
}

fn speedup(before: f64, after: f64) -> f64 {
    if after > 0.0 {
        (before / after * 10.0).round() / 10.0
    } else {
        0.0
    }
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
                p95_speedup: speedup(b.p95_ms, a.p95_ms),
                throughput_before_rps: b.throughput_rps,
                throughput_after_rps: a.throughput_rps,
                errors_before: b.errors,
                errors_after: a.errors,
            })
        })
        .collect()
}
