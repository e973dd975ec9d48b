//! One explained statement on one connection: the transaction every run lives in
//! (`BEGIN`, `statement_timeout`, for tenants the role and JWT claims the way PostgREST
//! sets them, always `ROLLBACK`), and what a lost connection means — one hinted error
//! that ends the whole explain, not an error per remaining run.

use std::time::Duration;

use anyhow::Result;
use futures_util::future::BoxFuture;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::Client;

use super::catalog::Query;
use super::plan::Explained;
use super::rules::Role;
use super::sample::SampledOrg;
use crate::db::DbUrl;
use crate::error::{hinted, one_line};

/// Opens one more connection to the database being explained.
pub type Connector = dyn Fn() -> BoxFuture<'static, Result<Client>> + Send + Sync;

/// A `Connector` for `url`.
pub fn connector(url: &DbUrl) -> Box<Connector> {
    let url = url.clone();
    Box::new(move || {
        let url = url.clone();
        Box::pin(async move { crate::db::connect(&url).await })
    })
}

/// The SQLSTATE of the first PostgreSQL error in the chain.
pub fn sql_state(err: &anyhow::Error) -> Option<&SqlState> {
    err.chain()
        .find_map(|c| c.downcast_ref::<tokio_postgres::Error>())
        .and_then(|e| e.code())
}

/// Whether `err` means the session is gone (the server restarted, or the backend was
/// terminated): nothing more can run on this connection.
pub fn is_lost(client: &Client, err: &anyhow::Error) -> bool {
    let closed = err
        .chain()
        .filter_map(|c| c.downcast_ref::<tokio_postgres::Error>())
        .any(|e| e.is_closed());
    let shutdown = matches!(
        sql_state(err),
        Some(s) if *s == SqlState::ADMIN_SHUTDOWN
            || *s == SqlState::CRASH_SHUTDOWN
            || *s == SqlState::CANNOT_CONNECT_NOW
    );
    closed || shutdown || client.is_closed()
}

/// The one error a lost connection ends explain with.
pub fn lost_connection(err: anyhow::Error, doing: &str) -> anyhow::Error {
    hinted(
        format!(
            "lost the connection to the database while {doing}: {}",
            one_line(&err)
        ),
        "the server ended the session (restarted, or the backend was terminated): check that it is up and rerun; every run was rolled back",
    )
}

/// statement_timeout for this transaction only.
const SET_STATEMENT_TIMEOUT: &str = "SELECT set_config('statement_timeout', $1, true)";

/// The JWT claims PostgREST sets, for this transaction only.
const SET_CLAIMS: &str = "SELECT set_config('request.jwt.claims', $1, true)";

/// A tenant session's claims, as PostgREST sets them.
fn claims(org: &SampledOrg) -> String {
    serde_json::json!({"sub": org.member, "role": "authenticated", "org_id": org.org_id})
        .to_string()
}

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
        client.execute(SET_CLAIMS, &[&claims(org)]).await?;
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
