//! Hypothetical indexes (hypopg): whether the server can cost them, the tables'
//! columns and btree keys the candidates are built from, and costing a plan without and
//! with each candidate — in one transaction that is rolled back.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Result;
use tokio_postgres::Client;

use super::plan::Explained;
use super::rules::index_suggestion::{Candidate, TableInfo};
use super::rules::Role;
use super::session::{begin, rollback, types_of};
use crate::workload::catalog::Query;
use crate::workload::param::refs;
use crate::workload::sample::SampledOrg;

/// Installed (true), available (false) or absent (no row).
const HYPOPG_STATUS: &str =
    "SELECT installed_version IS NOT NULL FROM pg_available_extensions WHERE name = 'hypopg'";

/// Every visible table's columns, in order.
const TABLE_COLUMNS: &str = "SELECT c.relname::text, array_agg(a.attname::text ORDER BY a.attnum)
             FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
             WHERE c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
               AND pg_table_is_visible(c.oid)
             GROUP BY c.relname";

/// The key columns of every plain (non-partial) btree index on a visible table.
const BTREE_KEYS: &str = "SELECT t.relname::text,
                    array(SELECT a.attname::text
                          FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k (attnum, n)
                          JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
                          ORDER BY k.n)
             FROM pg_index i
             JOIN pg_class t ON t.oid = i.indrelid
             JOIN pg_class ix ON ix.oid = i.indexrelid
             JOIN pg_am am ON am.oid = ix.relam
             WHERE am.amname = 'btree' AND i.indpred IS NULL AND pg_table_is_visible(t.oid)";

/// One hypothetical index, visible to this session's EXPLAINs.
const HYPOPG_CREATE: &str = "SELECT * FROM hypopg_create_index($1)";

/// Forget every hypothetical index.
const HYPOPG_RESET: &str = "SELECT hypopg_reset()";

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
    let row = client.query_opt(HYPOPG_STATUS, &[]).await?;
    Ok(match row.map(|r| r.get::<_, bool>(0)) {
        Some(true) => Hypopg::Installed,
        Some(false) => Hypopg::CreateInTransaction,
        None => Hypopg::Unavailable,
    })
}

/// Columns and btree index keys of the tables in the search path.
pub async fn table_info(client: &Client) -> Result<HashMap<String, TableInfo>> {
    let mut out: HashMap<String, TableInfo> = HashMap::new();
    for row in client.query(TABLE_COLUMNS, &[]).await? {
        out.entry(row.get(0)).or_default().columns = row.get(1);
    }
    for row in client.query(BTREE_KEYS, &[]).await? {
        let name: String = row.get(0);
        out.entry(name).or_default().btree_indexes.push(row.get(1));
    }
    Ok(out)
}

/// The plan's estimated cost without and with each candidate index (hypopg), in one
/// rolled-back transaction.
pub async fn cost_candidates(
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
        let values = org
            .params_of(&query.name)
            .ok_or_else(|| anyhow::anyhow!("no parameters sampled for {}", query.name))?;
        let refs = refs(values);
        let mut out = Vec::new();
        for candidate in candidates {
            client
                .execute(HYPOPG_CREATE, &[&candidate.hypothetical_sql()])
                .await?;
            let row = client.query_one(&stmt, &refs).await?;
            let plan = Explained::from_json(&row.try_get::<_, serde_json::Value>(0)?)?;
            out.push((candidate.clone(), plan.plan.total_cost));
            client.execute(HYPOPG_RESET, &[]).await?;
        }
        Ok(out)
    }
    .await;
    let _ = client.execute(HYPOPG_RESET, &[]).await;
    rollback(client).await;
    result
}
