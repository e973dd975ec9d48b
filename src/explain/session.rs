//! One explained statement on one connection: the transaction every run lives in
//! (`BEGIN`, `statement_timeout`, for tenants the role and JWT claims the way PostgREST
//! sets them, always `ROLLBACK`), and what a lost connection means — one hinted error
//! that ends the whole explain, not an error per remaining run.

use std::time::Duration;

use anyhow::Result;
use tokio_postgres::types::Type;
use tokio_postgres::Client;

use super::plan::Explained;
use super::rules::Role;
use crate::workload::catalog::Query;
use crate::workload::param::refs;
use crate::workload::sample::SampledOrg;

pub use crate::db::session::{connector, is_lost, lost_connection, sql_state, Connector};

/// statement_timeout for this transaction only.
const SET_STATEMENT_TIMEOUT: &str = "SELECT set_config('statement_timeout', $1, true)";

/// The JWT claims PostgREST sets, for this transaction only.
const SET_CLAIMS: &str = "SELECT set_config('request.jwt.claims', $1, true)";

/// Every run's sequential scans start at the table's first block. With the default
/// (on), a scan of a large table starts where the previous one stopped, so a query that
/// stops at its first match (EXISTS, LIMIT) took 0.07 ms in one run and 370 ms in the
/// next on the same data: the runs would measure the scan position, not the plan.
const BEGIN: &str = "BEGIN; SET LOCAL synchronize_seqscans = off";

/// BEGIN, tenant setup, statement_timeout: the common prologue of every run.
pub async fn begin(client: &Client, role: Role, org: &SampledOrg, timeout: Duration) -> Result<()> {
    client.batch_execute(BEGIN).await?;
    client
        .execute(SET_STATEMENT_TIMEOUT, &[&timeout.as_millis().to_string()])
        .await?;
    if role == Role::Tenant {
        client.batch_execute("SET LOCAL ROLE authenticated").await?;
        client.execute(SET_CLAIMS, &[&org.claims]).await?;
    }
    Ok(())
}

pub async fn rollback(client: &Client) {
    let _ = client.batch_execute("ROLLBACK").await;
}

pub fn sql_for(query: &Query, role: Role) -> &str {
    match role {
        Role::Service => &query.service_sql,
        Role::Tenant => &query.tenant_sql,
    }
}

pub fn types_of(query: &Query) -> Vec<Type> {
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
        let values = org
            .params_of(&query.name)
            .ok_or_else(|| anyhow::anyhow!("no parameters sampled for {}", query.name))?;
        let row = client.query_one(&stmt, &refs(values)).await?;
        let json: serde_json::Value = row.try_get(0)?;
        Ok((Explained::from_json(&json)?, json))
    }
    .await;
    rollback(client).await;
    result
}
