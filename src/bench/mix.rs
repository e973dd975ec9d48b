//! Bench on any catalog, pgbench-like: a weighted mix of the catalog's queries (weights
//! in catalog.yaml, default equal), each request a query drawn by weight for a tenant
//! drawn by size, with that tenant's sampled parameters, as the service role or as the
//! tenant (role and JWT claims the way PostgREST sets them). `--concurrency` clients
//! share a pool; closed-loop by default, open-loop with `--rate` (a Poisson schedule per
//! client, latency counted from the scheduled start as pgbench -R does). A write runs in
//! a transaction that is rolled back unless the catalog marks it `commit: true`; the
//! rows committed are removed afterwards, by the primary key its RETURNING gave.
//!
//! Per query and overall: p50 / p95 / p99, throughput, errors by SQLSTATE, pool wait.
//! The runner records into `runner::Windows` too, so `dbkit rehearse` drives its
//! traffic from the same mix.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use deadpool_postgres::Pool;
use rand::distr::weighted::WeightedIndex;
use rand::distr::Distribution;
use rand::{RngExt, SeedableRng};
use serde::Serialize;
use sqlparser::ast::{SelectItem, Statement as SqlStatement};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use tokio_postgres::types::Type;

use super::client_thread::ClientThread;
use super::runner::Windows;
use super::scenario::Stop;
use super::stats::{Latencies, Outcome};
use super::transaction::{fatal, is_fatal, Fatal};
use crate::explain::rules::Role;
use crate::workload::catalog::{Catalog, Query};
use crate::workload::param::{refs, ParamValue};
use crate::workload::sample::SampledOrg;

/// One query of the mix, ready to run.
#[derive(Debug, Clone)]
pub struct MixQuery {
    pub name: String,
    pub weight: u32,
    pub sql: String,
    pub types: Vec<Type>,
    pub dml: bool,
    /// Where committed rows go, to remove them afterwards (`commit: true`).
    pub commits: Option<CommitTarget>,
    /// Tenants with parameters for it, by index into `Mix::tenants`, and how to draw one.
    tenants: Vec<usize>,
    pick_tenant: Option<WeightedIndex<u64>>,
}

/// The table a committing INSERT writes and the key its RETURNING gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitTarget {
    pub table: String,
    pub key: String,
}

/// The catalog as bench runs it: queries, tenants and how to draw both.
#[derive(Debug, Clone)]
pub struct Mix {
    pub queries: Vec<MixQuery>,
    pub tenants: Vec<(SampledOrg, u64)>,
    pub role: Role,
    pick_query: WeightedIndex<u64>,
    /// Queries no tenant has parameters for: why.
    pub skipped: Vec<String>,
}

impl Mix {
    /// The mix of `catalog` over `tenants` (each sampled, with its weight), run as `role`.
    pub fn new(catalog: &Catalog, tenants: Vec<(SampledOrg, u64)>, role: Role) -> Result<Mix> {
        let mut queries = Vec::new();
        let mut skipped = Vec::new();
        for q in &catalog.queries {
            let eligible: Vec<usize> = tenants
                .iter()
                .enumerate()
                .filter(|(_, (t, _))| t.params_of(&q.name).is_some())
                .map(|(i, _)| i)
                .collect();
            if eligible.is_empty() {
                let why = tenants
                    .first()
                    .and_then(|(t, _)| t.skipped.get(&q.name).cloned())
                    .unwrap_or_else(|| "no tenant has parameters for it".into());
                skipped.push(format!("{}: {why}", q.name));
                continue;
            }
            let pick_tenant =
                WeightedIndex::new(eligible.iter().map(|&i| tenants[i].1.max(1))).ok();
            queries.push(MixQuery {
                name: q.name.clone(),
                weight: q.weight,
                sql: sql_for(q, role).to_string(),
                types: q.params.iter().map(|p| p.ty.pg_type()).collect(),
                dml: q.dml,
                commits: if q.commit {
                    Some(commit_target(q)?)
                } else {
                    None
                },
                tenants: eligible,
                pick_tenant,
            });
        }
        if queries.is_empty() {
            bail!(crate::error::hinted(
                "no query of the catalog can run: every sampler found nothing",
                "seed the database (dbkit seed) or fix the samplers in catalog.yaml",
            ));
        }
        let pick_query = WeightedIndex::new(queries.iter().map(|q| u64::from(q.weight.max(1))))?;
        Ok(Mix {
            queries,
            tenants,
            role,
            pick_query,
            skipped,
        })
    }

    /// Draw a query and a tenant for it.
    pub fn draw<R: rand::Rng + ?Sized>(&self, rng: &mut R) -> (usize, usize) {
        let q = self.pick_query.sample(rng);
        let query = &self.queries[q];
        let t = match &query.pick_tenant {
            Some(pick) => query.tenants[pick.sample(rng)],
            None => query.tenants[rng.random_range(0..query.tenants.len())],
        };
        (q, t)
    }
}

fn sql_for(q: &Query, role: Role) -> &str {
    match role {
        Role::Service => &q.service_sql,
        Role::Tenant => &q.tenant_sql,
    }
}

/// `commit: true` needs an INSERT whose RETURNING names the key of the rows it adds.
pub fn commit_target(q: &Query) -> Result<CommitTarget> {
    let refuse = || {
        crate::error::hinted(
            format!(
                "{}: `commit: true` needs an INSERT … RETURNING <its primary key>, so bench can remove the rows it commits",
                q.name
            ),
            "add RETURNING id to the query, or drop `commit: true` (the write is then rolled back)",
        )
    };
    let parsed = Parser::parse_sql(&PostgreSqlDialect {}, &q.service_sql).map_err(|_| refuse())?;
    let [SqlStatement::Insert(insert)] = parsed.as_slice() else {
        return Err(refuse());
    };
    let key = match insert.returning.as_deref() {
        Some([SelectItem::UnnamedExpr(e), ..]) => e.to_string(),
        Some([SelectItem::ExprWithAlias { expr, .. }, ..]) => expr.to_string(),
        _ => return Err(refuse()),
    };
    Ok(CommitTarget {
        table: insert.table.to_string(),
        key,
    })
}

/// What one query (or the whole mix) measured.
#[derive(Debug, Clone, Default)]
pub struct QueryStats {
    pub ok: u64,
    pub errors: BTreeMap<String, u64>,
    pub latency: Latencies,
    pub pool_wait: Latencies,
    /// Behind the open-loop schedule at the start (with --rate).
    pub lag: Latencies,
}

impl QueryStats {
    fn record(&mut self, error: Option<&str>, pool_wait: Duration, total: Duration, lag: Duration) {
        match error {
            Some(code) => *self.errors.entry(code.to_string()).or_default() += 1,
            None => self.ok += 1,
        }
        self.latency.record(total);
        self.pool_wait.record(pool_wait);
        self.lag.record(lag);
    }

    fn merge(&mut self, other: &QueryStats) {
        self.ok += other.ok;
        for (code, n) in &other.errors {
            *self.errors.entry(code.clone()).or_default() += n;
        }
        self.latency.merge(&other.latency);
        self.pool_wait.merge(&other.pool_wait);
        self.lag.merge(&other.lag);
    }

    pub fn requests(&self) -> u64 {
        self.latency.len()
    }

    pub fn row(&self, name: &str, elapsed: Duration) -> QueryRow {
        let requests = self.requests();
        let errors: u64 = self.errors.values().sum();
        let secs = elapsed.as_secs_f64();
        let r3 = |x: f64| (x * 1000.0).round() / 1000.0;
        QueryRow {
            query: name.to_string(),
            requests,
            errors,
            errors_by_sqlstate: self.errors.clone(),
            p50_ms: r3(self.latency.quantile_ms(0.50)),
            p95_ms: r3(self.latency.quantile_ms(0.95)),
            p99_ms: r3(self.latency.quantile_ms(0.99)),
            max_ms: r3(self.latency.max_ms()),
            throughput_rps: if secs > 0.0 {
                r3(requests as f64 / secs)
            } else {
                0.0
            },
            pool_wait_p95_ms: r3(self.pool_wait.quantile_ms(0.95)),
            lag_p95_ms: r3(self.lag.quantile_ms(0.95)),
        }
    }
}

/// One row of the mix report.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct QueryRow {
    pub query: String,
    pub requests: u64,
    pub errors: u64,
    pub errors_by_sqlstate: BTreeMap<String, u64>,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub throughput_rps: f64,
    pub pool_wait_p95_ms: f64,
    /// How far behind its schedule a request started (open loop; 0 closed-loop).
    pub lag_p95_ms: f64,
}

impl QueryRow {
    pub fn error_rate(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.errors as f64 / self.requests as f64
        }
    }
}

/// One phase's measurements: per query (by index) and its wall time.
#[derive(Debug, Clone, Default)]
pub struct MixStats {
    pub per_query: Vec<QueryStats>,
    pub elapsed: Duration,
}

impl MixStats {
    pub fn overall(&self) -> QueryStats {
        let mut all = QueryStats::default();
        for q in &self.per_query {
            all.merge(q);
        }
        all
    }
}

/// How a phase runs: clients, when it stops, an optional rate (requests per second,
/// shared by the clients).
#[derive(Debug, Clone)]
pub struct MixPhase {
    pub concurrency: usize,
    pub stop: Stop,
    pub rate: Option<f64>,
}

/// The clients of the mix, their pool and what they committed.
pub struct MixRunner {
    pool: Pool,
    mix: Arc<Mix>,
    seed: u64,
    abort: Arc<AtomicBool>,
    windows: Option<Arc<Windows>>,
    /// Keys of committed rows, per query index.
    committed: Arc<Mutex<BTreeMap<usize, Vec<String>>>>,
    thread: Arc<ClientThread>,
}

impl MixRunner {
    pub fn new(pool: Pool, mix: Mix, seed: u64) -> MixRunner {
        MixRunner {
            pool,
            mix: Arc::new(mix),
            seed,
            abort: Arc::new(AtomicBool::new(false)),
            windows: None,
            committed: Arc::new(Mutex::new(BTreeMap::new())),
            thread: Arc::new(ClientThread::start_or_current()),
        }
    }

    /// Also record every request in `windows` (rehearse).
    pub fn with_windows(mut self, windows: Arc<Windows>) -> MixRunner {
        self.windows = Some(windows);
        self
    }

    pub fn mix(&self) -> &Mix {
        &self.mix
    }

    /// The flag that stops every client after its current request.
    pub fn abort_flag(&self) -> Arc<AtomicBool> {
        self.abort.clone()
    }

    /// Open `size` pooled connections (held together, so each is a new one) and prepare
    /// the mix's statements on each, before timing starts. A statement the server
    /// refuses is not fatal here: the requests that run it count its error.
    pub async fn warm_up(&self, size: usize) -> Result<(), Fatal> {
        let (pool, mix) = (self.pool.clone(), self.mix.clone());
        let opened = self
            .thread
            .run(async move {
                let mut held = Vec::with_capacity(size);
                for _ in 0..size {
                    held.push(pool.get().await.map_err(pool_fatal)?);
                }
                for client in &held {
                    for q in &mix.queries {
                        if let Err(e) = client.prepare_typed_cached(&q.sql, &q.types).await {
                            if is_fatal(&e, client) {
                                return Err(fatal(e));
                            }
                        }
                    }
                }
                Ok(())
            })
            .await;
        match opened {
            Ok(result) => result,
            Err(join) => Err(Fatal {
                message: format!("the bench's client thread stopped: {join}"),
                code: None,
            }),
        }
    }

    /// Run one phase; `index` varies the random streams between phases.
    pub async fn run_phase(&self, phase: &MixPhase, index: u64) -> Result<MixStats, Fatal> {
        let started = Instant::now();
        let budget = match phase.stop {
            Stop::Requests(n) => Some(Arc::new(AtomicU64::new(n))),
            Stop::Duration(_) => None,
        };
        let deadline = match phase.stop {
            Stop::Duration(d) => Some(started + d),
            Stop::Requests(_) => None,
        };
        // Each client's share of the rate: its own Poisson schedule.
        let interval = phase
            .rate
            .map(|r| Duration::from_secs_f64(phase.concurrency as f64 / r.max(1e-9)));
        let clients: Vec<MixClient> = (0..phase.concurrency)
            .map(|client| MixClient {
                pool: self.pool.clone(),
                mix: self.mix.clone(),
                abort: self.abort.clone(),
                windows: self.windows.clone(),
                committed: self.committed.clone(),
                budget: budget.clone(),
                deadline,
                interval,
                seed: self
                    .seed
                    .wrapping_mul(0x9E37_79B9_7F4A_7C15)
                    .wrapping_add(index << 32)
                    .wrapping_add(client as u64),
            })
            .collect();
        let queries = self.mix.queries.len();
        let done = self
            .thread
            .run(async move {
                let tasks: Vec<_> = clients.into_iter().map(|c| tokio::spawn(c.run())).collect();
                let mut out = Vec::new();
                for t in tasks {
                    out.push(t.await);
                }
                out
            })
            .await;
        let done = match done {
            Ok(done) => done,
            Err(join) => {
                return Err(Fatal {
                    message: format!("the bench's client thread stopped: {join}"),
                    code: None,
                })
            }
        };
        let mut stats = MixStats {
            per_query: vec![QueryStats::default(); queries],
            elapsed: Duration::ZERO,
        };
        let mut first_fatal = None;
        for task in done {
            match task {
                Ok((client, fatal)) => {
                    for (all, mine) in stats.per_query.iter_mut().zip(&client) {
                        all.merge(mine);
                    }
                    if first_fatal.is_none() {
                        first_fatal = fatal;
                    }
                }
                Err(join) => {
                    first_fatal.get_or_insert(Fatal {
                        message: format!("a bench client panicked: {join}"),
                        code: None,
                    });
                }
            }
        }
        stats.elapsed = started.elapsed();
        match first_fatal {
            Some(f) => Err(f),
            None => Ok(stats),
        }
    }

    /// Remove every row a `commit: true` query committed; how many.
    pub async fn remove_committed(&self, client: &tokio_postgres::Client) -> Result<u64> {
        let committed = self.committed.lock().map(|c| c.clone()).unwrap_or_default();
        let mut removed = 0;
        for (q, keys) in committed {
            let Some(target) = &self.mix.queries[q].commits else {
                continue;
            };
            for chunk in keys.chunks(1000) {
                let sql = format!(
                    "DELETE FROM {} WHERE ({})::text = ANY($1)",
                    target.table, target.key
                );
                removed += client.execute(&sql, &[&chunk]).await?;
            }
        }
        Ok(removed)
    }

    /// Rows committed and not removed yet (counted again on the server).
    pub async fn committed_left(&self, client: &tokio_postgres::Client) -> Result<i64> {
        let committed = self.committed.lock().map(|c| c.clone()).unwrap_or_default();
        let mut left = 0;
        for (q, keys) in committed {
            let Some(target) = &self.mix.queries[q].commits else {
                continue;
            };
            let sql = format!(
                "SELECT count(*) FROM {} WHERE ({})::text = ANY($1)",
                target.table, target.key
            );
            left += client.query_one(&sql, &[&keys]).await?.get::<_, i64>(0);
        }
        Ok(left)
    }

    pub fn committed_count(&self) -> u64 {
        self.committed
            .lock()
            .map(|c| c.values().map(|v| v.len() as u64).sum())
            .unwrap_or(0)
    }
}

struct MixClient {
    pool: Pool,
    mix: Arc<Mix>,
    abort: Arc<AtomicBool>,
    windows: Option<Arc<Windows>>,
    committed: Arc<Mutex<BTreeMap<usize, Vec<String>>>>,
    budget: Option<Arc<AtomicU64>>,
    deadline: Option<Instant>,
    interval: Option<Duration>,
    seed: u64,
}

impl MixClient {
    async fn run(self) -> (Vec<QueryStats>, Option<Fatal>) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(self.seed);
        let mut stats = vec![QueryStats::default(); self.mix.queries.len()];
        let mut scheduled = Instant::now();
        loop {
            if let Some(mean) = self.interval {
                // Exponential inter-arrival times: a Poisson process at this client's rate.
                let u: f64 = rng.random_range(f64::EPSILON..1.0);
                scheduled += mean.mul_f64(-u.ln());
                if self.deadline.is_some_and(|d| scheduled >= d) {
                    return (stats, None);
                }
                tokio::time::sleep_until(scheduled.into()).await;
            } else {
                scheduled = Instant::now();
            }
            if self.abort.load(Ordering::Relaxed) || !self.take_ticket() {
                return (stats, None);
            }
            let (q, t) = self.mix.draw(&mut rng);
            let window = self.windows.as_ref().map(|w| w.current());
            let waiting = Instant::now();
            let client = match self.pool.get().await {
                Ok(c) => c,
                Err(e) => return (stats, Some(self.stop(pool_fatal(e)))),
            };
            let pool_wait = waiting.elapsed();
            let query = &self.mix.queries[q];
            let (tenant, _) = &self.mix.tenants[t];
            let result = request(&client, query, tenant, self.mix.role).await;
            let total = scheduled.elapsed();
            let lag = waiting.saturating_duration_since(scheduled);
            let error = match result {
                Ok(key) => {
                    if let (Some(key), Some(_)) = (key, &query.commits) {
                        if let Ok(mut c) = self.committed.lock() {
                            c.entry(q).or_default().push(key);
                        }
                    }
                    None
                }
                Err(Failure::Statement(code)) => Some(code),
                Err(Failure::Fatal(f)) => return (stats, Some(self.stop(f))),
            };
            stats[q].record(error.as_deref(), pool_wait, total, lag);
            if let (Some(windows), Some(window)) = (&self.windows, window) {
                let outcome = match &error {
                    Some(code) => Outcome::Error(code.clone()),
                    None => Outcome::Done,
                };
                windows.record(window, &outcome, pool_wait, total.saturating_sub(pool_wait));
            }
        }
    }

    fn take_ticket(&self) -> bool {
        if let Some(deadline) = self.deadline {
            return Instant::now() < deadline;
        }
        match &self.budget {
            Some(left) => left
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok(),
            None => false,
        }
    }

    fn stop(&self, fatal: Fatal) -> Fatal {
        self.abort.store(true, Ordering::Relaxed);
        fatal
    }
}

enum Failure {
    /// The statement failed; the connection is fine (SQLSTATE).
    Statement(String),
    Fatal(Fatal),
}

const SET_CLAIMS: &str = "SELECT set_config('request.jwt.claims', $1, true)";

/// One request: a read as the service is a single statement; anything else runs in a
/// transaction — as the tenant with PostgREST's role and claims — that commits a read
/// or a `commit: true` write and rolls any other write back. The committed key, if any.
async fn request(
    client: &deadpool_postgres::Client,
    query: &MixQuery,
    tenant: &SampledOrg,
    role: Role,
) -> Result<Option<String>, Failure> {
    let values: &[ParamValue] = tenant.params_of(&query.name).unwrap_or_default();
    let statement = |e: tokio_postgres::Error| {
        if is_fatal(&e, client) {
            Failure::Fatal(fatal(e))
        } else {
            Failure::Statement(
                e.code()
                    .map(|c| c.code().to_string())
                    .unwrap_or_else(|| "client".into()),
            )
        }
    };
    let stmt = client
        .prepare_typed_cached(&query.sql, &query.types)
        .await
        .map_err(statement)?;
    if role == Role::Service && !query.dml {
        client
            .query(&stmt, &refs(values))
            .await
            .map_err(statement)?;
        return Ok(None);
    }
    let transaction = async {
        match role {
            Role::Tenant => {
                client
                    .batch_execute("BEGIN; SET LOCAL ROLE authenticated")
                    .await?;
                let claims = client.prepare_cached(SET_CLAIMS).await?;
                client.execute(&claims, &[&tenant.claims]).await?;
            }
            Role::Service => client.batch_execute("BEGIN").await?,
        }
        let rows = client.query(&stmt, &refs(values)).await?;
        let keep = !query.dml || query.commits.is_some();
        client
            .batch_execute(if keep { "COMMIT" } else { "ROLLBACK" })
            .await?;
        let key = match (&query.commits, rows.first()) {
            (Some(_), Some(row)) => row.try_get::<_, Option<ParamText>>(0)?.map(|t| t.0),
            _ => None,
        };
        Ok::<_, tokio_postgres::Error>(key)
    }
    .await;
    match transaction {
        Ok(key) => Ok(key),
        Err(e) => {
            let failure = statement(e);
            if let Failure::Statement(_) = failure {
                if let Err(e) = client.batch_execute("ROLLBACK").await {
                    return Err(Failure::Fatal(fatal(e)));
                }
            }
            Err(failure)
        }
    }
}

/// A returned key of any type, as text (what the cleanup compares with `key::text`).
struct ParamText(String);

impl<'a> tokio_postgres::types::FromSql<'a> for ParamText {
    fn from_sql(
        ty: &Type,
        raw: &'a [u8],
    ) -> Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(ParamText(match *ty {
            Type::UUID => uuid::Uuid::from_sql(ty, raw)?.to_string(),
            Type::INT2 => i16::from_sql(ty, raw)?.to_string(),
            Type::INT4 => i32::from_sql(ty, raw)?.to_string(),
            Type::INT8 => i64::from_sql(ty, raw)?.to_string(),
            _ => String::from_utf8_lossy(raw).into_owned(),
        }))
    }

    fn accepts(ty: &Type) -> bool {
        matches!(
            *ty,
            Type::UUID | Type::INT2 | Type::INT4 | Type::INT8 | Type::TEXT | Type::VARCHAR
        )
    }
}

fn pool_fatal(err: deadpool_postgres::PoolError) -> Fatal {
    Fatal {
        code: None,
        message: format!("connection pool: {err}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn catalog(weights: &[u32]) -> Catalog {
        let mut yaml = String::from("orgs: { largest: SELECT 1 }\nmember: null\nqueries:\n");
        let mut files = Vec::new();
        for (i, w) in weights.iter().enumerate() {
            yaml.push_str(&format!(
                "  - {{ name: q{i}, file: q{i}.sql, weight: {w}, params: [{{ name: org, type: uuid, sample: org }}] }}\n"
            ));
            files.push((
                format!("q{i}.sql"),
                format!("SELECT {i} WHERE $1::uuid IS NOT NULL"),
            ));
        }
        files.push(("catalog.yaml".into(), yaml));
        Catalog::from_files(
            std::path::Path::new("mem"),
            crate::workload::Origin::Directory,
            &files,
        )
        .unwrap()
    }

    fn tenant(params_for: &[&str]) -> SampledOrg {
        SampledOrg {
            pick: "t".into(),
            org_id: ParamValue("o".into()),
            member: None,
            claims: "{}".into(),
            params: params_for
                .iter()
                .map(|q| (q.to_string(), vec![ParamValue("o".into())]))
                .collect::<HashMap<_, _>>(),
            skipped: [(
                "q2".to_string(),
                "the sampler of `q2.x` found no value".to_string(),
            )]
            .into_iter()
            .collect(),
        }
    }

    #[test]
    fn queries_are_drawn_by_weight_and_unsampled_ones_are_skipped_with_the_reason() {
        let c = catalog(&[1, 9, 5]);
        let mix = Mix::new(&c, vec![(tenant(&["q0", "q1"]), 1)], Role::Tenant).unwrap();
        assert_eq!(mix.queries.len(), 2);
        assert_eq!(
            mix.skipped,
            vec!["q2: the sampler of `q2.x` found no value".to_string()]
        );
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let heavy = (0..10_000).filter(|_| mix.draw(&mut rng).0 == 1).count();
        assert!((8_700..9_300).contains(&heavy), "{heavy}");
    }

    #[test]
    fn committing_writes_need_returning() {
        let mut q = catalog(&[1]).queries.remove(0);
        q.service_sql = "INSERT INTO notes (org_id, body) VALUES ($1, 'x') RETURNING id".into();
        assert_eq!(
            commit_target(&q).unwrap(),
            CommitTarget {
                table: "notes".into(),
                key: "id".into()
            }
        );
        q.service_sql = "INSERT INTO notes (org_id, body) VALUES ($1, 'x')".into();
        let err = commit_target(&q).unwrap_err();
        assert!(err.to_string().contains("RETURNING"), "{err}");
    }

    #[test]
    fn rows_summarise_and_merge() {
        let mut a = QueryStats::default();
        a.record(
            None,
            Duration::from_millis(1),
            Duration::from_millis(10),
            Duration::ZERO,
        );
        a.record(
            Some("57014"),
            Duration::ZERO,
            Duration::from_millis(30),
            Duration::ZERO,
        );
        let row = a.row("q", Duration::from_secs(1));
        assert_eq!((row.requests, row.errors), (2, 1));
        assert_eq!(row.errors_by_sqlstate["57014"], 1);
        assert_eq!(row.throughput_rps, 2.0);
        assert!((row.error_rate() - 0.5).abs() < 1e-9);
    }
}

/// What `bench` on a catalog is asked for.
#[derive(Debug, Clone)]
pub struct MixOptions {
    pub phase: MixPhase,
    pub role: Role,
    pub pool_size: u32,
    pub seed: u64,
    pub budget_p95_ms: f64,
    /// Tenants sampled for the traffic (the largest ones, by the catalog's `tenants`).
    pub tenants: usize,
}

/// What a mix run measured.
#[derive(Debug, Clone, Serialize)]
pub struct MixReport {
    /// Where the queries came from (directory, shipped, derived).
    pub catalog: String,
    pub role: Role,
    pub concurrency: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    pub pool_size: u32,
    pub tenants: usize,
    pub duration_s: f64,
    pub queries: Vec<QueryRow>,
    pub overall: QueryRow,
    /// Rows `commit: true` queries committed, and how many were removed afterwards.
    pub committed: u64,
    pub removed: u64,
    pub committed_left: i64,
    pub budget_p95_ms: f64,
    /// Queries that could not run (a broken file, a column the schema lost) and those
    /// no tenant had parameters for.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub catalog_errors: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<String>,
    pub failures: Vec<String>,
}

impl MixReport {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Run the catalog's mix against `url`: resolve and check the catalog, sample the
/// tenants, run, remove what was committed, judge.
pub async fn run(
    url: &crate::db::DbUrl,
    source: &crate::workload::CatalogSource,
    opts: &MixOptions,
) -> Result<MixReport> {
    let control = crate::db::connect(url).await?;
    let mut catalog = source.resolve(&control, "bench").await?;
    crate::workload::validate::validate(&control, &mut catalog).await?;
    let catalog_errors: Vec<String> = catalog.problems.iter().map(|p| p.to_string()).collect();
    let tenants = crate::workload::sample::sample_tenants(&control, &catalog, opts.tenants).await?;
    let tenant_count = tenants.len();
    let mix = Mix::new(&catalog, tenants, opts.role)?;
    let skipped = mix.skipped.clone();
    let pool = super::runner::pool(url, opts.pool_size as usize)?;
    let runner = MixRunner::new(pool.clone(), mix, opts.seed);
    let on_signal = super::on_stop_signal(vec![runner.abort_flag()]);
    let progress = super::progress::Progress::new();
    let bar = progress.step(&format!(
        "mix of {} queries, {} clients",
        runner.mix().queries.len(),
        opts.phase.concurrency
    ));
    let warm = (opts.pool_size as usize).min(opts.phase.concurrency.max(1));
    let measured = match runner.warm_up(warm).await {
        Ok(()) => runner.run_phase(&opts.phase, 0).await,
        Err(fatal) => Err(fatal),
    };
    bar.finish();
    on_signal.abort();
    pool.close();
    let interrupted = crate::signal::stopped().is_some();
    let control = if control.is_closed() {
        crate::db::connect(url).await?
    } else {
        control
    };
    let removed = runner.remove_committed(&control).await?;
    let committed_left = runner.committed_left(&control).await?;
    let stats = match measured {
        Ok(stats) => stats,
        Err(fatal) => {
            return Err(crate::error::hinted(
                format!("the bench lost its connection: {}", fatal.message),
                format!("{removed} committed row(s) were removed; check the server and run again"),
            ))
        }
    };
    if interrupted {
        return Err(crate::error::hinted(
            "bench interrupted",
            format!("the {removed} row(s) it had committed were removed"),
        ));
    }
    let queries: Vec<QueryRow> = runner
        .mix()
        .queries
        .iter()
        .zip(&stats.per_query)
        .map(|(q, s)| s.row(&q.name, stats.elapsed))
        .collect();
    let overall = stats.overall().row("all", stats.elapsed);
    let mut failures = Vec::new();
    if overall.p95_ms > opts.budget_p95_ms {
        failures.push(format!(
            "p95 {:.1} ms exceeds the budget of {} ms",
            overall.p95_ms, opts.budget_p95_ms
        ));
    }
    if overall.error_rate() > 0.01 {
        failures.push(format!(
            "{} of {} requests failed ({:.1}%, budget 1%)",
            overall.errors,
            overall.requests,
            overall.error_rate() * 100.0
        ));
    }
    if committed_left > 0 {
        failures.push(format!(
            "{committed_left} committed row(s) are still present after cleanup"
        ));
    }
    for e in &catalog_errors {
        failures.push(format!("catalog: {e}"));
    }
    Ok(MixReport {
        catalog: catalog_label(&catalog),
        role: opts.role,
        concurrency: opts.phase.concurrency,
        rate: opts.phase.rate,
        pool_size: opts.pool_size,
        tenants: tenant_count,
        duration_s: (stats.elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
        queries,
        overall,
        committed: runner.committed_count(),
        removed,
        committed_left,
        budget_p95_ms: opts.budget_p95_ms,
        catalog_errors,
        skipped,
        failures,
    })
}

/// How a report names the catalog it ran.
pub fn catalog_label(catalog: &Catalog) -> String {
    match catalog.origin {
        crate::workload::Origin::Directory => catalog.dir.display().to_string(),
        crate::workload::Origin::Embedded => "queries/ (embedded)".into(),
        crate::workload::Origin::Derived => "derived from the schema".into(),
    }
}
