//! `dbkit explain`: the project's queries (its catalog, `crate::workload`) under EXPLAIN
//! ANALYZE, as the service role and as a tenant under RLS, judged by plan rules — on the target database, or
//! with `--before V` on a scratch database (`crate::lab`) before and after the
//! migrations after V. The engine takes plain `ExplainOptions`, returns an
//! `ExplainReport` and writes nothing to stdout; progress goes to stderr through
//! `crate::progress`.
//!
//! Owns: the options and report types (`model`), the plan model (`plan`), the rules
//! (`rules/`), the rolled-back session every run lives in (`session`), running a phase (`runner`),
//! hypothetical indexes (`hypopg`), the before/after flow (`before`) and its diff
//! (`compare`).

pub mod advice;
pub mod before;
pub mod compare;
pub mod hypopg;
pub mod model;
pub mod plan;
pub mod rules;
pub mod runner;
pub mod session;

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};

use crate::db::DbUrl;
use crate::progress::Indicator;
use crate::workload::catalog::Catalog;
use crate::workload::{sample, CatalogSource};
use model::Setting;
pub use model::{
    AdviseOptions, BeforeOptions, ExplainOptions, ExplainReport, FailOn, Phase, Run, RunOptions,
};
use runner::Phases;

/// Explain the catalog on the database `url` points at — or, with `opts.before`, on a
/// scratch database on its server.
pub async fn explain(url: &DbUrl, opts: &ExplainOptions) -> Result<ExplainReport> {
    let progress = Indicator::bar(0, "{spinner} {msg} [{pos}/{len}] {elapsed}");
    let report = match &opts.before {
        Some(before) => {
            before::before_after(
                url,
                &opts.catalog,
                &opts.run,
                before,
                opts.advise.as_ref(),
                &progress,
            )
            .await
        }
        None => {
            current(
                url,
                &opts.catalog,
                &opts.run,
                opts.advise.as_ref(),
                &progress,
            )
            .await
        }
    };
    progress.finish();
    report
}

/// The catalog to run on the database `client` is connected to: resolved (derived from
/// its schema when the project has none), checked against it — a query the server
/// refuses is set aside with its file and line —, and the catalog's errors.
pub(crate) async fn checked_catalog(
    client: &tokio_postgres::Client,
    source: &CatalogSource,
) -> Result<(Catalog, Vec<String>)> {
    let mut catalog = source.resolve(client, "explain").await?;
    crate::workload::validate::validate(client, &mut catalog).await?;
    let errors = catalog.problems.iter().map(|p| p.to_string()).collect();
    Ok((catalog, errors))
}

/// What the plan rules need to know of the policies, from the schema model.
pub(crate) async fn policy_info(client: &tokio_postgres::Client) -> Result<rules::PolicyInfo> {
    let model = crate::schema::model(client, &crate::schema::Config::default()).await?;
    Ok(rules::PolicyInfo::of(&model))
}

/// One note per query a sampler found nothing for, per org.
pub(crate) fn skipped_notes(orgs: &[sample::SampledOrg]) -> Vec<String> {
    orgs.iter()
        .flat_map(|o| {
            o.skipped
                .iter()
                .map(|(query, why)| format!("skipped {query} ({}): {why}", o.pick))
        })
        .collect()
}

/// The database as it is: sample, explain, notes.
async fn current(
    url: &DbUrl,
    source: &CatalogSource,
    opts: &RunOptions,
    advise: Option<&AdviseOptions>,
    progress: &Indicator,
) -> Result<ExplainReport> {
    let client = crate::db::connect(url).await?;
    let mut setting = Setting::default();
    let mut notes = service_note(&client).await?;
    let (catalog, catalog_errors) = checked_catalog(&client, source).await?;
    let connect = session::connector(url);
    let started = Instant::now();
    progress.set_message("sample parameters");
    let orgs = sample::sample(&connect, &catalog).await?;
    notes.extend(skipped_notes(&orgs));
    setting
        .timings_ms
        .insert("sample".into(), started.elapsed().as_millis() as u64);
    let started = Instant::now();
    let policy = policy_info(&client).await?;
    let phase = Phases {
        phase: Phase::Current,
        catalog: &catalog,
        orgs: &orgs,
        options: opts,
        policy: &policy,
    };
    let explained = runner::run_phase(&connect, phase, progress).await?;
    setting
        .timings_ms
        .insert("explain".into(), started.elapsed().as_millis() as u64);
    notes.extend(hypopg_note(&client, opts).await?);
    notes.extend(explained.notes);
    // Copying the database needs every session on it closed, this one included.
    drop(client);
    let advice = match advise {
        Some(advise) => {
            let started = Instant::now();
            let copy = copy_target(url, advise).await?;
            let advice =
                advice::advise(copy, &catalog, &orgs, opts, &advise.config, progress).await?;
            setting
                .timings_ms
                .insert("advise".into(), started.elapsed().as_millis() as u64);
            Some(advice)
        }
        None => None,
    };
    Ok(ExplainReport {
        runs: explained.runs,
        diff: None,
        regressions: Vec::new(),
        setting,
        notes,
        advice,
        catalog_errors,
    })
}

/// A lab copy of the target database for `--advise`: a template clone, which
/// PostgreSQL allows only while nobody else is connected to it.
async fn copy_target(url: &DbUrl, advise: &AdviseOptions) -> Result<crate::lab::Lab> {
    let source = url.dbname();
    let busy = || {
        crate::error::hinted(
            format!("--advise cannot copy the database {source}: other sessions are connected to it"),
            "--advise builds indexes on a copy, never on the target: close the other sessions, or add --before V to advise on a lab database built from the migrations",
        )
    };
    // PostgreSQL waits 5 s per attempt for a template's sessions to leave: say it at
    // once when others stay (this process's own sessions end within moments).
    let admin = crate::db::connect(&url.with_dbname("postgres")).await?;
    let mut waited = 0;
    loop {
        let others: i64 = admin.query_one(SESSIONS_ON, &[&source]).await?.get(0);
        if others == 0 {
            break;
        }
        if waited >= 20 {
            return Err(busy());
        }
        waited += 1;
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    drop(admin);
    crate::lab::Lab::copy_of(url, &source, "advice", advise.migrations.clone(), None)
        .await
        .map_err(|e| {
            if session::sql_state(&e) == Some(&tokio_postgres::error::SqlState::OBJECT_IN_USE) {
                busy()
            } else {
                e
            }
        })
}

/// Sessions connected to a database.
const SESSIONS_ON: &str = "SELECT count(*) FROM pg_stat_activity WHERE datname = $1";

/// `--save-plans DIR`: each run's median plan (EXPLAIN's JSON) as
/// DIR/{phase}_{query}_{org}_{role}.json.
pub fn save_plans(report: &ExplainReport, dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for run in &report.runs {
        let Some(raw) = &run.raw_plan else { continue };
        let path = dir.join(format!(
            "{}_{}_{}_{}.json",
            run.phase, run.query, run.org, run.role
        ));
        std::fs::write(&path, serde_json::to_string_pretty(raw)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// Visible tables whose RLS applies to the connecting role.
const RLS_SUBJECT_TABLES: &str = "SELECT c.relname::text FROM pg_class c
             WHERE c.relrowsecurity AND pg_table_is_visible(c.oid) AND row_security_active(c.oid)
             ORDER BY 1";

/// Service runs use the connecting role: say so when RLS still applies to it (not a
/// superuser, no BYPASSRLS, not the owner of an RLS-enabled table).
pub(crate) async fn service_note(client: &tokio_postgres::Client) -> Result<Vec<String>> {
    let subject: Vec<String> = client
        .query(RLS_SUBJECT_TABLES, &[])
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    Ok(if subject.is_empty() {
        Vec::new()
    } else {
        vec![format!(
            "service runs use the connecting role, and RLS still applies to it on {}: connect as the tables' owner, a superuser or a BYPASSRLS role for a true service baseline",
            subject.join(", ")
        )]
    })
}

pub(crate) async fn hypopg_note(
    client: &tokio_postgres::Client,
    opts: &RunOptions,
) -> Result<Vec<String>> {
    if !opts.index_suggestions {
        return Ok(Vec::new());
    }
    Ok(match hypopg::hypopg_status(client).await? {
        hypopg::Hypopg::Unavailable => vec![
            "index suggestions skipped: the hypopg extension is not available on this server (apt-get install postgresql-15-hypopg)".into(),
        ],
        _ => Vec::new(),
    })
}
