//! Running the catalog against a database: sample parameters from the seeded data,
//! then for every query × org × role run `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)` —
//! warm-up, then up to K runs within a time budget, median — each run inside a
//! transaction that is rolled back, under a `statement_timeout`. Tenant runs set the
//! role and JWT claims the way PostgREST does. Also costs hypothetical indexes (hypopg).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};
use bytes::BytesMut;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use tokio_postgres::types::{IsNull, ToSql, Type};
use tokio_postgres::Client;
use uuid::Uuid;

use super::catalog::{Catalog, ParamType, Query, Sample};
use super::plan::{Buffers, Explained};
use super::rules::index_suggestion::{self, Candidate, TableInfo};
use super::rules::{self, Finding, PlanContext, Role, Thresholds};

/// A sampled parameter value, bound with its real type.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    Uuid(Uuid),
    Timestamptz(DateTime<Utc>),
    Date(NaiveDate),
    Int4(i32),
    Int8(i64),
    Text(String),
    Bool(bool),
}

impl std::fmt::Display for ParamValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParamValue::Uuid(v) => write!(f, "{v}"),
            ParamValue::Timestamptz(v) => write!(f, "{}", v.to_rfc3339()),
            ParamValue::Date(v) => write!(f, "{v}"),
            ParamValue::Int4(v) => write!(f, "{v}"),
            ParamValue::Int8(v) => write!(f, "{v}"),
            ParamValue::Text(v) => write!(f, "{v}"),
            ParamValue::Bool(v) => write!(f, "{v}"),
        }
    }
}

impl ToSql for ParamValue {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            ParamValue::Uuid(v) => v.to_sql(ty, out),
            ParamValue::Timestamptz(v) => v.to_sql(ty, out),
            ParamValue::Date(v) => v.to_sql(ty, out),
            ParamValue::Int4(v) => v.to_sql(ty, out),
            ParamValue::Int8(v) => v.to_sql(ty, out),
            ParamValue::Text(v) => v.to_sql(ty, out),
            ParamValue::Bool(v) => v.to_sql(ty, out),
        }
    }

    fn accepts(_ty: &Type) -> bool {
        // Each statement is prepared with the catalog's types; the inner value checks.
        true
    }

    tokio_postgres::types::to_sql_checked!();
}

fn read_value(row: &tokio_postgres::Row, ty: ParamType) -> Result<Option<ParamValue>> {
    Ok(match ty {
        ParamType::Uuid => row.try_get::<_, Option<Uuid>>(0)?.map(ParamValue::Uuid),
        ParamType::Timestamptz => row
            .try_get::<_, Option<DateTime<Utc>>>(0)?
            .map(ParamValue::Timestamptz),
        ParamType::Date => row
            .try_get::<_, Option<NaiveDate>>(0)?
            .map(ParamValue::Date),
        ParamType::Int4 => row.try_get::<_, Option<i32>>(0)?.map(ParamValue::Int4),
        ParamType::Int8 => row.try_get::<_, Option<i64>>(0)?.map(ParamValue::Int8),
        ParamType::Text => row.try_get::<_, Option<String>>(0)?.map(ParamValue::Text),
        ParamType::Bool => row.try_get::<_, Option<bool>>(0)?.map(ParamValue::Bool),
    })
}

/// The parameters of every query for one org, and the member whose JWT tenant runs use.
#[derive(Debug, Clone)]
pub struct SampledOrg {
    pub pick: String,
    pub org_id: Uuid,
    pub member: Uuid,
    pub params: HashMap<String, Vec<ParamValue>>,
}

/// Sample every query's parameters for every org the catalog picks.
/// Sample every query's parameters for every org the catalog picks, one connection per
/// org (the samplers scan the seeded tables; two orgs on two cores halve the wait).
pub async fn sample(
    connect: impl Fn() -> futures_util::future::BoxFuture<'static, Result<Client>>,
    catalog: &Catalog,
) -> Result<Vec<SampledOrg>> {
    let mut clients = Vec::new();
    for _ in &catalog.orgs {
        clients.push(connect().await?);
    }
    let tasks = catalog
        .orgs
        .iter()
        .zip(&clients)
        .map(|((pick, sql), client)| sample_org(client, catalog, pick, sql));
    futures_util::future::try_join_all(tasks).await
}

async fn sample_org(
    client: &Client,
    catalog: &Catalog,
    pick: &str,
    sql: &str,
) -> Result<SampledOrg> {
    let mut cache: HashMap<(String, String), ParamValue> = HashMap::new();
    {
        let row = client
            .query_opt(sql, &[])
            .await
            .with_context(|| format!("sampling the {pick} org (catalog.yaml `orgs.{pick}`)"))?;
        let org_id: Uuid = row
            .and_then(|r| r.get::<_, Option<Uuid>>(0))
            .ok_or_else(|| {
                crate::error::hinted(
                    format!("no {pick} org found: appointments looks empty to this role"),
                    "seed it first (dbkit seed --orgs 50) or use --before V, which seeds a scratch database; \
                     if it is seeded, connect as the tables' owner or a BYPASSRLS role (sampling and service runs must see every org)",
                )
            })?;
        let member: Uuid = client
            .query_opt(catalog.member.as_str(), &[&org_id])
            .await
            .context("sampling a member of the org (catalog.yaml `member`)")?
            .and_then(|r| r.get::<_, Option<Uuid>>(0))
            .ok_or_else(|| anyhow!("org {org_id} has no member to run tenant queries as"))?;
        let mut params = HashMap::new();
        for query in &catalog.queries {
            let mut values: Vec<ParamValue> = Vec::new();
            for p in &query.params {
                let value = match &p.sample {
                    Sample::Org => ParamValue::Uuid(org_id),
                    Sample::Query(sql) => {
                        let key = (
                            sql.clone(),
                            values
                                .iter()
                                .map(|v| v.to_string())
                                .collect::<Vec<_>>()
                                .join("|"),
                        );
                        if let Some(v) = cache.get(&key) {
                            v.clone()
                        } else {
                            let types: Vec<Type> = query.params[..values.len()]
                                .iter()
                                .map(|p| p.ty.pg_type())
                                .collect();
                            let stmt =
                                client.prepare_typed(sql, &types).await.with_context(|| {
                                    format!("preparing the sampler of {}.{}", query.name, p.name)
                                })?;
                            let refs: Vec<&(dyn ToSql + Sync)> =
                                values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
                            let row = client
                                .query_opt(&stmt, &refs)
                                .await
                                .with_context(|| format!("sampling {}.{}", query.name, p.name))?;
                            let v = match row {
                                Some(row) => read_value(&row, p.ty)?,
                                None => None,
                            }
                            .ok_or_else(|| {
                                anyhow!(
                                    "sampling {}.{} for the {pick} org found no value",
                                    query.name,
                                    p.name
                                )
                            })?;
                            cache.insert(key, v.clone());
                            v
                        }
                    }
                };
                values.push(value);
            }
            params.insert(query.name.clone(), values);
        }
        Ok(SampledOrg {
            pick: pick.to_string(),
            org_id,
            member,
            params,
        })
    }
}

/// Before the migrations, after them, or the target database as it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Before,
    After,
    Current,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Phase::Before => "before",
            Phase::After => "after",
            Phase::Current => "current",
        })
    }
}

/// One query × org × role in one phase: median figures, the plan, the findings.
#[derive(Debug, Clone, Serialize)]
pub struct Run {
    pub query: String,
    pub org: String,
    pub phase: Phase,
    pub role: Role,
    pub execution_ms: f64,
    pub planning_ms: f64,
    /// Shared blocks hit + read (the root node's, including children).
    pub buffers: u64,
    pub buffers_detail: Buffers,
    /// Measured runs behind the median (fewer than --runs when the time budget ran out).
    pub runs: usize,
    pub seq_scans: Vec<String>,
    pub findings: Vec<Finding>,
    pub params: Vec<(String, String)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip)]
    pub plan: Option<Explained>,
    /// The median run's EXPLAIN output as PostgreSQL returned it (for --save-plans).
    #[serde(skip)]
    pub raw_plan: Option<serde_json::Value>,
}

/// How to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub runs: usize,
    /// Time for one query × org × role, warm-up included: fewer than K runs when it is spent.
    pub series_budget: Duration,
    pub statement_timeout: Duration,
    pub jobs: usize,
    pub index_suggestions: bool,
    pub thresholds: Thresholds,
}

/// Whether hypothetical indexes can be costed on this database, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hypopg {
    /// The extension is installed.
    Installed,
    /// Available on the server: created inside each costing transaction and rolled back.
    CreateInTransaction,
    Unavailable,
}

pub async fn hypopg_status(client: &Client) -> Result<Hypopg> {
    let row = client
        .query_opt(
            "SELECT installed_version IS NOT NULL FROM pg_available_extensions WHERE name = 'hypopg'",
            &[],
        )
        .await?;
    Ok(match row.map(|r| r.get::<_, bool>(0)) {
        Some(true) => Hypopg::Installed,
        Some(false) => Hypopg::CreateInTransaction,
        None => Hypopg::Unavailable,
    })
}

/// Columns and btree index keys of the tables in the search path.
pub async fn table_info(client: &Client) -> Result<HashMap<String, TableInfo>> {
    let mut out: HashMap<String, TableInfo> = HashMap::new();
    for row in client
        .query(
            "SELECT c.relname::text, array_agg(a.attname::text ORDER BY a.attnum)
             FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
             WHERE c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
               AND pg_table_is_visible(c.oid)
             GROUP BY c.relname",
            &[],
        )
        .await?
    {
        out.entry(row.get(0)).or_default().columns = row.get(1);
    }
    for row in client
        .query(
            "SELECT t.relname::text,
                    array(SELECT a.attname::text
                          FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k (attnum, n)
                          JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
                          ORDER BY k.n)
             FROM pg_index i
             JOIN pg_class t ON t.oid = i.indrelid
             JOIN pg_class ix ON ix.oid = i.indexrelid
             JOIN pg_am am ON am.oid = ix.relam
             WHERE am.amname = 'btree' AND i.indpred IS NULL AND pg_table_is_visible(t.oid)",
            &[],
        )
        .await?
    {
        let name: String = row.get(0);
        out.entry(name).or_default().btree_indexes.push(row.get(1));
    }
    Ok(out)
}

/// A tenant session's claims, as PostgREST sets them.
fn claims(org: &SampledOrg) -> String {
    serde_json::json!({"sub": org.member, "role": "authenticated", "org_id": org.org_id})
        .to_string()
}

/// BEGIN, tenant setup, statement_timeout: the common prologue of every run.
async fn begin(client: &Client, role: Role, org: &SampledOrg, timeout: Duration) -> Result<()> {
    client.batch_execute("BEGIN").await?;
    client
        .execute(
            "SELECT set_config('statement_timeout', $1, true)",
            &[&timeout.as_millis().to_string()],
        )
        .await?;
    if role == Role::Tenant {
        client.batch_execute("SET LOCAL ROLE authenticated").await?;
        client
            .execute(
                "SELECT set_config('request.jwt.claims', $1, true)",
                &[&claims(org)],
            )
            .await?;
    }
    Ok(())
}

async fn rollback(client: &Client) {
    let _ = client.batch_execute("ROLLBACK").await;
}

fn sql_for(query: &Query, role: Role) -> &str {
    match role {
        Role::Service => &query.service_sql,
        Role::Tenant => &query.tenant_sql,
    }
}

fn types_of(query: &Query) -> Vec<Type> {
    query.params.iter().map(|p| p.ty.pg_type()).collect()
}

/// One EXPLAIN ANALYZE inside a transaction that is always rolled back.
pub async fn explain_once(
    client: &Client,
    query: &Query,
    role: Role,
    org: &SampledOrg,
    timeout: Duration,
) -> Result<(Explained, serde_json::Value)> {
    let result = async {
        begin(client, role, org, timeout).await?;
        let sql = format!(
            "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {}",
            sql_for(query, role)
        );
        let stmt = client.prepare_typed(&sql, &types_of(query)).await?;
        let values = &org.params[&query.name];
        let refs: Vec<&(dyn ToSql + Sync)> =
            values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
        let row = client.query_one(&stmt, &refs).await?;
        let json: serde_json::Value = row.try_get(0)?;
        Ok((Explained::from_json(&json)?, json))
    }
    .await;
    rollback(client).await;
    result
}

/// The plan's estimated cost without and with each candidate index (hypopg), in one
/// rolled-back transaction.
async fn cost_candidates(
    client: &Client,
    query: &Query,
    org: &SampledOrg,
    hypopg: Hypopg,
    candidates: &[Candidate],
    timeout: Duration,
) -> Result<Vec<(Candidate, f64)>> {
    let result = async {
        begin(client, Role::Service, org, timeout).await?;
        if hypopg == Hypopg::CreateInTransaction {
            client
                .batch_execute("CREATE EXTENSION IF NOT EXISTS hypopg")
                .await?;
        }
        let sql = format!("EXPLAIN (FORMAT JSON) {}", query.service_sql);
        let stmt = client.prepare_typed(&sql, &types_of(query)).await?;
        let values = &org.params[&query.name];
        let refs: Vec<&(dyn ToSql + Sync)> =
            values.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
        let mut out = Vec::new();
        for candidate in candidates {
            client
                .execute(
                    "SELECT * FROM hypopg_create_index($1)",
                    &[&candidate.hypothetical_sql()],
                )
                .await?;
            let row = client.query_one(&stmt, &refs).await?;
            let plan = Explained::from_json(&row.try_get::<_, serde_json::Value>(0)?)?;
            out.push((candidate.clone(), plan.plan.total_cost));
            client.execute("SELECT hypopg_reset()", &[]).await?;
        }
        Ok(out)
    }
    .await;
    let _ = client.execute("SELECT hypopg_reset()", &[]).await;
    rollback(client).await;
    result
}

/// One unit of work: a query for an org as a role.
#[derive(Debug, Clone)]
struct Series {
    query: usize,
    org: usize,
    role: Role,
}

/// Progress reporting, shared by the workers.
pub trait Progress: Send + Sync {
    fn step(&self, done: usize, total: usize, what: &str);
}

pub struct Phases<'a> {
    pub phase: Phase,
    pub catalog: &'a Catalog,
    pub orgs: &'a [SampledOrg],
    pub options: &'a RunOptions,
}

/// Explain every query × org × role on `jobs` connections; plan rules applied,
/// rls-overhead paired, index suggestions costed. Runs come back in catalog order.
pub async fn run_phase(
    connect: impl Fn() -> futures_util::future::BoxFuture<'static, Result<Client>>,
    work: Phases<'_>,
    progress: &dyn Progress,
) -> Result<Vec<Run>> {
    let Phases {
        phase,
        catalog,
        orgs,
        options,
    } = work;
    let mut series = Vec::new();
    for (qi, _) in catalog.queries.iter().enumerate() {
        for (oi, _) in orgs.iter().enumerate() {
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
    let done = Arc::new(AtomicUsize::new(0));
    let jobs = options.jobs.clamp(1, total.max(1));
    let mut clients = Vec::new();
    for _ in 0..jobs {
        clients.push(connect().await?);
    }
    let hypopg = if options.index_suggestions {
        hypopg_status(&clients[0]).await?
    } else {
        Hypopg::Unavailable
    };
    let tables = if hypopg != Hypopg::Unavailable {
        table_info(&clients[0]).await?
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
            for (i, s) in mine {
                let query = &catalog.queries[s.query];
                let org = &orgs[s.org];
                let mut run = run_series(client, phase, query, org, s.role, options).await;
                if run.error.is_none()
                    && s.role == Role::Service
                    && !query.dml
                    && hypopg != Hypopg::Unavailable
                {
                    if let Some(plan) = run.plan.clone() {
                        let ctx = PlanContext {
                            plan: &plan,
                            role: s.role,
                            thresholds: &options.thresholds,
                        };
                        let candidates = index_suggestion::candidates(&ctx, tables);
                        if !candidates.is_empty() {
                            match cost_candidates(
                                client,
                                query,
                                org,
                                hypopg,
                                &candidates,
                                options.statement_timeout,
                            )
                            .await
                            {
                                Ok(tried) => {
                                    run.findings.extend(index_suggestion::verdict(&ctx, &tried))
                                }
                                Err(e) => eprintln!(
                                    "note: index suggestions skipped for {}: {}",
                                    query.name,
                                    crate::error::one_line(&e)
                                ),
                            }
                        }
                    }
                }
                let n = done.fetch_add(1, Ordering::SeqCst) + 1;
                progress.step(
                    n,
                    total,
                    &format!("{phase} {} ({}, {})", query.name, org.pick, s.role),
                );
                out.push((i, run));
            }
            out
        });
    }
    let mut indexed: Vec<(usize, Run)> = futures_util::future::join_all(tasks)
        .await
        .into_iter()
        .flatten()
        .collect();
    indexed.sort_by_key(|(i, _)| *i);
    let mut runs: Vec<Run> = indexed.into_iter().map(|(_, r)| r).collect();
    pair_rls_overhead(&mut runs, &options.thresholds);
    Ok(runs)
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

/// Warm-up, then up to K runs within the series budget; the median run's figures.
async fn run_series(
    client: &Client,
    phase: Phase,
    query: &Query,
    org: &SampledOrg,
    role: Role,
    options: &RunOptions,
) -> Run {
    let params = query
        .params
        .iter()
        .zip(&org.params[&query.name])
        .map(|(p, v)| (p.name.clone(), v.to_string()))
        .collect();
    let mut run = Run {
        query: query.name.clone(),
        org: org.pick.clone(),
        phase,
        role,
        execution_ms: 0.0,
        planning_ms: 0.0,
        buffers: 0,
        buffers_detail: Buffers::default(),
        runs: 0,
        seq_scans: Vec::new(),
        findings: Vec::new(),
        params,
        error: None,
        plan: None,
        raw_plan: None,
    };
    let started = Instant::now();
    let mut plans: Vec<(Explained, serde_json::Value)> = Vec::new();
    let warm = match explain_once(client, query, role, org, options.statement_timeout).await {
        Ok(p) => p,
        Err(e) => {
            run.error = Some(crate::error::one_line(&e));
            return run;
        }
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
            match explain_once(client, query, role, org, options.statement_timeout).await {
                Ok(p) => plans.push(p),
                Err(e) => {
                    run.error = Some(crate::error::one_line(&e));
                    return run;
                }
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
    };
    run.findings = rules::check_plan(&ctx);
    run.plan = Some(median);
    run
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
