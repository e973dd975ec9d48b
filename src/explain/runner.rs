//! Running one phase of the catalog: every query × org × role explained on `jobs`
//! connections — warm-up, then up to K runs within a time budget, median — with the
//! plan rules applied, `rls-overhead` paired across roles and index suggestions costed
//! (hypopg). Each run lives in its own rolled-back transaction (`session`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Result;
use tokio_postgres::Client;

use super::hypopg::{self, Hypopg};
use super::model::{Phase, Run, RunOptions};
use super::plan::Explained;
use super::rules::index_suggestion;
use super::rules::{self, PlanContext, PolicyInfo, Role, Thresholds};
use super::session::{explain_once, is_lost, lost_connection, Connector};
use crate::progress::Indicator;
use crate::workload::catalog::{Catalog, Query};
use crate::workload::sample::SampledOrg;

/// One unit of work: a query for an org as a role.
#[derive(Debug, Clone)]
struct Series {
    query: usize,
    org: usize,
    role: Role,
}

pub struct Phases<'a> {
    pub phase: Phase,
    pub catalog: &'a Catalog,
    pub orgs: &'a [SampledOrg],
    pub options: &'a RunOptions,
    /// The policies' helpers and membership table at this phase's schema.
    pub policy: &'a PolicyInfo,
}

/// One phase's runs, and what the engine has to say about them (suggestions it could
/// not cost).
#[derive(Debug, Default)]
pub struct PhaseRuns {
    pub runs: Vec<Run>,
    pub notes: Vec<String>,
}

/// Explain every query × org × role on `jobs` connections; plan rules applied,
/// rls-overhead paired, index suggestions costed. Runs come back in catalog order. A
/// lost connection ends the phase with one error.
pub async fn run_phase(
    connect: &Connector,
    work: Phases<'_>,
    progress: &Indicator,
) -> Result<PhaseRuns> {
    let Phases {
        phase,
        catalog,
        orgs,
        options,
        policy,
    } = work;
    let mut series = Vec::new();
    for (qi, query) in catalog.queries.iter().enumerate() {
        for (oi, org) in orgs.iter().enumerate() {
            // A query whose samplers found nothing for this org is left out (said in a note).
            if org.params_of(&query.name).is_none() {
                continue;
            }
            for role in [Role::Service, Role::Tenant] {
                series.push(Series {
                    query: qi,
                    org: oi,
                    role,
                });
            }
        }
    }
    let total = series.len();
    progress.set_length(total as u64);
    progress.set_position(0);
    let done = Arc::new(AtomicUsize::new(0));
    let jobs = options.jobs.clamp(1, total.max(1));
    let mut clients = Vec::new();
    for _ in 0..jobs {
        clients.push(connect().await?);
    }
    let hypopg = if options.index_suggestions {
        hypopg::hypopg_status(&clients[0]).await?
    } else {
        Hypopg::Unavailable
    };
    let tables = if hypopg != Hypopg::Unavailable {
        hypopg::table_info(&clients[0]).await?
    } else {
        HashMap::new()
    };
    let workers = assign(&series, jobs, |s| catalog.queries[s.query].dml);
    let mut tasks = Vec::new();
    for (w, client) in clients.iter().enumerate() {
        let mine: Vec<(usize, Series)> =
            workers[w].iter().map(|&i| (i, series[i].clone())).collect();
        let done = done.clone();
        let tables = &tables;
        tasks.push(async move {
            let mut out = Vec::new();
            let mut notes = Vec::new();
            for (i, s) in mine {
                let query = &catalog.queries[s.query];
                let org = &orgs[s.org];
                let mut run =
                    run_series(client, phase, query, org, s.role, options, policy).await?;
                if run.error.is_none()
                    && s.role == Role::Service
                    && !query.dml
                    && hypopg != Hypopg::Unavailable
                {
                    let suggested =
                        suggest(client, &run, query, org, hypopg, tables, options, policy);
                    match suggested.await {
                        Ok(found) => run.findings.extend(found),
                        Err(e) if is_lost(client, &e) => {
                            return Err(lost_connection(
                                e,
                                &format!("costing indexes for {}", run.label()),
                            ))
                        }
                        Err(e) => notes.push(format!(
                            "index suggestions skipped for {}: {}",
                            query.name,
                            crate::error::one_line(&e)
                        )),
                    }
                }
                let n = done.fetch_add(1, Ordering::SeqCst) + 1;
                progress.set_position(n as u64);
                progress.set_message(format!("explain {phase} {}", run.label()));
                out.push((i, run));
            }
            Ok::<_, anyhow::Error>((out, notes))
        });
    }
    let mut indexed: Vec<(usize, Run)> = Vec::new();
    let mut notes = Vec::new();
    for worker in futures_util::future::try_join_all(tasks).await? {
        indexed.extend(worker.0);
        notes.extend(worker.1);
    }
    indexed.sort_by_key(|(i, _)| *i);
    let mut runs: Vec<Run> = indexed.into_iter().map(|(_, r)| r).collect();
    pair_rls_overhead(&mut runs, &options.thresholds);
    Ok(PhaseRuns { runs, notes })
}

/// Index suggestions for a service run's median plan: candidates from its filters,
/// costed with hypopg.
#[allow(clippy::too_many_arguments)]
async fn suggest(
    client: &Client,
    run: &Run,
    query: &Query,
    org: &SampledOrg,
    hypopg: Hypopg,
    tables: &HashMap<String, index_suggestion::TableInfo>,
    options: &RunOptions,
    policy: &PolicyInfo,
) -> Result<Vec<rules::Finding>> {
    let Some(plan) = &run.plan else {
        return Ok(Vec::new());
    };
    let ctx = PlanContext {
        plan,
        role: run.role,
        thresholds: &options.thresholds,
        policy,
    };
    let candidates = index_suggestion::candidates(&ctx, tables);
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let tried = hypopg::cost_candidates(
        client,
        query,
        org,
        hypopg,
        &candidates,
        options.statement_timeout,
    )
    .await?;
    Ok(index_suggestion::verdict(&ctx, &tried)
        .into_iter()
        .collect())
}

/// Spread series over `jobs` workers, round-robin — except writes, which all go to
/// worker 0 one after the other: two uncommitted INSERTs of the same slot would wait
/// on each other through the exclusion constraint until the deadlock detector ends one.
fn assign<T>(series: &[T], jobs: usize, writes: impl Fn(&T) -> bool) -> Vec<Vec<usize>> {
    let mut workers: Vec<Vec<usize>> = vec![Vec::new(); jobs.max(1)];
    let mut next = 0;
    for (i, s) in series.iter().enumerate() {
        if writes(s) {
            workers[0].push(i);
        } else {
            let n = workers.len();
            workers[next % n].push(i);
            next += 1;
        }
    }
    workers
}

/// Attach `rls-overhead` findings to tenant runs, comparing with the service run of the
/// same query, org and phase.
pub fn pair_rls_overhead(runs: &mut [Run], t: &Thresholds) {
    type Key = (String, String, Phase);
    let service: HashMap<Key, (f64, u64, Option<Explained>)> = runs
        .iter()
        .filter(|r| r.role == Role::Service && r.error.is_none())
        .map(|r| {
            (
                (r.query.clone(), r.org.clone(), r.phase),
                (r.execution_ms, r.buffers, r.plan.clone()),
            )
        })
        .collect();
    for run in runs
        .iter_mut()
        .filter(|r| r.role == Role::Tenant && r.error.is_none())
    {
        let Some((ms, buffers, Some(service_plan))) =
            service.get(&(run.query.clone(), run.org.clone(), run.phase))
        else {
            continue;
        };
        let Some(tenant_plan) = run.plan.as_ref() else {
            continue;
        };
        let s = rules::rls_overhead::Measured {
            execution_ms: *ms,
            shared_blocks: *buffers,
            plan: service_plan,
        };
        let tn = rules::rls_overhead::Measured {
            execution_ms: run.execution_ms,
            shared_blocks: run.buffers,
            plan: tenant_plan,
        };
        if let Some(f) = rules::rls_overhead::check(&s, &tn, t) {
            run.findings.push(f);
        }
    }
}

/// Warm-up, then up to K runs within the series budget; the median run's figures. A
/// failing statement is the run's error; a lost connection is the phase's.
async fn run_series(
    client: &Client,
    phase: Phase,
    query: &Query,
    org: &SampledOrg,
    role: Role,
    options: &RunOptions,
    policy: &PolicyInfo,
) -> Result<Run> {
    let mut run = Run::empty(&query.name, &org.pick, phase, role);
    run.params = query
        .params
        .iter()
        .zip(org.params_of(&query.name).unwrap_or_default())
        .map(|(p, v)| (p.name.clone(), v.to_string()))
        .collect();
    let once = || explain_once(client, query, role, org, options.statement_timeout);
    let failed = |run: &mut Run, e: anyhow::Error| {
        if is_lost(client, &e) {
            return Err(lost_connection(e, &format!("explaining {}", run.label())));
        }
        run.error = Some(crate::error::one_line(&e));
        Ok(())
    };
    let started = Instant::now();
    let mut plans: Vec<(Explained, serde_json::Value)> = Vec::new();
    let warm = match once().await {
        Ok(p) => p,
        Err(e) => return failed(&mut run, e).map(|()| run),
    };
    let one = started.elapsed();
    // The budget covers the whole series. When a second run would not fit, the warm-up
    // is the measurement: a query that slow reads enough pages that the cache is warm
    // after its first pass, and repeating seconds-long runs buys nothing.
    if one * 2 > options.series_budget {
        plans.push(warm);
    } else {
        let mut last = one;
        while plans.len() < options.runs.max(1) {
            let t = Instant::now();
            match once().await {
                Ok(p) => plans.push(p),
                Err(e) => return failed(&mut run, e).map(|()| run),
            }
            last = last.max(t.elapsed());
            if started.elapsed() + last > options.series_budget {
                break;
            }
        }
    }
    plans.sort_by(|a, b| a.0.execution_ms.total_cmp(&b.0.execution_ms));
    let measured = plans.len();
    let (median, raw) = plans.swap_remove((plans.len() - 1) / 2);
    run.runs = measured;
    run.raw_plan = Some(raw);
    run.execution_ms = median.execution_ms;
    run.planning_ms = median.planning_ms;
    run.buffers_detail = median.buffers();
    run.buffers = run.buffers_detail.shared();
    run.seq_scans = median.seq_scans();
    let ctx = PlanContext {
        plan: &median,
        role,
        thresholds: &options.thresholds,
        policy,
    };
    run.findings = rules::check_plan(&ctx);
    run.plan = Some(median);
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::assign;

    #[test]
    fn writes_run_on_one_worker_reads_are_spread() {
        let series = ["r", "w", "r", "w", "r", "r"];
        let workers = assign(&series, 2, |s| *s == "w");
        assert_eq!(workers[0], [0, 1, 3, 4]);
        assert_eq!(workers[1], [2, 5]);
        assert_eq!(assign(&series, 1, |s| *s == "w")[0].len(), 6);
    }
}
