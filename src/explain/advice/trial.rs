//! The lab copy index advice measures on: VACUUM ANALYZE it once (the visibility map and
//! statistics autovacuum would otherwise set at a random moment), build and drop
//! indexes for real, and measure catalog queries there — every org and role, the
//! runner's way (warm-up, K runs, median, each rolled back) — reading the buffers and the
//! indexes each plan used.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, Result};
use tokio_postgres::Client;

use super::candidate::IndexSpec;
use super::select::{Figures, RunKey};
use super::shape::Table;
use crate::db::ident::quote;
use crate::explain::model::{Phase, RunOptions};
use crate::explain::rules::PolicyInfo;
use crate::explain::runner::{self, Phases};
use crate::explain::session::connector;
use crate::lab::Lab;
use crate::progress::Indicator;
use crate::workload::catalog::Catalog;
use crate::workload::sample::SampledOrg;

/// Columns wider than this on average (bytes, `pg_stats`) are not copied into an
/// index's INCLUDE.
const WIDE_BYTES: i32 = 40;

const WIDE_COLUMNS: &str = "SELECT attname::text FROM pg_stats
     WHERE schemaname = $1 AND tablename = $2 AND avg_width > $3";

const INDEX_SIZE: &str = "SELECT pg_relation_size(to_regclass($1))";

/// The measurements of some queries on the workbench.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    /// Buffers per run; a run that failed counts as `u64::MAX` (worse than anything).
    pub figures: Figures,
    /// The indexes each run's plan used.
    pub used: BTreeMap<RunKey, BTreeSet<String>>,
    /// Runs that failed, with PostgreSQL's message.
    pub errors: BTreeMap<RunKey, String>,
}

impl Measured {
    /// Replace the figures of the runs `other` measured.
    pub fn update(&mut self, other: &Measured) {
        for (k, v) in &other.figures {
            self.figures.insert(k.clone(), *v);
        }
        for k in other.figures.keys() {
            match other.used.get(k) {
                Some(u) => self.used.insert(k.clone(), u.clone()),
                None => self.used.remove(k),
            };
        }
        for (k, e) in &other.errors {
            self.errors.insert(k.clone(), e.clone());
        }
    }

    /// Queries whose runs used the index `name`.
    pub fn users_of(&self, name: &str) -> BTreeSet<String> {
        self.used
            .iter()
            .filter(|(_, used)| used.contains(name))
            .map(|(k, _)| k.query.clone())
            .collect()
    }
}

/// The lab copy, with what measuring on it needs.
pub struct Workbench<'a> {
    lab: Lab,
    client: Client,
    catalog: &'a Catalog,
    orgs: &'a [SampledOrg],
    options: RunOptions,
    policy: PolicyInfo,
    progress: &'a Indicator,
}

impl<'a> Workbench<'a> {
    /// Take over `lab` (a copy made for advice) and VACUUM ANALYZE it.
    pub async fn open(
        lab: Lab,
        catalog: &'a Catalog,
        orgs: &'a [SampledOrg],
        run: &RunOptions,
        progress: &'a Indicator,
    ) -> Result<Workbench<'a>> {
        let client = crate::db::connect(lab.url()).await?;
        progress.set_message("advice: VACUUM ANALYZE the lab copy");
        client
            .batch_execute("VACUUM ANALYZE")
            .await
            .context("VACUUM ANALYZE on the lab copy")?;
        let options = RunOptions {
            index_suggestions: false,
            ..run.clone()
        };
        let policy = crate::explain::policy_info(&client).await?;
        Ok(Workbench {
            lab,
            client,
            catalog,
            orgs,
            options,
            policy,
            progress,
        })
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Measure `queries` (every org and role) as the database is now.
    pub async fn measure(&self, queries: &BTreeSet<String>) -> Result<Measured> {
        self.measure_with(queries, &self.options).await
    }

    /// `measure` with one run after the warm-up: for screening single candidates,
    /// where buffers, not times, decide (a plan reads the same blocks run after run).
    pub async fn measure_once(&self, queries: &BTreeSet<String>) -> Result<Measured> {
        let once = RunOptions {
            runs: 1,
            ..self.options.clone()
        };
        self.measure_with(queries, &once).await
    }

    async fn measure_with(
        &self,
        queries: &BTreeSet<String>,
        options: &RunOptions,
    ) -> Result<Measured> {
        let mut catalog = self.catalog.clone();
        catalog.queries.retain(|q| queries.contains(&q.name));
        if catalog.queries.is_empty() {
            return Ok(Measured::default());
        }
        let phase = Phases {
            phase: Phase::Current,
            catalog: &catalog,
            orgs: self.orgs,
            options,
            policy: &self.policy,
        };
        let explained = runner::run_phase(&connector(self.lab.url()), phase, self.progress).await?;
        let mut out = Measured::default();
        for run in explained.runs {
            let key = RunKey {
                query: run.query.clone(),
                org: run.org.clone(),
                role: run.role,
            };
            if let Some(error) = run.error {
                out.figures.insert(key.clone(), u64::MAX);
                out.errors.insert(key, error);
                continue;
            }
            out.figures.insert(key.clone(), run.buffers);
            let used: BTreeSet<String> = run
                .plan
                .iter()
                .flat_map(|p| p.nodes())
                .filter_map(|n| n.index_name.clone())
                .collect();
            out.used.insert(key, used);
        }
        Ok(out)
    }

    /// Build `spec` as `name` (not concurrently: nobody else uses the copy).
    pub async fn build(&self, spec: &IndexSpec, name: &str) -> Result<()> {
        self.client
            .batch_execute(&spec.create(name, false))
            .await
            .with_context(|| format!("building {} on the lab copy", spec.label()))
    }

    pub async fn drop_index(&self, table: &Table, name: &str) -> Result<()> {
        let qualified = format!("{}.{}", quote(&table.schema), quote(name));
        self.client
            .batch_execute(&format!("DROP INDEX {qualified}"))
            .await
            .with_context(|| format!("dropping the index {name} on the lab copy"))
    }

    /// The index's size in bytes.
    pub async fn size(&self, table: &Table, name: &str) -> Result<i64> {
        let qualified = format!("{}.{}", quote(&table.schema), quote(name));
        let row = self.client.query_one(INDEX_SIZE, &[&qualified]).await?;
        Ok(row.get::<_, Option<i64>>(0).unwrap_or(0))
    }

    /// Columns of `table` too wide on average to copy into an index.
    pub async fn wide_columns(&self, table: &Table) -> Result<Vec<String>> {
        let rows = self
            .client
            .query(WIDE_COLUMNS, &[&table.schema, &table.name, &WIDE_BYTES])
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// Drop the copy.
    pub async fn finish(self) -> Result<()> {
        drop(self.client);
        self.lab.finish(false).await.map(|_| ())
    }
}
