//! Sampling the catalog's parameters from the seeded data: per org the catalog picks
//! (largest, median), the org id, a member to run tenant queries as, and every query's
//! parameters. Samplers are the catalog's SQL, so they run the way everything explain
//! runs does: inside a `READ ONLY` transaction that is rolled back — a sampler that
//! tries to write fails instead of changing the target.

use std::collections::HashMap;

use anyhow::{anyhow, Context, Result};
use bytes::BytesMut;
use chrono::{DateTime, NaiveDate, Utc};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{IsNull, ToSql, Type};
use tokio_postgres::Client;
use uuid::Uuid;

use super::catalog::{Catalog, ParamType, Sample};
use super::session::{is_lost, lost_connection, sql_state, Connector};
use crate::error::{hinted, one_line};

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

/// Sample every query's parameters for every org the catalog picks, one connection per
/// org (the samplers scan the seeded tables; two orgs on two cores halve the wait).
pub async fn sample(connect: &Connector, catalog: &Catalog) -> Result<Vec<SampledOrg>> {
    let mut clients = Vec::new();
    for _ in &catalog.orgs {
        clients.push(connect().await?);
    }
    let tasks = catalog
        .orgs
        .iter()
        .zip(&clients)
        .map(|((pick, sql), client)| sample_read_only(client, catalog, pick, sql));
    futures_util::future::try_join_all(tasks).await
}

/// `sample_org` inside a READ ONLY transaction that is always rolled back.
async fn sample_read_only(
    client: &Client,
    catalog: &Catalog,
    pick: &str,
    sql: &str,
) -> Result<SampledOrg> {
    let result = async {
        client
            .batch_execute(BEGIN_READ_ONLY)
            .await
            .context("starting the sampling transaction")?;
        sample_org(client, catalog, pick, sql).await
    }
    .await;
    let _ = client.batch_execute("ROLLBACK").await;
    result.map_err(|e| {
        if is_lost(client, &e) {
            lost_connection(e, &format!("sampling the {pick} org"))
        } else if sql_state(&e) == Some(&SqlState::READ_ONLY_SQL_TRANSACTION) {
            hinted(
                one_line(&e),
                "catalog.yaml samplers run in a READ ONLY transaction that is rolled back: write samplers that only read",
            )
        } else {
            e
        }
    })
}

/// Samplers only read: PostgreSQL refuses any write in them (a DELETE in a CTE
/// included), and the rollback undoes whatever a function they call might have done.
const BEGIN_READ_ONLY: &str = "BEGIN TRANSACTION READ ONLY";

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
                hinted(
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
