//! The `--before V` flow, on a scratch database from `crate::lab`: create → migrate to
//! V → seed → ANALYZE → sample → explain → migrate to the head → ANALYZE → explain →
//! diff → drop (unless `--keep`). The target's data is never touched. Ctrl-C or SIGTERM
//! (`crate::signal`) ends the flow where it is and drops the scratch database.

use std::time::Instant;

use anyhow::{Context, Result};

use super::advice::Advice;
use super::compare;
use super::model::{
    AdviseOptions, BeforeOptions, ExplainReport, Phase, Run, RunOptions, Setting, TableRows,
};
use super::runner::{self, Phases};
use super::session::connector;
use crate::db::DbUrl;
use crate::error::hinted;
use crate::lab::{CacheUse, Finished, Lab};
use crate::migrate::{version_label, Version};
use crate::progress::Indicator;
use crate::workload::sample;
use crate::workload::CatalogSource;

/// Wall-clock milliseconds per step, in the order they ran.
type Timings = Vec<(String, u64)>;

/// What the steps on the scratch database produced.
struct OnScratch {
    runs: Vec<Run>,
    head: Option<Version>,
    largest: Option<TableRows>,
    notes: Vec<String>,
    advice: Option<Advice>,
    catalog_errors: Vec<String>,
}

pub async fn before_after(
    server: &DbUrl,
    catalog: &CatalogSource,
    run: &RunOptions,
    before: &BeforeOptions,
    advise: Option<&AdviseOptions>,
    progress: &Indicator,
) -> Result<ExplainReport> {
    let version = before.version;
    let layout = before.migrations.layout();
    let label = layout.label(version);
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
            before_version: Some(version.get()),
            after_version: explained.head.map(Version::get),
            labels: explained
                .head
                .map(|head| (label.clone(), layout.label(head))),
            orgs: Some(before.seed.orgs),
            appointments: explained
                .largest
                .as_ref()
                .filter(|t| t.table == "appointments")
                .map(|t| t.rows),
            largest_table: explained.largest,
            timings_ms: timings.into_iter().collect(),
        },
        notes,
        advice: explained.advice,
        catalog_errors: explained.catalog_errors,
    })
}

/// Everything that happens on the scratch database between creating and dropping it.
async fn on_scratch(
    lab: &mut Lab,
    source: &CatalogSource,
    run: &RunOptions,
    (before, advise): (&BeforeOptions, Option<&AdviseOptions>),
    version: Version,
    progress: &Indicator,
    timings: &mut Timings,
) -> Result<OnScratch> {
    let t = Instant::now();
    let label = before.migrations.label(version);
    progress.set_message(format!("migrate to {label}"));
    let target = version;
    let built = lab
        .prepare(target, Some(&before.seed), before.cache)
        .await?;
    let reached = lab.version();
    if reached != Some(target) {
        return Err(hinted(
            format!(
                "--before {label}: the migrations reach {} instead",
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
    let largest = largest_table(lab.url()).await?;
    let (catalog, catalog_errors) = {
        let client = crate::db::connect(lab.url()).await?;
        super::checked_catalog(&client, source).await?
    };
    let catalog = &catalog;
    let connect = connector(lab.url());
    let t = Instant::now();
    progress.set_message("sample parameters");
    let orgs = sample::sample(&connect, catalog).await?;
    timings.push(lap("sample", t));
    let phase = |phase, policy| Phases {
        phase,
        catalog,
        orgs: &orgs,
        options: run,
        policy,
    };
    let policy = {
        let client = crate::db::connect(lab.url()).await?;
        super::policy_info(&client).await?
    };
    let t = Instant::now();
    let mut explained =
        runner::run_phase(&connect, phase(Phase::Before, &policy), progress).await?;
    timings.push(lap("explain_before", t));
    let t = Instant::now();
    progress.set_message("migrate to the head");
    let head_cache = lab.migrate_on(None).await?;
    let head = lab.version();
    timings.push(lap("migrate_after", t));
    // A cached head is a clone: another database, so connect anew.
    let connect = connector(lab.url());
    let policy = {
        let client = crate::db::connect(lab.url()).await?;
        super::policy_info(&client).await?
    };
    let t = Instant::now();
    let after = runner::run_phase(&connect, phase(Phase::After, &policy), progress).await?;
    timings.push(lap("explain_after", t));
    explained.runs.extend(after.runs);
    explained.notes.extend(after.notes);
    let client = crate::db::connect(lab.url()).await?;
    let mut notes = super::service_note(&client).await?;
    notes.extend(super::skipped_notes(&orgs));
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
        largest,
        notes,
        advice,
        catalog_errors,
    })
}

fn lap(step: &str, started: Instant) -> (String, u64) {
    (step.to_string(), started.elapsed().as_millis() as u64)
}

/// The project's largest table after seeding (its name as reported: schema omitted
/// for `public`) and its exact row count.
async fn largest_table(url: &crate::db::DbUrl) -> Result<Option<TableRows>> {
    let client = crate::db::connect(url).await?;
    let row = client
        .query_opt(LARGEST_TABLE, &[])
        .await
        .context("finding the largest seeded table")?;
    let Some(row) = row else {
        return Ok(None);
    };
    let (table, sql_name): (String, String) = (row.get(0), row.get(1));
    let rows: i64 = client
        .query_one(&format!("SELECT count(*) FROM {sql_name}"), &[])
        .await
        .with_context(|| format!("counting the rows of {table}"))?
        .get(0);
    Ok(Some(TableRows { table, rows }))
}

/// The project's table with the most rows by the statistics ANALYZE left.
const LARGEST_TABLE: &str = concat!(
    "SELECT CASE WHEN n.nspname = 'public' THEN c.relname ELSE n.nspname || '.' || c.relname END::text,
            format('%I.%I', n.nspname, c.relname)
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p') AND ",
    crate::schema::project_made!("c"),
    " AND c.relname <> 'refinery_schema_history'
     ORDER BY c.reltuples DESC, 1 LIMIT 1"
);

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
