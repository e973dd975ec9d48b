//! A starter catalog derived from the schema model (what `dbkit queries init` writes,
//! and what explain, bench and rehearse run in a project without `queries/`). From the
//! tenancy model, per tenant table: the tenant's newest rows by the table's main
//! timestamp, a lookup by primary key, the rows under each parent (a foreign key's
//! children), the overlap check of each exclusion constraint and the join a dashboard
//! makes along the foreign keys — each as the service sends it (explicit tenant filter)
//! and as a tenant's client does (the tenant scope left to RLS). The org pickers
//! (largest, median), the member, the tenant claim and every sampler come from the same
//! model: nothing names a table the schema does not have. Pure: no database.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use anyhow::Result;
use regex::Regex;

use super::catalog::{Catalog, Origin};
use crate::db::ident::quote_if_needed as q;
use crate::error::hinted;
use crate::schema::facts::{Column, Exclusion, Relation};
use crate::schema::tenancy::Kind;
use crate::schema::Model;

/// Rows a list query returns (a page, as a dashboard shows it).
const PAGE: u32 = 50;

/// Audit timestamps: a table's main timestamp is another one when it has one.
const AUDIT_COLUMNS: &[&str] = &[
    "created_at",
    "updated_at",
    "inserted_at",
    "modified_at",
    "deleted_at",
];

/// Columns that name a row for people, in the order a dashboard would pick them.
const LABEL_COLUMNS: &[&str] = &[
    "name",
    "title",
    "label",
    "display_name",
    "full_name",
    "email",
    "first_name",
    "slug",
];

/// One derived query before it is written.
#[derive(Debug, Clone, Default)]
struct Entry {
    name: String,
    summary: String,
    service_sql: String,
    /// The statement as a tenant's client sends it, when it differs.
    tenant_sql: Option<String>,
    params: Vec<DerivedParam>,
    /// Writes (never derived from the schema; from pg_stat_statements).
    dml: bool,
    /// Share of bench's mix (0 is written as 1).
    weight: u32,
}

#[derive(Debug, Clone)]
struct DerivedParam {
    name: String,
    ty: String,
    /// `org`, or a sampler's SQL.
    sample: String,
}

impl DerivedParam {
    fn org(key: &str, ty: &str) -> DerivedParam {
        DerivedParam {
            name: key.to_string(),
            ty: ty.to_string(),
            sample: "org".into(),
        }
    }
}

/// A tenant table as the queries see it.
struct Tenanted<'a> {
    rel: &'a Relation,
    /// The tenant key column.
    key: &'a str,
    /// How SQL names it.
    sql: String,
}

/// What every catalog of a schema shares: its tenant tables, the tenant key's type,
/// the tenant table, the member sampler and the tenant claim.
struct Frame<'a> {
    keyed: Vec<Tenanted<'a>>,
    key_type: String,
    tenant_table: Option<(&'a Relation, &'a str)>,
    member: Option<String>,
    claim: Option<String>,
}

fn frame(model: &Model) -> Result<Frame<'_>> {
    let facts = &model.facts;
    let tenancy = &model.tenancy;
    let mut keyed: Vec<Tenanted> = Vec::new();
    let mut tenant_table: Option<(&Relation, &str)> = None;
    for t in &tenancy.tables {
        let Some(rel) = facts.relation(t.oid) else {
            continue;
        };
        match &t.kind {
            Kind::Keyed { key } => keyed.push(Tenanted {
                rel,
                key,
                sql: table_sql(rel),
            }),
            Kind::Tenant { key } => tenant_table = Some((rel, key)),
            _ => {}
        }
    }
    let Some(key_type) = keyed
        .iter()
        .find_map(|t| column(t.rel, t.key).map(|c| c.base_type.clone()))
    else {
        return Err(hinted(
            "no tenant table found to derive queries from: no table carries a tenant key",
            "name the tenant key in dbkit.yaml (tenancy: { key: org_id }), or write queries/catalog.yaml by hand",
        ));
    };
    let member = tenancy.membership.as_ref().and_then(|m| {
        let rel = facts.relations.iter().find(|r| r.oid == m.oid)?;
        Some(format!(
            "SELECT {user} FROM {table} WHERE {key} = $1 ORDER BY {user} LIMIT 1",
            user = q(&m.user_column),
            table = table_sql(rel),
            key = q(&m.key)
        ))
    });
    Ok(Frame {
        keyed,
        key_type,
        tenant_table,
        member,
        claim: tenant_claim(model),
    })
}

/// How a catalog.yaml derived from the schema starts.
const DERIVED_HEADER: &str =
    "# Derived from the schema by `dbkit queries init`: a starting point. Edit the SQL
# files to match what your application sends, delete what it never runs, and add
# the writes it makes (`dml: true`; `commit: true` lets bench commit them).
";

/// How a catalog.yaml from pg_stat_statements starts.
const STATS_HEADER: &str =
    "# Read from pg_stat_statements by `dbkit queries init --from-stats`: the statements
# that took the most time, as the server normalized them, with $1 the tenant (every
# other $n moved up by one). Weights follow the calls. A sampler starting with
# `-- dbkit could not tell` needs writing: until then explain skips its query.
";

/// The catalog files (catalog.yaml first, then one .sql per query) derived from `model`.
pub fn files(model: &Model) -> Result<Vec<(String, String)>> {
    let frame = frame(model)?;
    let facts = &model.facts;
    let mut entries = Vec::new();
    if let Some((rel, key)) = frame.tenant_table {
        if let Some(c) = column(rel, key) {
            entries.push(Entry {
                name: format!("{}_by_{}", file_stem(rel), key),
                summary: format!("the tenant's own row of {}", rel.name),
                service_sql: format!("SELECT *\nFROM {}\nWHERE {} = $1", table_sql(rel), q(key)),
                tenant_sql: None,
                params: vec![DerivedParam::org(key, &c.base_type)],
                ..Entry::default()
            });
        }
    }
    for t in &frame.keyed {
        entries.extend(table_queries(model, t, &frame.key_type));
    }
    for t in &model.tenancy.tables {
        if let Kind::Child {
            via, parent_oid, ..
        } = &t.kind
        {
            if let (Some(child), Some(parent)) = (
                facts.relation(t.oid),
                frame.keyed.iter().find(|k| k.rel.oid == *parent_oid),
            ) {
                entries.extend(child_query(child, via, parent, &frame.key_type));
            }
        }
    }
    dedup_names(&mut entries);
    Ok(render(&frame, &entries, DERIVED_HEADER))
}

/// The catalog files of the statements read from pg_stat_statements.
pub fn stats_files(
    model: &Model,
    queries: &[super::from_stats::StatsQuery],
) -> Result<Vec<(String, String)>> {
    let frame = frame(model)?;
    let entries: Vec<Entry> = queries
        .iter()
        .map(|s| Entry {
            name: s.name.clone(),
            summary: s.summary.clone(),
            service_sql: s.sql.clone(),
            tenant_sql: None,
            params: s
                .params
                .iter()
                .map(|(name, ty, sample)| DerivedParam {
                    name: name.clone(),
                    ty: ty.clone(),
                    sample: sample.clone(),
                })
                .collect(),
            dml: s.dml,
            weight: s.weight,
        })
        .collect();
    Ok(render(&frame, &entries, STATS_HEADER))
}

fn render(frame: &Frame, entries: &[Entry], header: &str) -> Vec<(String, String)> {
    let origin = if header == STATS_HEADER {
        "Read from pg_stat_statements by `dbkit queries init --from-stats`"
    } else {
        "Derived from the schema by `dbkit queries init`"
    };
    let yaml = catalog_yaml(
        header,
        &frame.keyed,
        entries,
        frame.member.as_deref(),
        frame.claim.as_deref(),
    );
    let mut files = vec![("catalog.yaml".to_string(), yaml)];
    for e in entries {
        let how = if e.tenant_sql.is_some() {
            "as the service sends it: explicit tenant filter"
        } else {
            "as the service and a tenant's client send it"
        };
        files.push((
            format!("{}.sql", e.name),
            sql_file(origin, &e.summary, &e.service_sql, how),
        ));
        if let Some(tenant) = &e.tenant_sql {
            files.push((
                format!("{}.tenant.sql", e.name),
                sql_file(
                    origin,
                    &e.summary,
                    tenant,
                    "as a tenant's client sends it: the tenant scope comes from RLS ($1 bound, unused)",
                ),
            ));
        }
    }
    files
}

/// The derived catalog, loaded as a written one would be.
pub fn catalog(model: &Model) -> Result<Catalog> {
    let files = files(model)?;
    Catalog::from_files(
        std::path::Path::new("<derived from the schema>"),
        Origin::Derived,
        &files,
    )
}

/// The queries of one tenant table.
fn table_queries(model: &Model, t: &Tenanted, key_type: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    let rel = t.rel;
    let stem = file_stem(rel);
    let key = q(t.key);
    let org = || DerivedParam::org(t.key, key_type);
    let ts = main_timestamp(rel);
    let order = ts
        .map(|c| format!("\nORDER BY {} DESC", q(&c.name)))
        .unwrap_or_default();
    if let Some(ts) = ts {
        out.push(Entry {
            name: format!("{stem}_newest"),
            summary: format!("the tenant's {PAGE} newest {} by {}", rel.name, ts.name),
            service_sql: format!(
                "SELECT *\nFROM {}\nWHERE {key} = $1{order}\nLIMIT {PAGE}",
                t.sql
            ),
            tenant_sql: Some(format!("SELECT *\nFROM {}{order}\nLIMIT {PAGE}", t.sql)),
            params: vec![org()],
            ..Entry::default()
        });
    }
    let pk: Vec<&Column> = rel
        .primary_key
        .iter()
        .filter_map(|c| column(rel, c))
        .collect();
    if !pk.is_empty()
        && pk.len() == rel.primary_key.len()
        && !rel.primary_key.contains(&t.key.to_string())
    {
        let mut params = vec![org()];
        let mut conditions = Vec::new();
        for (i, c) in pk.iter().enumerate() {
            let n = i + 2;
            conditions.push(format!("{} = ${n}", q(&c.name)));
            params.push(DerivedParam {
                name: c.name.clone(),
                ty: c.base_type.clone(),
                sample: format!(
                    "SELECT {} FROM {} WHERE {key} = $1 ORDER BY random() LIMIT 1",
                    q(&c.name),
                    t.sql
                ),
            });
        }
        // Every key column of a composite key from the same row.
        for i in 1..params.len().saturating_sub(1) {
            let n = i + 2;
            let earlier: Vec<String> = (0..i)
                .map(|j| format!("{} = ${}", q(&pk[j].name), j + 2))
                .collect();
            params[n - 1].sample = format!(
                "SELECT {} FROM {} WHERE {key} = $1 AND {} LIMIT 1",
                q(&pk[i].name),
                t.sql,
                earlier.join(" AND ")
            );
        }
        let by = rel.primary_key.join("_");
        out.push(Entry {
            name: format!("{stem}_by_{by}"),
            summary: format!("one {} by its primary key", singular(&rel.name)),
            service_sql: format!(
                "SELECT *\nFROM {}\nWHERE {key} = $1\n  AND {}",
                t.sql,
                conditions.join("\n  AND ")
            ),
            tenant_sql: Some(format!(
                "SELECT *\nFROM {}\nWHERE {}",
                t.sql,
                conditions.join("\n  AND ")
            )),
            params,
            ..Entry::default()
        });
    }
    let parents = parent_keys(model, t);
    for (fk_column, parent) in &parents {
        let Some(c) = column(rel, fk_column) else {
            continue;
        };
        let fk = q(fk_column);
        let not_null = if c.not_null {
            String::new()
        } else {
            format!(" AND {fk} IS NOT NULL")
        };
        out.push(Entry {
            name: format!("{stem}_by_{fk_column}"),
            summary: format!(
                "the {PAGE} newest {} of one {} (the busiest)",
                rel.name,
                singular(&parent.name)
            ),
            service_sql: format!(
                "SELECT *\nFROM {}\nWHERE {key} = $1\n  AND {fk} = $2{order}\nLIMIT {PAGE}",
                t.sql
            ),
            tenant_sql: Some(format!(
                "SELECT *\nFROM {}\nWHERE {fk} = $2{order}\nLIMIT {PAGE}",
                t.sql
            )),
            params: vec![
                org(),
                DerivedParam {
                    name: fk_column.clone(),
                    ty: c.base_type.clone(),
                    sample: format!(
                        "SELECT {fk} FROM {} WHERE {key} = $1{not_null}\nGROUP BY {fk} ORDER BY count(*) DESC, {fk} LIMIT 1",
                        t.sql
                    ),
                },
            ],
            ..Entry::default()
        });
    }
    if !parents.is_empty() {
        out.push(dashboard(t, &parents, ts, key_type));
    }
    for x in &rel.exclusions {
        if let Some(e) = overlap_check(t, x, key_type) {
            out.push(e);
        }
    }
    out
}

/// Single-column foreign keys of `t` to another tenant table of the project (not the
/// tenant table itself: that is the tenant key), with the parent's key column.
fn parent_keys<'a>(model: &'a Model, t: &Tenanted) -> Vec<(String, &'a Relation)> {
    let mut seen = BTreeSet::new();
    t.rel
        .foreign_keys
        .iter()
        .filter(|fk| fk.columns.len() == 1 && fk.columns[0] != t.key)
        .filter_map(|fk| {
            let parent = model.facts.relation(fk.target)?;
            let tenanted = model
                .tenancy
                .of(parent.oid)
                .is_some_and(|p| matches!(p.kind, Kind::Keyed { .. }));
            (parent.owned && tenanted && seen.insert(fk.columns[0].clone()))
                .then(|| (fk.columns[0].clone(), parent))
        })
        .collect()
}

/// The page a dashboard shows: the table's newest rows with each parent's label.
fn dashboard(
    t: &Tenanted,
    parents: &[(String, &Relation)],
    ts: Option<&Column>,
    key_type: &str,
) -> Entry {
    let mut select = vec!["t.*".to_string()];
    let mut joins = Vec::new();
    for (i, (fk_column, parent)) in parents.iter().enumerate() {
        let alias = format!("p{}", i + 1);
        let parent_key = t
            .rel
            .foreign_keys
            .iter()
            .find(|fk| fk.columns == [fk_column.clone()])
            .and_then(|fk| fk.target_columns.first().cloned())
            .unwrap_or_else(|| "id".into());
        let label = label_column(parent).unwrap_or_else(|| parent_key.clone());
        select.push(format!(
            "{alias}.{} AS {}",
            q(&label),
            q(&format!("{}_{}", singular(&parent.short), label))
        ));
        let nullable = column(t.rel, fk_column).is_some_and(|c| !c.not_null);
        joins.push(format!(
            "{}JOIN {} {alias} ON {alias}.{} = t.{}",
            if nullable { "LEFT " } else { "" },
            table_sql(parent),
            q(&parent_key),
            q(fk_column)
        ));
    }
    let order = ts
        .map(|c| format!("\nORDER BY t.{} DESC", q(&c.name)))
        .unwrap_or_default();
    let from = format!(
        "SELECT {}\nFROM {} t\n{}",
        select.join(", "),
        t.sql,
        joins.join("\n")
    );
    let names: Vec<&str> = parents.iter().map(|(_, p)| p.name.as_str()).collect();
    Entry {
        name: format!("{}_dashboard", file_stem(t.rel)),
        summary: format!(
            "a dashboard page: {} joined with {}",
            t.rel.name,
            names.join(", ")
        ),
        service_sql: format!("{from}\nWHERE t.{} = $1{order}\nLIMIT {PAGE}", q(t.key)),
        tenant_sql: Some(format!("{from}{order}\nLIMIT {PAGE}")),
        params: vec![DerivedParam::org(t.key, key_type)],
        ..Entry::default()
    }
}

/// The check an application makes before writing a row the exclusion constraint
/// guards: does any row of the same scope overlap? For a time range, at the free time
/// right after the scope's last row — the common case, where the check has to prove
/// there is no conflict.
fn overlap_check(t: &Tenanted, x: &Exclusion, key_type: &str) -> Option<Entry> {
    let rel = t.rel;
    let mut params = vec![DerivedParam::org(t.key, key_type)];
    let mut conditions = Vec::new();
    let mut scope = vec![format!("{} = $1", q(t.key))];
    let mut range: Option<(String, Vec<&Column>)> = None;
    for (expr, op) in &x.elements {
        let bare = expr.trim_matches('"');
        if op == "=" {
            let c = column(rel, bare)?;
            if c.name == t.key {
                continue;
            }
            let n = params.len() + 1;
            params.push(DerivedParam {
                name: c.name.clone(),
                ty: c.base_type.clone(),
                sample: format!(
                    "SELECT {col} FROM {} WHERE {} AND {col} IS NOT NULL\nGROUP BY {col} ORDER BY count(*) DESC, {col} LIMIT 1",
                    t.sql,
                    scope.join(" AND "),
                    col = q(&c.name)
                ),
            });
            conditions.push(format!("{} = ${n}", q(&c.name)));
            scope.push(format!("{} = ${n}", q(&c.name)));
        } else if range.is_none() {
            let columns = columns_in(rel, expr);
            if columns.is_empty() {
                return None;
            }
            range = Some((format!("{expr} {op}"), columns));
        } else {
            return None;
        }
    }
    let (left, columns) = range?;
    let temporal = columns
        .iter()
        .all(|c| matches!(c.base_type.as_str(), "timestamptz" | "timestamp" | "date"));
    let mut right = left
        .rsplit_once(' ')
        .map(|(e, _)| e.to_string())
        .unwrap_or_default();
    let first = params.len() + 1;
    let last = columns.last()?;
    for (i, c) in columns.iter().enumerate() {
        let n = first + i;
        right = replace_column(&right, &c.name, &format!("${n}"));
        let sample = match (temporal, i) {
            (true, 0) => format!(
                "SELECT max({}) FROM {} WHERE {}",
                q(&last.name),
                t.sql,
                scope.join(" AND ")
            ),
            (true, _) if c.base_type == "date" => format!("SELECT ${} + 1", n - 1),
            (true, _) => format!("SELECT ${} + interval '1 hour'", n - 1),
            (false, _) => format!(
                "SELECT max({}) FROM {} WHERE {}",
                q(&c.name),
                t.sql,
                scope.join(" AND ")
            ),
        };
        params.push(DerivedParam {
            name: c.name.clone(),
            ty: c.base_type.clone(),
            sample,
        });
    }
    conditions.push(format!("{left} {right}"));
    if let Some(predicate) = &x.predicate {
        conditions.push(format!("({predicate})"));
    }
    let service = format!(
        "SELECT 1\nFROM {}\nWHERE {} = $1\n  AND {}\nLIMIT 1",
        t.sql,
        q(t.key),
        conditions.join("\n  AND ")
    );
    Some(Entry {
        name: if x.name.starts_with(&file_stem(rel)) {
            format!("{}_check", x.name)
        } else {
            format!("{}_{}_check", file_stem(rel), x.name)
        },
        summary: format!(
            "the overlap check {} guards, at the free time after the last row",
            x.name
        ),
        service_sql: service,
        tenant_sql: None,
        params,
        ..Entry::default()
    })
}

/// A child table's rows under its busiest parent (its tenant comes through the parent).
fn child_query(
    child: &Relation,
    via: &[String],
    parent: &Tenanted,
    key_type: &str,
) -> Option<Entry> {
    let [fk_column] = via else {
        return None;
    };
    let c = column(child, fk_column)?;
    let parent_key = child
        .foreign_keys
        .iter()
        .find(|fk| fk.columns == [fk_column.clone()])?
        .target_columns
        .first()?
        .clone();
    let fk = q(fk_column);
    Some(Entry {
        name: format!("{}_by_{fk_column}", file_stem(child)),
        summary: format!(
            "the {} of one {} (the busiest)",
            child.name,
            singular(&parent.rel.name)
        ),
        service_sql: format!(
            "SELECT *\nFROM {}\nWHERE {fk} = $2\nLIMIT {PAGE}",
            table_sql(child)
        ),
        tenant_sql: None,
        params: vec![
            DerivedParam::org(parent.key, key_type),
            DerivedParam {
                name: fk_column.clone(),
                ty: c.base_type.clone(),
                sample: format!(
                    "SELECT c.{fk} FROM {} c JOIN {} p ON p.{} = c.{fk}\nWHERE p.{} = $1 GROUP BY c.{fk} ORDER BY count(*) DESC, c.{fk} LIMIT 1",
                    table_sql(child),
                    parent.sql,
                    q(&parent_key),
                    q(parent.key)
                ),
            },
        ],
        ..Entry::default()
    })
}

/// The table's main timestamp: the first timestamp or date column that is not an
/// audit column (`created_at`, …), else the audit one listed first (creation before
/// update).
fn main_timestamp(rel: &Relation) -> Option<&Column> {
    let temporal =
        |c: &&Column| matches!(c.base_type.as_str(), "timestamptz" | "timestamp" | "date");
    rel.columns
        .iter()
        .filter(temporal)
        .find(|c| !AUDIT_COLUMNS.contains(&c.name.as_str()))
        .or_else(|| {
            AUDIT_COLUMNS
                .iter()
                .find_map(|a| rel.columns.iter().filter(temporal).find(|c| c.name == *a))
        })
}

fn label_column(rel: &Relation) -> Option<String> {
    LABEL_COLUMNS
        .iter()
        .find(|l| rel.columns.iter().any(|c| c.name == **l))
        .map(|l| l.to_string())
        .or_else(|| {
            rel.columns
                .iter()
                .find(|c| matches!(c.base_type.as_str(), "text" | "varchar" | "citext"))
                .map(|c| c.name.clone())
        })
}

fn column<'a>(rel: &'a Relation, name: &str) -> Option<&'a Column> {
    rel.columns.iter().find(|c| c.name == name)
}

/// The columns of `rel` an expression names, in the order they appear.
fn columns_in<'a>(rel: &'a Relation, expr: &str) -> Vec<&'a Column> {
    let words = Regex::new(r#""?([A-Za-z_][A-Za-z0-9_]*)"?"#).expect("valid regex");
    let mut out: Vec<&Column> = Vec::new();
    for w in words.captures_iter(expr) {
        if let Some(c) = column(rel, &w[1]) {
            if !out.iter().any(|o| o.name == c.name) {
                out.push(c);
            }
        }
    }
    out
}

/// `expr` with the column `name` (bare or quoted, as a whole word) replaced.
fn replace_column(expr: &str, name: &str, with: &str) -> String {
    let pattern = format!(
        r#"(^|[^A-Za-z0-9_."]){}($|[^A-Za-z0-9_(])"#,
        regex::escape(&q(name))
    );
    let re = Regex::new(&pattern).expect("valid regex");
    re.replace_all(expr, |c: &regex::Captures| {
        format!("{}{with}{}", &c[1], &c[2])
    })
    .into_owned()
}

/// How SQL names a table: bare in `public`, schema-qualified elsewhere.
fn table_sql(rel: &Relation) -> String {
    if rel.schema == "public" {
        q(&rel.short)
    } else {
        format!("{}.{}", q(&rel.schema), q(&rel.short))
    }
}

/// A table's name as a file and query name: `app.items` → `app_items`.
fn file_stem(rel: &Relation) -> String {
    rel.name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

fn singular(name: &str) -> String {
    let short = name.rsplit('.').next().unwrap_or(name);
    if let Some(stem) = short.strip_suffix("ies") {
        format!("{stem}y")
    } else if short.ends_with("ss") {
        short.to_string()
    } else {
        short.strip_suffix('s').unwrap_or(short).to_string()
    }
}

fn dedup_names(entries: &mut [Entry]) {
    let mut seen = BTreeSet::new();
    for e in entries.iter_mut() {
        let mut name = e.name.clone();
        let mut n = 2;
        while !seen.insert(name.clone()) {
            name = format!("{}_{n}", e.name);
            n += 1;
        }
        e.name = name;
    }
}

/// The JWT claim naming the tenant, as the policies read it: `org_id`, or
/// `app_metadata.org_id` when they read it under `app_metadata`.
fn tenant_claim(model: &Model) -> Option<String> {
    let claim = model.tenancy.claims().first()?.to_string();
    let nested = Regex::new(&format!(
        r"->\s*'([A-Za-z_][A-Za-z0-9_]*)'(?:::text)?\s*\)?\s*->>\s*'{}'",
        regex::escape(&claim)
    ))
    .expect("valid regex");
    let outer = model
        .facts
        .policies
        .iter()
        .flat_map(|p| p.using.iter().chain(p.with_check.iter()))
        .find_map(|text| nested.captures(text).map(|c| c[1].to_string()));
    Some(match outer {
        Some(outer) => format!("{outer}.{claim}"),
        None => claim,
    })
}

/// The rows of every tenant table, as (tenant key) — what the org pickers count.
fn tenant_rows(keyed: &[Tenanted]) -> String {
    keyed
        .iter()
        .map(|t| format!("SELECT {} AS tenant FROM {}", q(t.key), t.sql))
        .collect::<Vec<_>>()
        .join("\n      UNION ALL ")
}

fn catalog_yaml(
    header: &str,
    keyed: &[Tenanted],
    entries: &[Entry],
    member: Option<&str>,
    claim: Option<&str>,
) -> String {
    let rows = tenant_rows(keyed);
    let mut y = String::from(header);
    y.push_str(
        "#\n\
         # orgs:         how to pick the tenants every query runs for: the largest and a\n\
         #               median one, by rows across the tenant tables (skew changes plans).\n\
         # tenants:      every tenant with its weight, for bench's traffic.\n\
         # member:       a real member of the tenant ($1): the `sub` of the tenant's JWT.\n\
         # tenant_claim: the JWT claim that carries the tenant (a dot nests).\n\
         # queries:      one SQL file per query, with $1.. bound parameters; $1 is the\n\
         #               tenant. Each param has a type and a `sample`: `org`, or SQL over\n\
         #               the seeded data, run with $1.. bound to the params before it.\n\
         #               `tenant_file` is the query as a tenant's client sends it (the\n\
         #               tenant scope from RLS). `weight` is its share of bench's mix.\n",
    );
    let _ = writeln!(y, "orgs:\n  largest: |-");
    let _ = writeln!(
        y,
        "    SELECT tenant FROM (\n      {rows}\n    ) AS rows\n    GROUP BY tenant ORDER BY count(*) DESC, tenant LIMIT 1"
    );
    let _ = writeln!(y, "  median: |-");
    let _ = writeln!(
        y,
        "    WITH t AS (\n      SELECT tenant, count(*) AS n FROM (\n      {rows}\n      ) AS rows GROUP BY tenant\n    )\n    SELECT tenant FROM t ORDER BY n, tenant OFFSET (SELECT count(*) / 2 FROM t) LIMIT 1"
    );
    let _ = writeln!(
        y,
        "tenants: |-\n  SELECT tenant AS id, count(*) AS weight FROM (\n    {}\n  ) AS rows\n  GROUP BY tenant ORDER BY 2 DESC, 1",
        rows.replace("\n      ", "\n    ")
    );
    match member {
        Some(m) => {
            let _ = writeln!(y, "member: {}", yaml_string(m));
        }
        None => y.push_str("# member: no membership table found: tenant runs carry no `sub`\n"),
    }
    match claim {
        Some(c) => {
            let _ = writeln!(y, "tenant_claim: {}", yaml_string(c));
        }
        None => y.push_str("tenant_claim: null  # no policy reads the tenant from a JWT claim\n"),
    }
    y.push_str("\nqueries:\n");
    for e in entries {
        let _ = writeln!(y, "  - name: {}", e.name);
        let _ = writeln!(y, "    file: {}.sql", e.name);
        if e.tenant_sql.is_some() {
            let _ = writeln!(y, "    tenant_file: {}.tenant.sql", e.name);
        }
        let _ = writeln!(y, "    summary: {}", yaml_string(&e.summary));
        if e.dml {
            y.push_str("    dml: true\n");
        }
        let _ = writeln!(y, "    weight: {}", e.weight.max(1));
        y.push_str("    params:\n");
        for p in &e.params {
            let _ = writeln!(y, "      - name: {}", yaml_string(&p.name));
            let _ = writeln!(y, "        type: {}", yaml_string(&p.ty));
            if p.sample == "org" {
                y.push_str("        sample: org\n");
            } else {
                y.push_str("        sample: |-\n");
                for line in p.sample.lines() {
                    let _ = writeln!(y, "          {line}");
                }
            }
        }
        y.push('\n');
    }
    y
}

/// A YAML double-quoted string (JSON's escaping is YAML's).
fn yaml_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}

fn sql_file(origin: &str, summary: &str, sql: &str, how: &str) -> String {
    format!("-- {summary}\n-- {origin}, {how}.\n{sql}\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::facts::testing::{policy, references, table};
    use crate::schema::facts::Facts;

    fn timestamp(rel: &mut Relation, name: &str) {
        let n = rel.columns.len() as i16 + 1;
        let mut c = rel.columns[0].clone();
        c.name = name.into();
        c.sql_type = "timestamp with time zone".into();
        c.base_type = "timestamptz".into();
        c.attnum = n;
        rel.columns.push(c);
    }

    /// salons ← staff, customers ← bookings (staff, customer, a time range that must not
    /// overlap per staff member), policies through a membership helper.
    fn salon() -> Model {
        let salons = table(1, "salons", &["id"]);
        let mut staff = table(2, "staff", &["id", "salon_id"]);
        let mut customers = table(3, "customers", &["id", "salon_id"]);
        let mut bookings = table(
            4,
            "bookings",
            &["id", "salon_id", "staff_id", "customer_id"],
        );
        let mut members = table(5, "salon_members", &["salon_id", "user_id"]);
        timestamp(&mut bookings, "created_at");
        timestamp(&mut bookings, "starts_at");
        timestamp(&mut bookings, "ends_at");
        let mut name = staff.columns[0].clone();
        name.name = "name".into();
        name.base_type = "text".into();
        staff.columns.push(name);
        for r in [&mut staff, &mut customers, &mut bookings, &mut members] {
            references(r, "salon_id", 1, "id");
        }
        references(&mut bookings, "staff_id", 2, "id");
        references(&mut bookings, "customer_id", 3, "id");
        bookings.exclusions.push(Exclusion {
            name: "bookings_no_overlap".into(),
            elements: vec![
                ("salon_id".into(), "=".into()),
                ("staff_id".into(), "=".into()),
                ("tstzrange(starts_at, ends_at)".into(), "&&".into()),
            ],
            predicate: Some("status <> 'cancelled'::text".into()),
            definition: String::new(),
        });
        let helper = "is_salon_member(salon_id)";
        let policies = vec![
            policy(&staff, "staff_member", "*", Some(helper), None),
            policy(&customers, "customers_member", "*", Some(helper), None),
            policy(&bookings, "bookings_member", "*", Some(helper), None),
        ];
        // The helper reads the caller: that is what ties salon_id to the tenant.
        let is_salon_member = crate::schema::facts::Function {
            oid: 20,
            name: "is_salon_member".into(),
            short: "is_salon_member".into(),
            sql_name: "public.is_salon_member".into(),
            exposed: false,
            security_definer: true,
            returns_set: false,
            required_args: 1,
            is_trigger: false,
            anon: false,
            authenticated: true,
            body: "select exists (select 1 from public.salon_members m \
                   where m.salon_id = $1 and m.user_id = auth.uid())"
                .into(),
            returns: "boolean".into(),
            args: vec![],
        };
        let facts = Facts {
            relations: vec![salons, staff, customers, bookings, members],
            functions: vec![is_salon_member],
            policies,
            ..Facts::default()
        };
        let tenancy = crate::schema::tenancy::infer(&facts, &Default::default());
        Model { facts, tenancy }
    }

    fn file<'a>(files: &'a [(String, String)], name: &str) -> &'a str {
        &files
            .iter()
            .find(|(n, _)| n == name)
            .unwrap_or_else(|| {
                panic!(
                    "{name} missing from {:?}",
                    files.iter().map(|f| &f.0).collect::<Vec<_>>()
                )
            })
            .1
    }

    #[test]
    fn a_salon_schema_gets_its_own_queries_and_nothing_of_the_booking_service() {
        let model = salon();
        let files = files(&model).unwrap();
        let all: String = files.iter().map(|(_, t)| t.as_str()).collect();
        assert!(!all.contains("appointments"), "{all}");
        let catalog = catalog(&model).unwrap();
        assert!(catalog.problems.is_empty(), "{:?}", catalog.problems);
        let names: Vec<&str> = catalog.queries.iter().map(|q| q.name.as_str()).collect();
        for wanted in [
            "salons_by_id",
            "bookings_newest",
            "bookings_by_id",
            "bookings_by_staff_id",
            "bookings_by_customer_id",
            "bookings_dashboard",
            "bookings_no_overlap_check",
            "staff_by_id",
        ] {
            assert!(names.contains(&wanted), "{wanted} missing from {names:?}");
        }
        assert_eq!(catalog.origin, Origin::Derived);
        assert_eq!(
            catalog.member.as_deref(),
            Some("SELECT user_id FROM salon_members WHERE salon_id = $1 ORDER BY user_id LIMIT 1")
        );
        assert!(catalog.orgs[0].1.contains("UNION ALL"));
    }

    #[test]
    fn newest_rows_by_the_main_timestamp_not_the_audit_one() {
        let files = files(&salon()).unwrap();
        let service = file(&files, "bookings_newest.sql");
        assert!(
            service.contains("WHERE salon_id = $1\nORDER BY starts_at DESC\nLIMIT 50"),
            "{service}"
        );
        let tenant = file(&files, "bookings_newest.tenant.sql");
        assert!(!tenant.contains("salon_id"), "{tenant}");
    }

    #[test]
    fn the_overlap_check_binds_the_range_at_the_free_time_after_the_last_row() {
        let model = salon();
        let catalog = catalog(&model).unwrap();
        let check = catalog
            .queries
            .iter()
            .find(|q| q.name == "bookings_no_overlap_check")
            .unwrap();
        assert!(
            check
                .service_sql
                .contains("tstzrange(starts_at, ends_at) && tstzrange($3, $4)"),
            "{}",
            check.service_sql
        );
        assert!(check.service_sql.contains("(status <> 'cancelled'::text)"));
        let samples: Vec<String> = check
            .params
            .iter()
            .map(|p| format!("{:?}", p.sample))
            .collect();
        assert!(samples[1].contains("GROUP BY staff_id"), "{samples:?}");
        assert!(samples[2].contains("max(ends_at)"), "{samples:?}");
        assert!(samples[3].contains("$3 + interval '1 hour'"), "{samples:?}");
    }

    #[test]
    fn the_dashboard_joins_each_parent_by_its_label() {
        let files = files(&salon()).unwrap();
        let sql = file(&files, "bookings_dashboard.sql");
        assert!(sql.contains("p1.name AS staff_name"), "{sql}");
        assert!(sql.contains("JOIN staff p1 ON p1.id = t.staff_id"), "{sql}");
        assert!(
            sql.contains("JOIN customers p2 ON p2.id = t.customer_id"),
            "{sql}"
        );
    }

    #[test]
    fn a_claim_keyed_schema_names_its_claim_nested_or_not() {
        let mut model = salon();
        for p in &mut model.facts.policies {
            p.using = Some(
                "(salon_id = ((auth.jwt() -> 'app_metadata'::text) ->> 'salon_id'::text)::uuid)"
                    .into(),
            );
        }
        model.tenancy = crate::schema::tenancy::infer(&model.facts, &Default::default());
        assert_eq!(
            tenant_claim(&model).as_deref(),
            Some("app_metadata.salon_id")
        );
        for p in &mut model.facts.policies {
            p.using = Some("(salon_id = ((auth.jwt() ->> 'salon_id'::text))::uuid)".into());
        }
        model.tenancy = crate::schema::tenancy::infer(&model.facts, &Default::default());
        assert_eq!(tenant_claim(&model).as_deref(), Some("salon_id"));
    }

    #[test]
    fn no_tenant_key_is_an_error_that_says_what_to_configure() {
        let facts = Facts {
            relations: vec![table(1, "notes", &["id"])],
            ..Facts::default()
        };
        let tenancy = crate::schema::tenancy::infer(&facts, &Default::default());
        let err = files(&Model { facts, tenancy }).unwrap_err();
        assert!(crate::error::hint(&err).contains("dbkit.yaml"), "{err:#}");
    }

    #[test]
    fn creation_time_before_update_time_when_only_audit_columns_exist() {
        let mut invitations = table(9, "invitations", &["id"]);
        timestamp(&mut invitations, "updated_at");
        timestamp(&mut invitations, "created_at");
        assert_eq!(main_timestamp(&invitations).unwrap().name, "created_at");
        timestamp(&mut invitations, "expires_at");
        assert_eq!(main_timestamp(&invitations).unwrap().name, "expires_at");
    }

    #[test]
    fn replacing_columns_leaves_other_words_alone() {
        assert_eq!(
            replace_column("tstzrange(starts_at, ends_at)", "starts_at", "$3"),
            "tstzrange($3, ends_at)"
        );
        assert_eq!(
            replace_column("f(starts_at_x, t.starts_at)", "starts_at", "$3"),
            "f(starts_at_x, t.starts_at)"
        );
    }
}
