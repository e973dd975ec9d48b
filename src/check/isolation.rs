//! The tenant-isolation proof (`tenant-leak`): on a scratch database with the final
//! schema, insert a few small orgs (rows generated from the catalog, so it works for
//! any schema whose tenant tables carry `org_id`), then act as PostgREST would:
//! as an authenticated member of org A, no row of org B may be readable, updatable or
//! deletable, and no INSERT or UPDATE carrying org B's id may be accepted; as `anon`,
//! nothing may be readable. Every write runs inside a savepoint that is rolled back.
//!
//! The same generator is the small fixture the apply phase seeds at `--base`.

use std::collections::HashMap;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::Client;

use super::locate::Locator;

use super::catalog::user_schema;
use super::rule::{Finding, Rule};
use crate::db::ident::quote as quote_ident;

/// A table that takes part: the tenant root (`orgs`) or a table with `org_id`.
#[derive(Debug, Clone)]
struct Table {
    oid: u32,
    /// Quoted, schema-qualified name for SQL.
    sql_name: String,
    /// As reported (schema omitted for `public`).
    name: String,
    /// `org_id`, or the root's key column.
    key: String,
    is_root: bool,
    columns: Vec<Column>,
}

#[derive(Debug, Clone)]
struct Column {
    name: String,
    sql_type: String,
    category: String,
    required: bool,
    /// (table oid, column) this column references, for single-column foreign keys.
    references: Option<(u32, String)>,
    /// First literal of a single-column CHECK (`status IN ('booked', ...)`).
    check_literal: Option<String>,
    attnum: i16,
}

const TENANT_TABLES: &str = concat!(
    "SELECT c.oid, format('%I.%I', n.nspname, c.relname),
            CASE WHEN n.nspname = 'public' THEN c.relname ELSE n.nspname || '.' || c.relname END
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p')
       AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'org_id'
                   AND NOT a.attisdropped)
       AND ",
    user_schema!(),
    " ORDER BY 3"
);

/// The table(s) the org_id foreign keys point at, with the referenced column.
const ROOTS: &str = "
    SELECT DISTINCT con.confrelid, format('%I.%I', n.nspname, c.relname),
           CASE WHEN n.nspname = 'public' THEN c.relname ELSE n.nspname || '.' || c.relname END,
           a.attname::text
    FROM pg_constraint con
    JOIN pg_attribute fa ON fa.attrelid = con.conrelid AND fa.attnum = con.conkey[1]
    JOIN pg_class c ON c.oid = con.confrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = con.confkey[1]
    WHERE con.contype = 'f' AND cardinality(con.conkey) = 1 AND fa.attname = 'org_id'
      AND con.conrelid = ANY($1)";

const COLUMNS: &str = "
    SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), t.typcategory::text,
           a.attnotnull AND NOT a.atthasdef AND a.attidentity = '' AND a.attgenerated = '',
           (SELECT con.confrelid FROM pg_constraint con
             WHERE con.conrelid = a.attrelid AND con.contype = 'f' AND con.conkey = ARRAY[a.attnum] LIMIT 1),
           (SELECT fa.attname::text FROM pg_constraint con
             JOIN pg_attribute fa ON fa.attrelid = con.confrelid AND fa.attnum = con.confkey[1]
             WHERE con.conrelid = a.attrelid AND con.contype = 'f' AND con.conkey = ARRAY[a.attnum] LIMIT 1),
           (SELECT substring(pg_get_constraintdef(con.oid) FROM '''([^'']*)''') FROM pg_constraint con
             WHERE con.conrelid = a.attrelid AND con.contype = 'c' AND con.conkey = ARRAY[a.attnum] LIMIT 1),
           a.attnum
    FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
    WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped
    ORDER BY a.attnum";

async fn tables(client: &Client) -> Result<Vec<Table>> {
    let mut out = Vec::new();
    for r in client.query(TENANT_TABLES, &[]).await? {
        out.push(Table {
            oid: r.get(0),
            sql_name: r.get(1),
            name: r.get(2),
            key: "org_id".into(),
            is_root: false,
            columns: vec![],
        });
    }
    let oids: Vec<u32> = out.iter().map(|t| t.oid).collect();
    for r in client.query(ROOTS, &[&oids]).await? {
        let oid: u32 = r.get(0);
        if out.iter().any(|t| t.oid == oid) {
            continue;
        }
        out.push(Table {
            oid,
            sql_name: r.get(1),
            name: r.get(2),
            key: r.get(3),
            is_root: true,
            columns: vec![],
        });
    }
    for t in &mut out {
        t.columns = client
            .query(COLUMNS, &[&t.oid])
            .await?
            .iter()
            .map(|r| Column {
                name: r.get(0),
                sql_type: r.get(1),
                category: r.get(2),
                required: r.get(3),
                references: r
                    .get::<_, Option<u32>>(4)
                    .zip(r.get::<_, Option<String>>(5)),
                check_literal: r.get(6),
                attnum: r.get(7),
            })
            .collect();
    }
    Ok(order_by_references(out))
}

/// Referenced tables first, so every foreign key has a row to point at.
fn order_by_references(mut tables: Vec<Table>) -> Vec<Table> {
    let mut ordered: Vec<Table> = Vec::new();
    while !tables.is_empty() {
        let ready = tables.iter().position(|t| {
            t.columns
                .iter()
                .filter_map(|c| c.references.as_ref())
                .all(|(oid, _)| {
                    *oid == t.oid
                        || ordered.iter().any(|o| o.oid == *oid)
                        || !tables.iter().any(|x| x.oid == *oid)
                })
        });
        // A reference cycle: take the rest in name order and let inserts fail loudly.
        let i = ready.unwrap_or(0);
        ordered.push(tables.remove(i));
    }
    ordered
}

/// The rows inserted for one org: table oid -> the row as JSON (column -> value).
type OrgRows = HashMap<u32, serde_json::Map<String, Value>>;

/// An INSERT for `table` on behalf of the org whose rows so far are `rows`: required
/// columns get values from the org (org_id, foreign keys) or made up by type.
fn insert_for(
    table: &Table,
    org_id: Option<&str>,
    rows: &OrgRows,
    tag: &str,
) -> Result<(String, Vec<String>)> {
    let mut cols = Vec::new();
    let mut exprs = Vec::new();
    let mut values: Vec<String> = Vec::new();
    for c in &table.columns {
        let referenced = c
            .references
            .as_ref()
            .and_then(|(oid, col)| rows.get(oid).and_then(|row| row.get(col)))
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
        let value = if !table.is_root && c.name == table.key {
            org_id.map(str::to_string)
        } else if let Some(v) = referenced {
            Some(v)
        } else if !c.required {
            None
        } else if let Some(lit) = &c.check_literal {
            Some(lit.clone())
        } else {
            Some(match c.category.as_str() {
                "U" if c.sql_type == "uuid" => uuid::Uuid::new_v4().to_string(),
                "S" => format!(
                    "dbkit-proof-{tag}-{}",
                    &uuid::Uuid::new_v4().simple().to_string()[..8]
                ),
                "N" => "1".into(),
                "B" => "true".into(),
                "A" => "{}".into(),
                // Increasing with the column's position: `ends_at > scheduled_at` holds.
                "D" => format!("2030-01-07 {:02}:00:00+00", (c.attnum as i32 % 20) + 1),
                _ => bail!(
                    "cannot make up a value for {}.{} ({})",
                    table.name,
                    c.name,
                    c.sql_type
                ),
            })
        };
        let Some(value) = value else { continue };
        values.push(value);
        cols.push(quote_ident(&c.name));
        let n = values.len();
        exprs.push(if c.category == "D" {
            format!("(${n}::text::timestamptz)::{}", c.sql_type)
        } else {
            format!("${n}::text::{}", c.sql_type)
        });
    }
    let sql = if cols.is_empty() {
        format!(
            "INSERT INTO {} DEFAULT VALUES RETURNING to_jsonb(t)",
            table.sql_name
        )
    } else {
        format!(
            "INSERT INTO {} AS t ({}) VALUES ({}) RETURNING to_jsonb(t)",
            table.sql_name,
            cols.join(", "),
            exprs.join(", ")
        )
    };
    let sql = sql.replacen(
        &format!("INSERT INTO {} DEFAULT", table.sql_name),
        &format!("INSERT INTO {} AS t DEFAULT", table.sql_name),
        1,
    );
    Ok((sql, values))
}

fn params(values: &[String]) -> Vec<&(dyn ToSql + Sync)> {
    values.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

/// One seeded org: its id and the row inserted into each table.
#[derive(Debug, Clone)]
pub struct SeededOrg {
    pub id: String,
    pub member: String,
    rows: OrgRows,
}

/// Insert `n` small orgs (one row per table each) as the connecting (owner) role.
pub async fn seed_orgs(client: &Client, n: usize) -> Result<Vec<SeededOrg>> {
    let tables = tables(client).await?;
    seed_with(client, &tables, n).await
}

async fn seed_with(client: &Client, tables: &[Table], n: usize) -> Result<Vec<SeededOrg>> {
    if !tables.iter().any(|t| t.is_root) {
        bail!("no table is referenced by an org_id foreign key (the orgs table)");
    }
    let mut orgs = Vec::new();
    for i in 0..n {
        let mut rows = OrgRows::new();
        let mut org_id: Option<String> = None;
        for t in tables.iter().filter(|t| t.is_root) {
            let (sql, values) = insert_for(t, None, &rows, &format!("org{i}"))?;
            let row = client
                .query_one(&sql, &params(&values))
                .await
                .with_context(|| format!("inserting a proof org into {}", t.name))?;
            let v: Value = row.get(0);
            let obj = v.as_object().cloned().unwrap_or_default();
            org_id = obj.get(&t.key).and_then(|v| v.as_str()).map(str::to_string);
            rows.insert(t.oid, obj);
        }
        let org_id = org_id.context("the org row has no key")?;
        for t in tables.iter().filter(|t| !t.is_root) {
            let (sql, values) = insert_for(t, Some(&org_id), &rows, &format!("org{i}"))?;
            let row = client
                .query_one(&sql, &params(&values))
                .await
                .with_context(|| format!("inserting a proof row into {}", t.name))?;
            let v: Value = row.get(0);
            rows.insert(t.oid, v.as_object().cloned().unwrap_or_default());
        }
        let member = tables
            .iter()
            .find(|t| t.name == "members")
            .and_then(|t| rows.get(&t.oid))
            .and_then(|r| r.get("user_id"))
            .and_then(|v| v.as_str())
            .map(str::to_string)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
        orgs.push(SeededOrg {
            id: org_id,
            member,
            rows,
        });
    }
    Ok(orgs)
}

/// What one attempted operation did.
enum Attempt {
    /// Rows affected or read.
    Rows(u64),
    /// Rejected by RLS or privileges (SQLSTATE 42501).
    Denied,
    /// Failed for another reason: the proof cannot tell.
    Other(String),
}

async fn attempt(
    tx: &tokio_postgres::Transaction<'_>,
    sql: &str,
    values: &[String],
    read: bool,
) -> Result<Attempt> {
    tx.batch_execute("SAVEPOINT dbkit_proof").await?;
    let result = if read {
        tx.query_one(sql, &params(values))
            .await
            .map(|r| r.get::<_, i64>(0) as u64)
    } else {
        tx.execute(sql, &params(values)).await
    };
    tx.batch_execute("ROLLBACK TO SAVEPOINT dbkit_proof")
        .await?;
    Ok(match result {
        Ok(n) => Attempt::Rows(n),
        Err(e) if e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) => Attempt::Denied,
        Err(e) => Attempt::Other(
            e.as_db_error()
                .map(|d| d.message().to_string())
                .unwrap_or_else(|| e.to_string()),
        ),
    })
}

/// Policies that let `role` run `cmd` on the table, for naming in a leak.
const PERMITTING: &str = "
    SELECT c.relrowsecurity,
           ARRAY(SELECT p.polname::text FROM pg_policy p
                 WHERE p.polrelid = c.oid AND p.polpermissive
                   AND (p.polcmd = '*' OR p.polcmd = $2::text::\"char\")
                   AND (0 = ANY(p.polroles) OR (SELECT oid FROM pg_roles WHERE rolname = $3) = ANY(p.polroles))
                 ORDER BY 1)
    FROM pg_class c WHERE c.oid = $1";

/// The cause in words, and the locator keys of the statement to blame.
async fn blame(
    client: &Client,
    table: &Table,
    cmd: &str,
    role: &str,
) -> Result<(String, Vec<String>)> {
    let row = client
        .query_one(PERMITTING, &[&table.oid, &cmd, &role])
        .await?;
    let rls: bool = row.get(0);
    let names: Vec<String> = row.get(1);
    let short = table.name.rsplit('.').next().unwrap_or(&table.name);
    let mut keys: Vec<String> = names
        .iter()
        .map(|p| format!("policy:{short}.{p}"))
        .collect();
    keys.push(format!("rls:{short}"));
    keys.push(format!("table:{short}"));
    let cause = if !rls {
        "row-level security is off on the table".to_string()
    } else if names.is_empty() {
        "no permissive policy names this command (check privileges and restrictive policies)"
            .to_string()
    } else {
        format!("policy {}", names.join(", "))
    };
    Ok((cause, keys))
}

/// A proof step that showed a leak, before the policy is named.
struct Leak {
    table: usize,
    cmd: &'static str,
    role: &'static str,
    what: String,
}

/// Run the proof on the database `client` is connected to (a scratch database: it
/// commits two orgs' rows). Returns `tenant-leak` and `isolation-inconclusive` findings.
pub async fn prove(client: &mut Client, locator: &Locator) -> Result<Vec<Finding>> {
    let tables = tables(client).await?;
    if tables.iter().all(|t| t.is_root) {
        return Ok(vec![]);
    }
    let orgs = match seed_with(client, &tables, 2).await {
        Ok(orgs) => orgs,
        Err(e) => {
            return Ok(vec![Finding::new(
                Rule::IsolationInconclusive,
                format!(
                    "could not insert the proof's orgs: {}",
                    crate::error::one_line(&e)
                ),
            )])
        }
    };
    let (a, b) = (&orgs[0], &orgs[1]);
    let mut leaks: Vec<Leak> = Vec::new();
    let mut findings: Vec<Finding> = Vec::new();

    // As an authenticated member of org A.
    let claims = json!({"sub": a.member, "role": "authenticated", "org_id": a.id}).to_string();
    let tx = client.transaction().await?;
    if let Err(e) = tx.batch_execute("SET LOCAL ROLE authenticated").await {
        return Ok(vec![Finding::new(
            Rule::IsolationInconclusive,
            format!(
                "cannot SET ROLE authenticated: {}",
                e.as_db_error()
                    .map_or(e.to_string(), |d| d.message().to_string())
            ),
        )]);
    }
    tx.query(
        "SELECT set_config('request.jwt.claims', $1, true)",
        &[&claims],
    )
    .await?;
    for (i, t) in tables.iter().enumerate() {
        let key = quote_ident(&t.key);
        let name = &t.sql_name;
        let b_id = vec![b.id.clone()];
        let mut steps: Vec<(&'static str, String, Vec<String>, bool, String)> = vec![
            (
                "r",
                format!("SELECT count(*) FROM {name} WHERE {key}::text = $1"),
                b_id.clone(),
                true,
                "SELECT read {n} row(s) of org B".to_string(),
            ),
            (
                "w",
                format!("UPDATE {name} SET {key} = {key} WHERE {key}::text = $1"),
                b_id.clone(),
                false,
                "UPDATE changed {n} row(s) of org B".to_string(),
            ),
            (
                "d",
                format!("DELETE FROM {name} WHERE {key}::text = $1"),
                b_id.clone(),
                false,
                "DELETE removed {n} row(s) of org B".to_string(),
            ),
        ];
        if !t.is_root {
            steps.push((
                "w",
                format!("UPDATE {name} SET {key} = $1::text::uuid WHERE {key}::text = $2"),
                vec![b.id.clone(), a.id.clone()],
                false,
                "UPDATE moved {n} row(s) of org A to org B's org_id".to_string(),
            ));
            steps.push((
                "w",
                format!("UPDATE {name} SET {key} = $1::text::uuid WHERE {key}::text = $2"),
                vec![a.id.clone(), b.id.clone()],
                false,
                "UPDATE took over {n} row(s) of org B into org A".to_string(),
            ));
            // An INSERT carrying org B's id, pointing at org B's rows.
            match insert_for(t, Some(&b.id), &b.rows, "leak") {
                Ok((sql, values)) => steps.push((
                    "a",
                    sql.replace(" RETURNING to_jsonb(t)", ""),
                    values,
                    false,
                    "INSERT of a row with org B's org_id was accepted".into(),
                )),
                Err(e) => findings.push(
                    Finding::new(
                        Rule::IsolationInconclusive,
                        format!("{}: INSERT not tried: {e}", t.name),
                    )
                    .object(t.name.clone()),
                ),
            }
        } else {
            match insert_for(t, None, &OrgRows::new(), "leak") {
                Ok((sql, values)) => steps.push((
                    "a",
                    sql.replace(" RETURNING to_jsonb(t)", ""),
                    values,
                    false,
                    "INSERT of another org was accepted".into(),
                )),
                Err(e) => findings.push(
                    Finding::new(
                        Rule::IsolationInconclusive,
                        format!("{}: INSERT not tried: {e}", t.name),
                    )
                    .object(t.name.clone()),
                ),
            }
        }
        for (cmd, sql, values, read, what) in steps {
            match attempt(&tx, &sql, &values, read).await? {
                Attempt::Rows(0) | Attempt::Denied => {}
                Attempt::Rows(n) => leaks.push(Leak {
                    table: i,
                    cmd,
                    role: "authenticated",
                    what: what.replace("{n}", &n.to_string()),
                }),
                Attempt::Other(message) => findings.push(
                    Finding::new(
                        Rule::IsolationInconclusive,
                        format!("{}: as a member of org A, `{}` failed for another reason than RLS: {message}", t.name, first_word(&sql)),
                    )
                    .object(t.name.clone()),
                ),
            }
        }
    }
    tx.rollback().await?;

    // As anon: nothing readable.
    let tx = client.transaction().await?;
    if tx.batch_execute("SET LOCAL ROLE anon").await.is_ok() {
        tx.query(
            "SELECT set_config('request.jwt.claims', $1, true)",
            &[&json!({"role": "anon"}).to_string()],
        )
        .await?;
        for (i, t) in tables.iter().enumerate() {
            let sql = format!("SELECT count(*) FROM {}", t.sql_name);
            if let Attempt::Rows(n) = attempt(&tx, &sql, &[], true).await? {
                if n > 0 {
                    leaks.push(Leak {
                        table: i,
                        cmd: "r",
                        role: "anon",
                        what: format!("anon SELECT read {n} row(s)"),
                    });
                }
            }
        }
    }
    tx.rollback().await?;

    for leak in leaks {
        let t = &tables[leak.table];
        let (cause, keys) = blame(client, t, leak.cmd, leak.role).await?;
        let op = match leak.cmd {
            "r" => "SELECT",
            "a" => "INSERT",
            "w" => "UPDATE",
            _ => "DELETE",
        };
        let mut finding = Finding::new(
            Rule::TenantLeak,
            format!("{}: {} — {op} allowed by {cause}", t.name, leak.what),
        )
        .object(t.name.clone());
        if let Some((file, line)) = locator.first(&keys) {
            finding = finding.at(file, line);
        }
        findings.push(finding);
    }
    Ok(findings)
}

fn first_word(sql: &str) -> &str {
    sql.split_whitespace().next().unwrap_or("")
}
