//! The `--before V` flow, on a scratch database from `crate::lab`: create → migrate to
//! V → seed → ANALYZE → sample → explain → migrate to the head → ANALYZE → explain →
//! diff → drop (unless `--keep`). The target's data is never touched. Ctrl-C or SIGTERM
//! (`crate::signal`) ends the flow where it is and drops the scratch database.

use std::time::Instant;

use anyhow::{Context, Result};

use super::advice::Advice;
use super::catalog::Catalog;
use super::compare;
use super::model::{AdviseOptions, BeforeOptions, ExplainReport, Phase, Run, RunOptions, Setting};
use super::runner::{self, Phases};
use super::sample;
use super::session::connector;
use crate::db::DbUrl;
use crate::error::hinted;
use crate::lab::{CacheUse, Finished, Lab};
use crate::migrate::{version_label, Version};
use crate::progress::Indicator;

/// Wall-clock milliseconds per step, in the order they ran.
type Timings = Vec<(String, u64)>;

/// What the steps on the scratch database produced.
struct OnScratch {
    runs: Vec<Run>,
    head: Option<i32>,
    appointments: i64,
    notes: Vec<String>,
    advice: Option<Advice>,
}

pub async fn before_after(
    server: &DbUrl,
    catalog: &Catalog,
    run: &RunOptions,
    before: &BeforeOptions,
    advise: Option<&AdviseOptions>,
    progress: &Indicator,
) -> Result<ExplainReport> {
    let version = i32::try_from(before.version).map_err(|_| {
        hinted(
            format!("--before {} is too large", before.version),
            "versions are small integers",
        )
    })?;
    let mut timings: Timings = Vec::new();
    let t = Instant::now();
    progress.set_message("create scratch database");
    let mut lab = Lab::create(server, "explain", before.migrations.clone()).await?;
    timings.push(lap("scratch", t));
    let name = lab.name().to_string();
    let steps = on_scratch(
        &mut lab,
        catalog,
        run,
        (before, advise),
        version,
        progress,
        &mut timings,
    );
    // `biased`: a stop request wins over a step that failed on the same signal
    // (seeding listens for it too, with advice meant for a target database)…
    let mut result = tokio::select! {
        biased;
        stop = crate::signal::wait() => Err(stop),
        done = steps => Ok(done),
    };
    // …also when the signal arrived in the middle of a poll, after `wait` was polled.
    if matches!(result, Ok(Err(_))) {
        if let Some(stop) = crate::signal::stopped() {
            result = Err(stop);
        }
    }
    let t = Instant::now();
    progress.set_message("drop scratch database");
    // A stopped run is incomplete: dropped even with --keep. A failed one is kept on
    // request, for inspection.
    let keep = before.keep && result.is_ok();
    let finished = lab.finish(keep).await;
    if result.is_err() {
        // Whatever the stopped steps were still building.
        crate::db::scratch::drop_held().await;
    }
    timings.push(lap("drop_scratch", t));
    let explained = match result {
        Err(signal) => {
            let dropped = match finished {
                Ok(_) => format!("the scratch database {name} was dropped"),
                Err(e) => format!(
                    "dropping the scratch database {name} failed too: {}",
                    crate::error::one_line(&e)
                ),
            };
            return Err(hinted(
                format!(
                    "explain --before {version} stopped by {}: {dropped}",
                    signal.name()
                ),
                "the target database was not touched; rerun the command to get the report",
            ));
        }
        Ok(Err(e)) => {
            return Err(match finished {
                Ok(Finished::Kept { name, url }) => {
                    e.context(format!("kept the scratch database {name} at {url}"))
                }
                _ => e,
            })
        }
        Ok(Ok(done)) => done,
    };
    let mut notes = explained.notes;
    if let Finished::Kept { name, url } = finished? {
        notes.push(format!(
            "kept the scratch database {name} at {url} (drop it with: DROP DATABASE {name})"
        ));
    }
    let diff = compare::diff(&explained.runs);
    Ok(ExplainReport {
        regressions: compare::regressions(&diff),
        diff: Some(diff),
        runs: explained.runs,
        setting: Setting {
            before_version: Some(version),
            after_version: explained.head,
            orgs: Some(before.seed.orgs),
            appointments: Some(explained.appointments),
            timings_ms: timings.into_iter().collect(),
        },
        notes,
        advice: explained.advice,
    })
}

/// Everything that happens on the scratch database between creating and dropping it.
async fn on_scratch(
    lab: &mut Lab,
    catalog: &Catalog,
    run: &RunOptions,
    (before, advise): (&BeforeOptions, Option<&AdviseOptions>),
    version: i32,
    progress: &Indicator,
    timings: &mut Timings,
) -> Result<OnScratch> {
    let t = Instant::now();
    progress.set_message(format!("migrate to V{version}"));
    let target = Version::from(version);
    let built = lab
        .prepare(target, Some(&before.seed), before.cache)
        .await?;
    let reached = lab.version();
    if reached != Some(target) {
        return Err(hinted(
            format!(
                "--before {version}: the migrations reach {} instead",
                version_label(lab.migrations().layout(), reached)
            ),
            "pick a version that exists in the migrations directory",
        ));
    }
    // Built, or cloned from a template (then neither step took time of its own).
    timings.push((
        "migrate_before".to_string(),
        built.migrate.as_millis() as u64,
    ));
    timings.push(("seed".to_string(), built.seeding.as_millis() as u64));
    timings.push(lap("build_at_v", t));
    let appointments = appointment_count(lab.url()).await?;
    let connect = connector(lab.url());
    let t = Instant::now();
    progress.set_message("sample parameters");
    let orgs = sample::sample(&connect, catalog).await?;
    timings.push(lap("sample", t));
    let phase = |phase| Phases {
        phase,
        catalog,
        orgs: &orgs,
        options: run,
    };
    let t = Instant::now();
    let mut explained = runner::run_phase(&connect, phase(Phase::Before), progress).await?;
    timings.push(lap("explain_before", t));
    let t = Instant::now();
    progress.set_message("migrate to the head");
    let head_cache = lab.migrate_on(None).await?;
    let head = lab.version().map(Version::to_i32).transpose()?;
    timings.push(lap("migrate_after", t));
    // A cached head is a clone: another database, so connect anew.
    let connect = connector(lab.url());
    let t = Instant::now();
    let after = runner::run_phase(&connect, phase(Phase::After), progress).await?;
    timings.push(lap("explain_after", t));
    explained.runs.extend(after.runs);
    explained.notes.extend(after.notes);
    let client = crate::db::connect(lab.url()).await?;
    let mut notes = super::service_note(&client).await?;
    notes.extend(super::hypopg_note(&client, run).await?);
    notes.extend(explained.notes);
    notes.extend(cache_note(&built.cache, &head_cache));
    drop(client);
    // Advice on top of the head, on a copy of it: the lab stays as explained (--keep).
    let advice = match advise {
        Some(advise) => {
            let t = Instant::now();
            progress.set_message("copy the head for advice");
            let copy = lab.copy("advice").await?;
            let advice =
                super::advice::advise(copy, catalog, &orgs, run, &advise.config, progress).await?;
            timings.push(lap("advise", t));
            Some(advice)
        }
        None => None,
    };
    Ok(OnScratch {
        runs: explained.runs,
        head,
        appointments,
        notes,
        advice,
    })
}

fn lap(step: &str, started: Instant) -> (String, u64) {
    (step.to_string(), started.elapsed().as_millis() as u64)
}

async fn appointment_count(url: &crate::db::DbUrl) -> Result<i64> {
    let client = crate::db::connect(url).await?;
    Ok(client
        .query_one("SELECT count(*) FROM appointments", &[])
        .await
        .context("counting the seeded appointments")?
        .get(0))
}

/// Say when the lab reused a template, so a fast run is not mistaken for a cold one.
fn cache_note(at_v: &CacheUse, head: &CacheUse) -> Option<String> {
    let name = |u: &CacheUse| match u {
        CacheUse::Hit(n) => Some(format!("reused {n}")),
        CacheUse::Stored(n) => Some(format!("stored {n}")),
        CacheUse::NotStored(why) => Some(format!("not stored ({why})")),
        CacheUse::Off => None,
    };
    match (name(at_v), name(head)) {
        (None, None) => None,
        (a, b) => Some(format!(
            "lab cache: seeded database {}; migrated head {} (`dbkit db prune-cache` removes templates)",
            a.unwrap_or_else(|| "not cached".into()),
            b.unwrap_or_else(|| "not cached".into())
        )),
    }
}
