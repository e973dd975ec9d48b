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

use super::{BenchOptions, BenchReport};
use crate::db::DbUrl;
use crate::error::hinted;
use crate::lab::{CacheUse, Finished, Lab};
use crate::migrate::{MigrationSet, Version};

/// The lab side of `--before`.
#[derive(Debug, Clone)]
pub struct BeforeOptions {
    pub version: i32,
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
    pub before_version: i32,
    pub after_version: i32,
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
    let set = &before.migrations;
    let version = before.version;
    let head = set.latest().unwrap_or(Version::new(0));
    if Version::from(version) >= head || set.get(Version::from(version)).is_none() {
        return Err(hinted(
            format!(
                "--before {version}: there is no migration V{version} below the head (V{head})"
            ),
            format!("pick a version between 1 and {}", head.get() - 1),
        ));
    }
    let interrupted = || {
        hinted(
            "bench --before interrupted",
            "the lab database was dropped; the target was not touched",
        )
    };
    let (mut lab, built) = Lab::seeded_for(
        server,
        &format!("bench --before {version}"),
        "bench",
        set.clone(),
        Version::from(version),
        before.orgs,
        before.cache,
        interrupted,
    )
    .await?;
    let measured = tokio::select! {
        m = measure(&mut lab, opts, version, head.to_i32()?) => m,
        _ = super::stop_signal() => Err(interrupted()),
    };
    let (before_report, after_report, head_cache) = match measured {
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
    let comparison = compare(&before_report, &after_report);
    Ok(BeforeAfter {
        before_version: version,
        after_version: head.to_i32()?,
        orgs: before.orgs,
        before: before_report,
        after: after_report,
        comparison,
        kept,
        lab_cache: LabCache::of(&built.cache, &head_cache),
    })
}

/// The scenarios at V, then at the head, on the same lab database; and whether the head
/// came from the cache.
async fn measure(
    lab: &mut Lab,
    opts: &BenchOptions,
    version: i32,
    head: i32,
) -> Result<(BenchReport, BenchReport, CacheUse)> {
    crate::progress::say(&format!(
        "bench --before {version}: running the scenarios at V{version}"
    ));
    let before = super::run(lab.url(), opts).await?;
    crate::progress::say(&format!(
        "bench --before {version}: migrating to the head (V{head})"
    ));
    // With the lab cache, the head may be a clone of a template: `lab.url()` changes.
    let head_cache = lab.migrate_on(None).await?;
    crate::progress::say(&format!(
        "bench --before {version}: running the scenarios at V{head}"
    ));
    let after = super::run(lab.url(), opts).await?;
    Ok((before, after, head_cache))
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
