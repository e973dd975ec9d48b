//! The proof's fixture: a few tenants, each with rows in every table the tenancy model
//! names (and the tables their foreign keys need, such as `auth.users`). Values come
//! from the shared row generator (`crate::rows::row`), so they satisfy the tables'
//! CHECKs, cross-column ones included; a tenant's rows vary over enum and CHECK-listed
//! values and past and future times, so a policy that lets `status = 'cancelled'` or
//! `scheduled_at < now()` through is caught. A table that cannot be filled is an error
//! naming the constraint that stopped it.

use std::collections::HashMap;

use anyhow::{anyhow, Result};
use serde_json::{Map, Value};
use tokio_postgres::types::ToSql;
use tokio_postgres::Client;

use crate::db::ident::quote;
use crate::rows::row::RowMaker;
use crate::rows::Value as Cell;
use crate::schema::facts::{Column, Facts, Relation};
use crate::schema::tenancy::{Kind, Tenancy};

/// Rows per tenant in a tenant table at most (enough to go through a status list).
const MAX_ROWS: usize = 5;

/// One seeded tenant: its key (as text), the user who is its member, and its rows.
#[derive(Debug, Clone)]
pub struct SeededOrg {
    pub id: String,
    pub member: String,
    /// Table oid -> the rows inserted, as JSON objects.
    pub rows: HashMap<u32, Vec<Map<String, Value>>>,
}

/// The tables to fill, referenced ones first: the model's tables and whatever their
/// foreign keys point at.
pub fn tables_to_fill<'a>(facts: &'a Facts, tenancy: &Tenancy) -> Vec<&'a Relation> {
    let mut wanted: Vec<u32> = tenancy
        .tables
        .iter()
        .filter(|t| !matches!(t.kind, Kind::Public))
        .map(|t| t.oid)
        .collect();
    let mut i = 0;
    while i < wanted.len() {
        if let Some(r) = facts.relation(wanted[i]) {
            for fk in &r.foreign_keys {
                let required = fk
                    .columns
                    .iter()
                    .any(|c| r.columns.iter().any(|col| &col.name == c && col.not_null));
                if required && !wanted.contains(&fk.target) {
                    wanted.push(fk.target);
                }
            }
        }
        i += 1;
    }
    let mut pending: Vec<&Relation> = wanted.iter().filter_map(|o| facts.relation(*o)).collect();
    let mut ordered: Vec<&Relation> = Vec::new();
    while !pending.is_empty() {
        let ready = pending.iter().position(|r| {
            r.foreign_keys.iter().all(|f| {
                f.target == r.oid
                    || ordered.iter().any(|o| o.oid == f.target)
                    || !pending.iter().any(|p| p.oid == f.target)
            })
        });
        // A reference cycle: take the next and let its insert fail loudly.
        ordered.push(pending.remove(ready.unwrap_or(0)));
    }
    ordered
}

fn rows_for(r: &Relation, tenancy: &Tenancy) -> usize {
    let single = match tenancy.of(r.oid).map(|t| &t.kind) {
        None | Some(Kind::Tenant { .. }) => true,
        _ => tenancy.membership.as_ref().is_some_and(|m| m.oid == r.oid),
    };
    if single {
        return 1;
    }
    RowMaker::new(r).variety().clamp(2, MAX_ROWS)
}

fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Columns naming who wrote a row: a row planted by a user carries that user's id.
const AUTHOR_COLUMNS: &[&str] = &[
    "created_by",
    "creator_id",
    "author_id",
    "owner_id",
    "user_id",
];

/// The INSERT of row `row` of tenant `org` (index `tenant`) into `r`. `acting`: the
/// user making it, whose id goes into author columns (`created_by`), as a user
/// planting a row in another tenant would write it.
pub fn insert_for(
    r: &Relation,
    tenancy: &Tenancy,
    org: &SeededOrg,
    tenant: usize,
    row: usize,
    acting: Option<&str>,
) -> Result<(String, Vec<String>)> {
    let mut given: Vec<(String, String)> = Vec::new();
    for fk in &r.foreign_keys {
        if let Some(rows) = org.rows.get(&fk.target).filter(|rs| !rs.is_empty()) {
            let target = &rows[row % rows.len()];
            for (c, tc) in fk.columns.iter().zip(&fk.target_columns) {
                if let Some(v) = target.get(tc).filter(|v| !v.is_null()) {
                    if !given.iter().any(|(g, _)| g == c) {
                        given.push((c.clone(), text_of(v)));
                    }
                }
            }
        }
    }
    let kind = tenancy.of(r.oid).map(|t| &t.kind);
    let user_column = match kind {
        Some(Kind::PerUser { column }) => Some(column.clone()),
        _ => tenancy
            .membership
            .as_ref()
            .filter(|m| m.oid == r.oid)
            .map(|m| m.user_column.clone()),
    };
    let mut given_values: Vec<(String, String)> = Vec::new();
    for c in r.columns.iter().filter(|c| c.writable()) {
        // An author column is never the tenant key or the row's user column: those say
        // whose row it is, and the probe plants it in the other tenant.
        let author = acting.filter(|_| {
            AUTHOR_COLUMNS.contains(&c.name.as_str())
                && c.base_type == "uuid"
                && user_column.as_deref() != Some(c.name.as_str())
                && !matches!(kind, Some(Kind::Keyed { key }) if *key == c.name)
        });
        let value = if let Some(uid) = author {
            Some(uid.to_string())
        } else if let Some((_, v)) = given.iter().find(|(g, _)| g == &c.name) {
            Some(v.clone())
        } else if matches!(kind, Some(Kind::Keyed { key }) if *key == c.name) {
            Some(org.id.clone())
        } else if user_column.as_deref() == Some(c.name.as_str())
            || (!r.owned && r.primary_key == [c.name.clone()] && c.base_type == "uuid")
        {
            Some(org.member.clone())
        } else {
            None
        };
        if let Some(v) = value {
            given_values.push((c.name.clone(), v));
        }
    }
    // Everything else from the shared generator: CHECKs hold, cross-column ones too.
    let fixed: std::collections::BTreeMap<String, Cell> = given_values
        .iter()
        .map(|(c, v)| (c.clone(), Cell::Literal(v.clone())))
        .collect();
    let made = RowMaker::new(r)
        .make(&fixed, row, tenant, r.oid)
        .map_err(|e| {
            anyhow!(
                "no value dbkit can make for {}.{} ({})",
                r.name,
                e.column,
                e.type_name
            )
        })?;
    let mut cols = Vec::new();
    let mut exprs = Vec::new();
    let mut params = Vec::new();
    for c in r.columns.iter().filter(|c| c.writable()) {
        let value = given_values
            .iter()
            .find(|(g, _)| *g == c.name)
            .map(|(_, v)| v.clone())
            .or_else(|| {
                made.iter()
                    .find(|(m, _)| *m == c.name)
                    .and_then(|(_, v)| v.to_text())
            });
        if let Some(v) = value {
            params.push(v);
            cols.push(quote(&c.name));
            exprs.push(cast(c, params.len()));
        }
    }
    let sql = if cols.is_empty() {
        format!(
            "INSERT INTO {} AS t DEFAULT VALUES RETURNING to_jsonb(t)",
            r.sql_name
        )
    } else {
        format!(
            "INSERT INTO {} AS t ({}) VALUES ({}) RETURNING to_jsonb(t)",
            r.sql_name,
            cols.join(", "),
            exprs.join(", ")
        )
    };
    Ok((sql, params))
}

/// The SQL that turns parameter `$n` (text, in the type's input form) into a value of
/// the column's type.
pub fn cast(column: &Column, n: usize) -> String {
    format!("${n}::text::{}", column.sql_type)
}

pub fn params(values: &[String]) -> Vec<&(dyn ToSql + Sync)> {
    values.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

/// Why PostgreSQL refused a row, naming the constraint.
pub fn refusal(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(d) => match d.constraint() {
            Some(c) if !d.message().contains(c) => format!("{} (constraint {c})", d.message()),
            Some(_) => d.message().to_string(),
            None => d.message().to_string(),
        },
        None => e.to_string(),
    }
}

/// The tenant key of a tenant with no tenant table to insert: made up by type.
fn made_up_key(facts: &Facts, tenancy: &Tenancy, tenant: usize) -> Option<String> {
    tenancy.tables.iter().find_map(|t| {
        let Kind::Keyed { key } = &t.kind else {
            return None;
        };
        let r = facts.relation(t.oid)?;
        let c = r.columns.iter().find(|c| &c.name == key)?;
        let gen = crate::rows::column::choose(c, None, None, false, false).ok()?;
        let mut rng =
            <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(tenant as u64 + 1);
        let anchor = crate::rows::generate::anchor_of(chrono::Utc::now().date_naive());
        let org = crate::rows::column::OrgInfo {
            name: String::new(),
            slug: String::new(),
            domain: "example.com".into(),
            created_at: anchor,
            city: 0,
        };
        gen.value(&mut crate::rows::column::Ctx {
            rng: &mut rng,
            window: crate::rows::column::Window {
                anchor,
                past_days: 30,
                future_days: 30,
            },
            org: &org,
            row: tenant + 1,
            cover: false,
            person: ("Ada", "Lovelace"),
        })
        .to_text()
    })
}

/// A row of `r` that no tenant's fixture inserted: made by a trigger while this
/// tenant's rows went in (tenants are seeded one after the other), so it is this
/// tenant's.
async fn made_by_trigger(
    client: &Client,
    r: &Relation,
    done: &[SeededOrg],
    org: &SeededOrg,
) -> Option<serde_json::Map<String, Value>> {
    let sql = format!("SELECT to_jsonb(t) FROM {} AS t", r.sql_name);
    let rows = client.query(&sql, &[]).await.ok()?;
    let known = |obj: &serde_json::Map<String, Value>| {
        done.iter()
            .chain(std::iter::once(org))
            .filter_map(|o| o.rows.get(&r.oid))
            .any(|rows| rows.contains(obj))
    };
    // A row of this tenant's: each foreign key to a table the tenant has rows in points
    // at one of them, or nowhere (NULL) — a user's personal account's membership, made
    // by another trigger, is not the team account's.
    let points_at_ours = |obj: &serde_json::Map<String, Value>| {
        r.foreign_keys.iter().all(|fk| {
            let Some(targets) = org.rows.get(&fk.target).filter(|rs| !rs.is_empty()) else {
                return true;
            };
            if fk
                .columns
                .iter()
                .any(|c| obj.get(c).is_none_or(Value::is_null))
            {
                return true;
            }
            targets.iter().any(|t| {
                fk.columns
                    .iter()
                    .zip(&fk.target_columns)
                    .all(|(c, tc)| obj.get(c) == t.get(tc))
            })
        })
    };
    let mut unknown = rows
        .iter()
        .filter_map(|row| row.get::<_, Value>(0).as_object().cloned())
        .filter(|obj| !known(obj) && points_at_ours(obj));
    let adopted = unknown.next()?;
    // Only when exactly one row is unaccounted for is it certainly this tenant's.
    unknown.next().is_none().then_some(adopted)
}

/// The tenants inserted, and the tables that could not be filled (oid, why).
#[derive(Debug, Default)]
pub struct Seeded {
    pub orgs: Vec<SeededOrg>,
    pub unfilled: Vec<(u32, String)>,
}

/// Insert `n` tenants as the connecting (owner) role, committed.
pub async fn seed(client: &Client, facts: &Facts, tenancy: &Tenancy, n: usize) -> Result<Seeded> {
    let tables = tables_to_fill(facts, tenancy);
    let mut orgs = Vec::new();
    let mut unfilled: Vec<(u32, String)> = Vec::new();
    for tenant in 0..n {
        let mut org = SeededOrg {
            id: String::new(),
            member: uuid::Uuid::new_v4().to_string(),
            rows: HashMap::new(),
        };
        if tenancy.tenant_table.is_none() {
            // Without tenant-row tables (per-user ones only) the key names no row.
            org.id = made_up_key(facts, tenancy, tenant)
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        }
        // The rows go in as this tenant's member would make them: a trigger that fills
        // a column from the caller (`NEW.invited_by = auth.uid()`) gets the member, not
        // NULL. The owner still bypasses row-level security.
        set_caller(client, Some(&org.member)).await?;
        for r in &tables {
            if unfilled.iter().any(|(oid, _)| *oid == r.oid) {
                continue;
            }
            if r.schema == "auth" {
                // No caller while the platform's users go in (a trigger on auth.users
                // runs for the new user, as the auth service makes it).
                set_caller(client, None).await?;
            } else {
                set_caller(client, Some(&org.member)).await?;
            }
            for row in 0..rows_for(r, tenancy) {
                let (sql, values) = match insert_for(r, tenancy, &org, tenant, row, None) {
                    Ok(insert) => insert,
                    Err(e) => {
                        unfilled.push((r.oid, e.to_string()));
                        break;
                    }
                };
                match client.query_one(&sql, &params(&values)).await {
                    Ok(inserted) => {
                        let v: Value = inserted.get(0);
                        let obj = v.as_object().cloned().unwrap_or_default();
                        if let Some(t) = tenancy.tenant_table.as_ref().filter(|t| t.oid == r.oid) {
                            org.id = obj.get(&t.key).map(text_of).unwrap_or_default();
                        }
                        org.rows.entry(r.oid).or_default().push(obj);
                    }
                    // Later rows only vary the fixture; a unique key may refuse them.
                    Err(_) if row > 0 => break,
                    // A trigger of this tenant's earlier rows (e.g. a profile made for
                    // each new auth user) already made the row: adopt it.
                    Err(e)
                        if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) =>
                    {
                        let obj = match made_by_trigger(client, r, &orgs, &org).await {
                            Some(obj) => Some(obj),
                            // Else a generated value met another tenant's under a
                            // unique key (two slugs from the same name): other values.
                            None => other_values(client, r, tenancy, &org, tenant).await,
                        };
                        match obj {
                            Some(obj) => {
                                if let Some(t) =
                                    tenancy.tenant_table.as_ref().filter(|t| t.oid == r.oid)
                                {
                                    if org.id.is_empty() {
                                        org.id = obj.get(&t.key).map(text_of).unwrap_or_default();
                                    }
                                }
                                org.rows.entry(r.oid).or_default().push(obj);
                            }
                            None => unfilled.push((r.oid, refusal(&e))),
                        }
                        break;
                    }
                    Err(e) => {
                        unfilled.push((r.oid, refusal(&e)));
                        break;
                    }
                }
            }
        }
        if let Some(m) = &tenancy.membership {
            if let Some(user) = org
                .rows
                .get(&m.oid)
                .and_then(|rs| rs.first())
                .and_then(|row| row.get(&m.user_column))
            {
                org.member = text_of(user);
            }
        }
        orgs.push(org);
    }
    set_caller(client, None).await?;
    Ok(Seeded { orgs, unfilled })
}

/// The first row of `r` for `org` made from other generated values (the generator's
/// row number changes them), when the first try hit a unique key.
async fn other_values(
    client: &Client,
    r: &Relation,
    tenancy: &Tenancy,
    org: &SeededOrg,
    tenant: usize,
) -> Option<Map<String, Value>> {
    for row in [1009, 2003, 3001] {
        let (sql, values) = insert_for(r, tenancy, org, tenant, row, None).ok()?;
        if let Ok(inserted) = client.query_one(&sql, &params(&values)).await {
            return inserted.get::<_, Value>(0).as_object().cloned();
        }
    }
    None
}

/// Make `user` the caller of the session's next statements, as PostgREST does for a
/// request (`request.jwt.claims` with `sub` and `role`); `None` clears it.
async fn set_caller(client: &Client, user: Option<&str>) -> Result<()> {
    let claims = user
        .map(|u| serde_json::json!({"sub": u, "role": "authenticated"}).to_string())
        .unwrap_or_default();
    client
        .execute(
            "SELECT set_config('request.jwt.claims', $1, false)",
            &[&claims],
        )
        .await?;
    Ok(())
}
