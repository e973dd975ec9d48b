//! Sampling the catalog's parameters from the seeded data: per org the catalog picks
//! (largest, median), the org's key, a member to run tenant queries as, the JWT claims
//! a tenant's requests carry, and every query's parameters. Samplers are the catalog's
//! SQL, so they run the way everything explain runs does: inside a `READ ONLY`
//! transaction that is rolled back — a sampler that tries to write fails instead of
//! changing the target. `random()` is seeded in that transaction, so a sampler that
//! draws a random row draws the same one on the same data.
//!
//! A sampler that finds no value leaves its query out for that org, with the reason; an
//! org picker that finds none means the database holds no data to sample: seed it.

use std::collections::{BTreeMap, HashMap};

use anyhow::{anyhow, Context, Result};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;
use tokio_postgres::Client;

use super::catalog::{Catalog, Query, Sample};
use super::param::{refs, ParamValue};
use crate::db::session::{is_lost, lost_connection, sql_state, Connector};
use crate::error::{hinted, one_line};

/// The parameters of every query for one org, and who its tenant runs act as.
#[derive(Debug, Clone)]
pub struct SampledOrg {
    pub pick: String,
    /// The org's key, as text.
    pub org_id: ParamValue,
    /// The member whose JWT tenant runs carry (`sub`), when the catalog names one.
    pub member: Option<String>,
    /// `request.jwt.claims` of a tenant request, as PostgREST sets it.
    pub claims: String,
    pub params: HashMap<String, Vec<ParamValue>>,
    /// Queries left out for this org: why (a sampler found no value).
    pub skipped: BTreeMap<String, String>,
}

impl SampledOrg {
    /// This org's parameters for `query`; None when it was skipped.
    pub fn params_of(&self, query: &str) -> Option<&[ParamValue]> {
        self.params.get(query).map(Vec::as_slice)
    }
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

/// Every tenant the catalog's `tenants` query lists, with its weight (bench's traffic):
/// each sampled as an org of its own, in one READ ONLY transaction.
pub async fn sample_tenants(
    client: &Client,
    catalog: &Catalog,
    limit: usize,
) -> Result<Vec<(SampledOrg, u64)>> {
    let result = async {
        client.batch_execute(BEGIN_READ_ONLY).await?;
        let tenants: Vec<(ParamValue, u64)> = match &catalog.tenants {
            Some(sql) => client
                .query(&as_text_pairs(sql), &[])
                .await
                .context("listing the tenants (catalog.yaml `tenants`)")?
                .iter()
                .filter_map(|r| {
                    let id: Option<String> = r.get(0);
                    let weight: Option<i64> = r.get(1);
                    Some((ParamValue(id?), weight.unwrap_or(1).max(1) as u64))
                })
                .take(limit)
                .collect(),
            None => {
                let mut out = Vec::new();
                for (pick, sql) in &catalog.orgs {
                    let org = pick_org(client, pick, sql).await?;
                    if !out.iter().any(|(o, _)| *o == org) {
                        out.push((org, 1));
                    }
                }
                out
            }
        };
        if tenants.is_empty() {
            return Err(empty_database("tenants"));
        }
        let mut out = Vec::new();
        for (i, (org, weight)) in tenants.into_iter().enumerate() {
            let sampled = sample_org(client, catalog, &format!("tenant {}", i + 1), org).await?;
            out.push((sampled, weight));
        }
        Ok(out)
    }
    .await;
    let _ = client.batch_execute("ROLLBACK").await;
    result.map_err(|e| explain_sampling_error(client, e, "the tenants"))
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
        let org = pick_org(client, pick, sql).await?;
        sample_org(client, catalog, pick, org).await
    }
    .await;
    let _ = client.batch_execute("ROLLBACK").await;
    result.map_err(|e| explain_sampling_error(client, e, &format!("the {pick} org")))
}

fn explain_sampling_error(client: &Client, e: anyhow::Error, what: &str) -> anyhow::Error {
    if is_lost(client, &e) {
        lost_connection(e, &format!("sampling {what}"))
    } else if sql_state(&e) == Some(&SqlState::READ_ONLY_SQL_TRANSACTION) {
        hinted(
            one_line(&e),
            "catalog.yaml samplers run in a READ ONLY transaction that is rolled back: write samplers that only read",
        )
    } else {
        e
    }
}

/// Samplers only read: PostgreSQL refuses any write in them (a DELETE in a CTE
/// included), and the rollback undoes whatever a function they call might have done.
/// `random()` starts from a fixed seed.
const BEGIN_READ_ONLY: &str = "BEGIN TRANSACTION READ ONLY; SELECT setseed(0.42)";

/// A sampler's first value as text: `sql` wrapped, so any type comes back the same way.
pub fn as_text(sql: &str) -> String {
    format!(
        "SELECT (v)::text FROM (\n{}\n) AS dbkit_sample (v) LIMIT 1",
        sql.trim().trim_end_matches(';').trim_end()
    )
}

/// A `tenants` query's (id, weight) rows as (text, bigint).
fn as_text_pairs(sql: &str) -> String {
    format!(
        "SELECT (id)::text, (weight)::bigint FROM (\n{}\n) AS dbkit_tenants (id, weight)",
        sql.trim().trim_end_matches(';').trim_end()
    )
}

fn empty_database(what: &str) -> anyhow::Error {
    hinted(
        format!("no {what} found: the database holds no tenant rows to sample"),
        "seed it first (dbkit seed --orgs 5), or use --before V, which seeds a scratch database; \
         if it is seeded, connect as the tables' owner or a BYPASSRLS role (sampling and service runs must see every org)",
    )
}

async fn pick_org(client: &Client, pick: &str, sql: &str) -> Result<ParamValue> {
    let row = client
        .query_opt(&as_text(sql), &[])
        .await
        .with_context(|| format!("sampling the {pick} org (catalog.yaml `orgs.{pick}`)"))?;
    row.and_then(|r| r.get::<_, Option<String>>(0))
        .map(ParamValue)
        .ok_or_else(|| empty_database(&format!("{pick} org")))
}

/// The member, the claims and every query's parameters for `org`.
async fn sample_org(
    client: &Client,
    catalog: &Catalog,
    pick: &str,
    org_id: ParamValue,
) -> Result<SampledOrg> {
    let member = match &catalog.member {
        Some(sql) => {
            let stmt = client
                .prepare(&as_text(sql))
                .await
                .context("preparing the member sampler (catalog.yaml `member`)")?;
            let found = client
                .query_opt(&stmt, &refs(std::slice::from_ref(&org_id)))
                .await
                .context("sampling a member of the org (catalog.yaml `member`)")?
                .and_then(|r| r.get::<_, Option<String>>(0));
            Some(found.ok_or_else(|| {
                anyhow!(
                    "org {org_id} has no member to run tenant queries as (catalog.yaml `member`)"
                )
            })?)
        }
        None => None,
    };
    let claims = claims(
        member.as_deref(),
        catalog.tenant_claim.as_deref(),
        &org_id.0,
    );
    let mut cache: HashMap<(String, Vec<ParamValue>), Option<ParamValue>> = HashMap::new();
    let mut params = HashMap::new();
    let mut skipped = BTreeMap::new();
    for query in &catalog.queries {
        match sample_query(client, query, &org_id, &mut cache).await? {
            Ok(values) => {
                params.insert(query.name.clone(), values);
            }
            Err(param) => {
                skipped.insert(
                    query.name.clone(),
                    format!(
                        "the sampler of `{}.{param}` found no value for the {pick} org",
                        query.name
                    ),
                );
            }
        }
    }
    Ok(SampledOrg {
        pick: pick.to_string(),
        org_id,
        member,
        claims,
        params,
        skipped,
    })
}

/// One query's parameters for `org`; Ok(Err(param)) when a sampler found no value.
async fn sample_query(
    client: &Client,
    query: &Query,
    org: &ParamValue,
    cache: &mut HashMap<(String, Vec<ParamValue>), Option<ParamValue>>,
) -> Result<std::result::Result<Vec<ParamValue>, String>> {
    let mut values: Vec<ParamValue> = Vec::new();
    for p in &query.params {
        let value = match &p.sample {
            Sample::Org => Some(org.clone()),
            Sample::Query(sql) => {
                let key = (sql.clone(), values.clone());
                match cache.get(&key) {
                    Some(v) => v.clone(),
                    None => {
                        let types: Vec<Type> = query.params[..values.len()]
                            .iter()
                            .map(|p| p.ty.pg_type())
                            .collect();
                        let stmt = client
                            .prepare_typed(&as_text(sql), &types)
                            .await
                            .with_context(|| {
                                format!("preparing the sampler of {}.{}", query.name, p.name)
                            })?;
                        let v = client
                            .query_opt(&stmt, &refs(&values))
                            .await
                            .with_context(|| format!("sampling {}.{}", query.name, p.name))?
                            .and_then(|row| row.get::<_, Option<String>>(0))
                            .map(ParamValue);
                        cache.insert(key, v.clone());
                        v
                    }
                }
            }
        };
        match value {
            Some(v) => values.push(v),
            None => return Ok(Err(p.name.clone())),
        }
    }
    Ok(Ok(values))
}

/// A tenant request's claims: `sub` (the member), `role`, and the tenant claim — a
/// dotted name nests (`app_metadata.org_id`).
pub fn claims(member: Option<&str>, tenant_claim: Option<&str>, org: &str) -> String {
    let mut claims = serde_json::Map::new();
    if let Some(member) = member {
        claims.insert("sub".into(), member.into());
    }
    claims.insert("role".into(), "authenticated".into());
    if let Some(path) = tenant_claim {
        let mut parts: Vec<&str> = path.split('.').collect();
        let last = parts.pop().unwrap_or_default();
        let mut at = &mut claims;
        for part in parts {
            let entry = at
                .entry(part.to_string())
                .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
            if !entry.is_object() {
                *entry = serde_json::Value::Object(serde_json::Map::new());
            }
            at = entry.as_object_mut().expect("an object");
        }
        at.insert(last.to_string(), org.into());
    }
    serde_json::Value::Object(claims).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_are_postgrest_shaped_and_nest_on_dots() {
        let c: serde_json::Value =
            serde_json::from_str(&claims(Some("u1"), Some("org_id"), "o1")).unwrap();
        assert_eq!(
            c,
            serde_json::json!({"sub": "u1", "role": "authenticated", "org_id": "o1"})
        );
        let c: serde_json::Value =
            serde_json::from_str(&claims(None, Some("app_metadata.tenant"), "7")).unwrap();
        assert_eq!(
            c,
            serde_json::json!({"role": "authenticated", "app_metadata": {"tenant": "7"}})
        );
    }

    #[test]
    fn samplers_are_wrapped_to_return_text() {
        assert_eq!(
            as_text("SELECT id FROM t -- the first\n;"),
            "SELECT (v)::text FROM (\nSELECT id FROM t -- the first\n) AS dbkit_sample (v) LIMIT 1"
        );
    }
}
