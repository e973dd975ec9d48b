//! A catalog from live traffic: the top statements of `pg_stat_statements` by total
//! time, as the server normalized them (constants replaced by `$n`), each becoming a
//! catalog query. PostgreSQL itself types every parameter (the statement is prepared,
//! never run); the column a parameter is compared with (`staff_id = $2`, `starts_at >=
//! $3`, `IN ($4, $5)`, `LIMIT $6`) gives its sampler, which draws a real value from the
//! same tenant's rows. The tenant becomes `$1` (every `$n` moves up by one), so the
//! samplers and the tenant runs know whose data they are about.
//!
//! Skipped: dbkit's own statements, the catalog's (`pg_*`, `information_schema`),
//! utility statements, statements on no table of the project, and any that no longer
//! prepare. The database is only read.

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use anyhow::{Context, Result};
use regex::Regex;
use sqlparser::ast::{
    BinaryOperator, Expr, InTarget, Query as SqlQuery, SetExpr, Statement, TableFactor, Value,
    Visit, Visitor,
};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use tokio_postgres::Client;

use crate::db::ident::quote_if_needed as q;
use crate::error::hinted;
use crate::schema::facts::Relation;
use crate::schema::tenancy::Kind;
use crate::schema::Model;

/// Statements read from the view before filtering (the top N are kept after it).
const SCANNED: i64 = 500;

/// One statement as pg_stat_statements has it.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement0 {
    pub query: String,
    pub calls: i64,
    pub total_ms: f64,
    pub mean_ms: f64,
}

/// A statement turned into a catalog query, or why it was skipped.
#[derive(Debug, Clone, PartialEq)]
pub enum Taken {
    Query(StatsQuery),
    Skipped { query: String, why: String },
}

/// A catalog query from live traffic.
#[derive(Debug, Clone, PartialEq)]
pub struct StatsQuery {
    pub name: String,
    pub summary: String,
    /// The statement with `$1` the tenant and every other `$n` moved up by one.
    pub sql: String,
    pub dml: bool,
    pub weight: u32,
    /// (name, type, sample) — `org` or a sampler's SQL.
    pub params: Vec<(String, String, String)>,
    /// Parameters whose column dbkit could not tell: their samplers need writing.
    pub unplaced: Vec<usize>,
}

const READ_STATS: &str = "
SELECT s.query, s.calls, s.total_exec_time, s.mean_exec_time
FROM pg_stat_statements s
WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
  AND s.toplevel
ORDER BY s.total_exec_time DESC
LIMIT $1";

/// The extension, installed in this database and loaded by the server?
const EXTENSION: &str =
    "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'),
        current_setting('shared_preload_libraries') LIKE '%pg_stat_statements%'";

fn not_enabled(why: &str) -> anyhow::Error {
    hinted(
        format!("pg_stat_statements is not available on this database: {why}"),
        "enable it: shared_preload_libraries = 'pg_stat_statements' in postgresql.conf (a restart), then CREATE EXTENSION pg_stat_statements; \
         on Supabase: Database → Extensions → pg_stat_statements. dbkit's local cluster has it on",
    )
}

/// The top statements by total time (read only).
pub async fn read(client: &Client) -> Result<Vec<Statement0>> {
    let row = client
        .query_one(EXTENSION, &[])
        .await
        .context("checking for pg_stat_statements")?;
    let (installed, loaded): (bool, bool) = (row.get(0), row.get(1));
    if !loaded {
        return Err(not_enabled(
            "the server does not load the library (shared_preload_libraries)",
        ));
    }
    if !installed {
        return Err(not_enabled("the extension is not created in this database"));
    }
    let rows = client
        .query(READ_STATS, &[&SCANNED])
        .await
        .map_err(|e| not_enabled(&crate::error::one_line(&e.into())))?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            Some(Statement0 {
                query: r.get::<_, Option<String>>(0)?,
                calls: r.get(1),
                total_ms: r.get(2),
                mean_ms: r.get(3),
            })
        })
        .collect())
}

/// The normalized text as a statement that runs: pg_stat_statements writes a typed
/// literal (`interval '1 day'`) as `interval $2`, which does not parse; it becomes
/// `$2::interval`.
pub fn runnable(sql: &str) -> String {
    static TYPED: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    let typed = TYPED.get_or_init(|| {
        Regex::new(r"(?i)\b(interval|date|time(?:stamp)?(?:tz)?|timestamp with(?:out)? time zone|uuid|numeric|jsonb?|inet)\s+\$(\d+)")
            .expect("valid regex")
    });
    typed.replace_all(sql, "$$$2::$1").into_owned()
}

/// The types PostgreSQL infers for a statement's parameters (prepared, never run);
/// Err with the server's message when it no longer prepares.
pub async fn parameter_types(client: &Client, sql: &str) -> Result<Vec<String>, String> {
    match client.prepare(sql).await {
        Ok(stmt) => Ok(stmt.params().iter().map(|t| t.name().to_string()).collect()),
        Err(e) => Err(crate::error::one_line(&e.into())),
    }
}

/// Why dbkit would not take `sql` from the statistics: not the project's traffic.
pub fn not_traffic(sql: &str) -> Option<&'static str> {
    static CATALOG: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    let catalog = CATALOG.get_or_init(|| {
        Regex::new(r"(?i)\b(pg_[a-z_]+|information_schema|refinery_schema_history|supabase_migrations|hypopg\w*|has_[a-z_]+_privilege)\b")
            .expect("valid regex")
    });
    let text = strip_leading_comments(sql).to_ascii_lowercase();
    let verb = text.split_whitespace().next().unwrap_or_default();
    if !matches!(verb, "select" | "with" | "insert" | "update" | "delete") {
        return Some("not a query (utility or transaction control)");
    }
    if text.contains("dbkit") {
        return Some("dbkit's own");
    }
    if catalog.is_match(sql) {
        return Some("reads PostgreSQL's catalog");
    }
    if text.contains("set_config(") || text.contains("current_setting(") {
        return Some("session set-up");
    }
    None
}

fn strip_leading_comments(sql: &str) -> &str {
    let mut rest = sql.trim_start();
    loop {
        if let Some(after) = rest.strip_prefix("--") {
            rest = after.split_once('\n').map_or("", |(_, r)| r).trim_start();
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.split_once("*/").map_or("", |(_, r)| r).trim_start();
        } else {
            return rest;
        }
    }
}

/// What a parameter is compared with.
#[derive(Debug, Clone, PartialEq)]
enum Place {
    /// `column op $n`, with the table (alias resolved) when qualified or known.
    Column {
        table: Option<String>,
        column: String,
        op: Op,
    },
    Limit,
    Offset,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    /// `>`, `>=`: a lower bound.
    Lower,
    /// `<`, `<=`: an upper bound.
    Upper,
    /// `= ANY($n)`: an array of values.
    Any,
}

/// Where each `$n` of a parsed statement is used, and the tables it reads (alias →
/// table name).
#[derive(Debug, Default)]
struct Usage {
    places: BTreeMap<usize, Place>,
    tables: Vec<(String, String)>,
    /// INSERT target and its column list.
    insert: Option<(String, Vec<String>)>,
}

fn placeholder(e: &Expr) -> Option<usize> {
    match e {
        Expr::Value(v) => match &v.value {
            Value::Placeholder(p) => p.strip_prefix('$')?.parse().ok(),
            _ => None,
        },
        Expr::Cast { expr, .. } | Expr::Nested(expr) => placeholder(expr),
        _ => None,
    }
}

fn column_of(e: &Expr) -> Option<(Option<String>, String)> {
    match e {
        Expr::Identifier(i) => Some((None, i.value.clone())),
        Expr::CompoundIdentifier(parts) if parts.len() >= 2 => Some((
            Some(parts[parts.len() - 2].value.clone()),
            parts[parts.len() - 1].value.clone(),
        )),
        Expr::Cast { expr, .. } | Expr::Nested(expr) => column_of(expr),
        _ => None,
    }
}

impl Visitor for Usage {
    type Break = ();

    fn pre_visit_table_factor(&mut self, t: &TableFactor) -> ControlFlow<()> {
        if let TableFactor::Table { name, alias, .. } = t {
            let table = name
                .0
                .last()
                .map(|p| p.to_string().trim_matches('"').to_string());
            if let Some(table) = table {
                let alias = alias
                    .as_ref()
                    .map(|a| a.name.value.clone())
                    .unwrap_or_else(|| table.clone());
                self.tables.push((alias, table));
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
        let mut place = |n: usize, col: &Expr, op: Op| {
            if let Some((table, column)) = column_of(col) {
                self.places
                    .entry(n)
                    .or_insert(Place::Column { table, column, op });
            }
        };
        match e {
            Expr::BinaryOp { left, op, right } => {
                let flipped = |op: &BinaryOperator| match op {
                    BinaryOperator::Eq => Some((Op::Eq, Op::Eq)),
                    BinaryOperator::Gt | BinaryOperator::GtEq => Some((Op::Lower, Op::Upper)),
                    BinaryOperator::Lt | BinaryOperator::LtEq => Some((Op::Upper, Op::Lower)),
                    BinaryOperator::NotEq => Some((Op::Eq, Op::Eq)),
                    _ => None,
                };
                if let Some((as_written, reversed)) = flipped(op) {
                    if let Some(n) = placeholder(right) {
                        place(n, left, as_written);
                    } else if let Some(n) = placeholder(left) {
                        place(n, right, reversed);
                    }
                }
            }
            Expr::AnyOp { left, right, .. } => {
                if let Some(n) = placeholder(right) {
                    place(n, left, Op::Any);
                }
            }
            Expr::In {
                expr,
                target: InTarget::List(list),
                ..
            } => {
                for item in list {
                    if let Some(n) = placeholder(item) {
                        place(n, expr, Op::Eq);
                    }
                }
            }
            Expr::Between {
                expr, low, high, ..
            } => {
                if let Some(n) = placeholder(low) {
                    place(n, expr, Op::Lower);
                }
                if let Some(n) = placeholder(high) {
                    place(n, expr, Op::Upper);
                }
            }
            Expr::Like { expr, pattern, .. } | Expr::ILike { expr, pattern, .. } => {
                if let Some(n) = placeholder(pattern) {
                    place(n, expr, Op::Eq);
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, query: &SqlQuery) -> ControlFlow<()> {
        if let Some(limit) = &query.limit_clause {
            let text = limit.to_string();
            let re = Regex::new(r"(?i)\b(LIMIT|OFFSET)\s+\$(\d+)").expect("valid regex");
            for c in re.captures_iter(&text) {
                let n: usize = c[2].parse().unwrap_or(0);
                let place = if c[1].eq_ignore_ascii_case("limit") {
                    Place::Limit
                } else {
                    Place::Offset
                };
                self.places.entry(n).or_insert(place);
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_statement(&mut self, s: &Statement) -> ControlFlow<()> {
        if let Statement::Insert(insert) = s {
            let table = insert.table.to_string();
            let table = table
                .rsplit('.')
                .next()
                .unwrap_or(&table)
                .trim_matches('"')
                .to_string();
            let columns: Vec<String> = insert.columns.iter().map(|c| c.to_string()).collect();
            if let Some(SetExpr::Values(values)) = insert.source.as_ref().map(|q| q.body.as_ref()) {
                for row in &values.rows {
                    for (i, v) in row.content.iter().enumerate() {
                        if let (Some(n), Some(column)) = (placeholder(v), columns.get(i)) {
                            self.places.entry(n).or_insert(Place::Column {
                                table: Some(table.clone()),
                                column: column.clone(),
                                op: Op::Eq,
                            });
                        }
                    }
                }
            }
            self.insert = Some((table, columns));
        }
        if let Statement::Update(update) = s {
            let assignments = &update.assignments;
            if let TableFactor::Table { name, .. } = &update.table.relation {
                let table = name.to_string();
                let table = table
                    .rsplit('.')
                    .next()
                    .unwrap_or(&table)
                    .trim_matches('"')
                    .to_string();
                for a in assignments {
                    if let Some(n) = placeholder(&a.value) {
                        self.places.entry(n).or_insert(Place::Column {
                            table: Some(table.clone()),
                            column: a.target.to_string(),
                            op: Op::Eq,
                        });
                    }
                }
            }
        }
        ControlFlow::Continue(())
    }
}

/// Turn one statement into a catalog query: `types` are PostgreSQL's for its `$n`.
pub fn take(model: &Model, s: &Statement0, types: &[String], names: &mut Vec<String>) -> Taken {
    let skip = |why: &str| Taken::Skipped {
        query: one_line(&s.query),
        why: why.to_string(),
    };
    let text = runnable(&s.query);
    let parsed = match Parser::parse_sql(&PostgreSqlDialect {}, &text) {
        Ok(p) if p.len() == 1 => p,
        Ok(_) => return skip("holds several statements"),
        Err(e) => return skip(&format!("sqlparser cannot read it: {e}")),
    };
    let mut usage = Usage::default();
    let _ = parsed.visit(&mut usage);
    let relation = |name: &str| -> Option<&Relation> {
        model
            .facts
            .relations
            .iter()
            .find(|r| r.owned && (r.short == name || r.name == name))
    };
    let tables: Vec<&Relation> = usage
        .tables
        .iter()
        .filter_map(|(_, t)| relation(t))
        .collect();
    let Some(main) = tables.first().copied() else {
        return skip("reads no table of the project");
    };
    let Some((key_type, _)) = tenant_key(model) else {
        return skip("the schema has no tenant key");
    };
    let dml = matches!(
        parsed[0],
        Statement::Insert(_) | Statement::Update { .. } | Statement::Delete(_)
    );
    let mut params = vec![("tenant".to_string(), key_type.clone(), "org".to_string())];
    let mut unplaced = Vec::new();
    for (i, ty) in types.iter().enumerate() {
        let n = i + 1;
        let resolved = usage.places.get(&n).map(|p| resolve(p, &usage, &tables));
        let (name, sample) = match resolved {
            Some(Resolved::Limit) => ("limit".to_string(), "SELECT 50".to_string()),
            Some(Resolved::Offset) => ("offset".to_string(), "SELECT 0".to_string()),
            Some(Resolved::Column { rel, column, op }) => {
                (column.clone(), sampler(model, rel, &column, op, ty))
            }
            None => match guess(ty) {
                Some(value) => (
                    format!("p{n}"),
                    format!(
                        "-- ${} is compared with no column: dbkit guessed a value, edit it\nSELECT {value}",
                        n + 1
                    ),
                ),
                None => {
                    unplaced.push(n + 1);
                    (
                        format!("p{n}"),
                        format!(
                            "-- dbkit could not tell which column ${} is compared with: write its sampler\nSELECT NULL::{ty}",
                            n + 1
                        ),
                    )
                }
            },
        };
        params.push((unique_param(&params, &name), ty.clone(), sample));
    }
    let verb = match parsed[0] {
        Statement::Insert(_) => "insert",
        Statement::Update { .. } => "update",
        Statement::Delete(_) => "delete",
        _ => "select",
    };
    let by: Vec<String> = params
        .iter()
        .enumerate()
        .skip(1)
        .filter(|(i, (n, _, _))| {
            let guessed = n
                .strip_prefix('p')
                .is_some_and(|d| d.parse::<usize>().is_ok());
            n != "limit" && n != "offset" && !guessed && !unplaced.contains(&(i + 1))
        })
        .map(|(_, (n, _, _))| n.clone())
        .take(2)
        .collect();
    let mut name = format!("{verb}_{}", stem(&main.short));
    if !by.is_empty() && verb != "insert" {
        name = format!("{name}_by_{}", by.join("_"));
    }
    let name = unique_name(names, &name);
    Taken::Query(StatsQuery {
        name,
        summary: format!(
            "from pg_stat_statements: {} calls, {:.2} ms mean, {:.0} ms in all",
            s.calls, s.mean_ms, s.total_ms
        ),
        sql: shift_placeholders(&text),
        dml,
        weight: 1,
        params,
        unplaced,
    })
}

/// A value for a parameter compared with no column, by type, where one value is as
/// good as another (an interval, a count); None where only the data can tell.
fn guess(ty: &str) -> Option<&'static str> {
    Some(match ty {
        "interval" => "interval '1 day'",
        "int2" | "int4" | "int8" | "numeric" => "10",
        "bool" => "true",
        "timestamptz" | "timestamp" => "now()",
        "date" => "current_date",
        _ => return None,
    })
}

enum Resolved<'a> {
    Column {
        rel: &'a Relation,
        column: String,
        op: Op,
    },
    Limit,
    Offset,
}

fn resolve<'a>(place: &Place, usage: &Usage, tables: &[&'a Relation]) -> Resolved<'a> {
    match place {
        Place::Limit => Resolved::Limit,
        Place::Offset => Resolved::Offset,
        Place::Column { table, column, op } => {
            let by_alias = table.as_ref().and_then(|alias| {
                let name = usage
                    .tables
                    .iter()
                    .find(|(a, _)| a == alias)
                    .map(|(_, t)| t.as_str())
                    .unwrap_or(alias);
                tables.iter().find(|r| r.short == name).copied()
            });
            let rel = by_alias.or_else(|| {
                tables
                    .iter()
                    .find(|r| r.columns.iter().any(|c| &c.name == column))
                    .copied()
            });
            match rel.filter(|r| r.columns.iter().any(|c| &c.name == column)) {
                Some(rel) => Resolved::Column {
                    rel,
                    column: column.clone(),
                    op: *op,
                },
                // Unknown to the schema: a sampler to write.
                None => Resolved::Column {
                    rel: tables[0],
                    column: String::new(),
                    op: *op,
                },
            }
        }
    }
}

/// The tenant key's type and the tenant table, from the tenancy model.
fn tenant_key(model: &Model) -> Option<(String, Option<&Relation>)> {
    let root = model.tenancy.tenant_table.as_ref();
    if let Some(root) = root {
        return Some((root.key_type.clone(), model.facts.relation(root.oid)));
    }
    model.tenancy.tables.iter().find_map(|t| match &t.kind {
        Kind::Keyed { key } => {
            let rel = model.facts.relation(t.oid)?;
            let c = rel.columns.iter().find(|c| &c.name == key)?;
            Some((c.base_type.clone(), None))
        }
        _ => None,
    })
}

/// A sampler drawing `column` of `rel` from the tenant's rows ($1): a random row for
/// an equality, the median for a lower bound, the 90th percentile for an upper one.
fn sampler(model: &Model, rel: &Relation, column: &str, op: Op, ty: &str) -> String {
    if column.is_empty() {
        return format!("-- dbkit could not find this column in the schema: write its sampler\nSELECT NULL::{ty}");
    }
    let table = if rel.schema == "public" {
        q(&rel.short)
    } else {
        format!("{}.{}", q(&rel.schema), q(&rel.short))
    };
    let col = q(column);
    let scope = match model.tenancy.of(rel.oid).map(|t| &t.kind) {
        Some(Kind::Tenant { key }) | Some(Kind::Keyed { key }) => Some(format!("{} = $1", q(key))),
        _ => None,
    };
    if scope.as_deref() == Some(&format!("{col} = $1")) {
        return "org".into();
    }
    let filter = match &scope {
        Some(s) => format!(" WHERE {s} AND {col} IS NOT NULL"),
        None => format!(" WHERE {col} IS NOT NULL"),
    };
    match op {
        Op::Eq => format!("SELECT {col} FROM {table}{filter}\nORDER BY random() LIMIT 1"),
        Op::Lower => format!(
            "SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY {col}) FROM {table}{filter}"
        ),
        Op::Upper => format!(
            "SELECT percentile_disc(0.9) WITHIN GROUP (ORDER BY {col}) FROM {table}{filter}"
        ),
        Op::Any => format!(
            "SELECT array_agg(v) FROM (SELECT {col} AS v FROM {table}{filter}\nORDER BY random() LIMIT 5) AS sampled"
        ),
    }
}

/// Every `$n` outside string literals and quoted names as `$n+1`: `$1` is the tenant.
pub fn shift_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let chars: Vec<char> = sql.chars().collect();
    let mut i = 0;
    let mut quote: Option<char> = None;
    while i < chars.len() {
        let c = chars[i];
        match quote {
            Some(q) => {
                out.push(c);
                if c == q {
                    quote = None;
                }
                i += 1;
            }
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                out.push(c);
                i += 1;
            }
            None if c == '$' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()) => {
                let mut j = i + 1;
                while j < chars.len() && chars[j].is_ascii_digit() {
                    j += 1;
                }
                let n: usize = chars[i + 1..j]
                    .iter()
                    .collect::<String>()
                    .parse()
                    .unwrap_or(0);
                out.push_str(&format!("${}", n + 1));
                i = j;
            }
            None => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

fn unique_param(params: &[(String, String, String)], name: &str) -> String {
    let mut candidate = name.to_string();
    let mut n = 2;
    while params.iter().any(|(p, _, _)| *p == candidate) {
        candidate = format!("{name}_{n}");
        n += 1;
    }
    candidate
}

fn unique_name(names: &mut Vec<String>, name: &str) -> String {
    let mut candidate = name.to_string();
    let mut n = 2;
    while names.contains(&candidate) {
        candidate = format!("{name}_{n}");
        n += 1;
    }
    names.push(candidate.clone());
    candidate
}

fn stem(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

fn one_line(sql: &str) -> String {
    let flat: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > 120 {
        format!("{}…", flat.chars().take(119).collect::<String>())
    } else {
        flat
    }
}

/// Weights proportional to calls: the least-called query weighs 1 (capped at 1000).
pub fn weigh(queries: &mut [StatsQuery], calls: &[i64]) {
    let least = calls.iter().copied().filter(|c| *c > 0).min().unwrap_or(1);
    for (q, c) in queries.iter_mut().zip(calls) {
        q.weight = ((*c).max(1) / least).clamp(1, 1000) as u32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::facts::testing::{policy, references, table};
    use crate::schema::facts::Facts;

    fn model() -> Model {
        let clinics = table(1, "clinics", &["id"]);
        let mut visits = table(2, "visits", &["id", "clinic_id", "pet_id"]);
        let mut ts = visits.columns[0].clone();
        ts.name = "starts_at".into();
        ts.base_type = "timestamptz".into();
        visits.columns.push(ts);
        references(&mut visits, "clinic_id", 1, "id");
        let p = policy(
            &visits,
            "visits_tenant",
            "*",
            Some("(clinic_id = ((auth.jwt() ->> 'clinic_id'::text))::uuid)"),
            None,
        );
        let facts = Facts {
            relations: vec![clinics, visits],
            policies: vec![p],
            ..Facts::default()
        };
        let tenancy = crate::schema::tenancy::infer(&facts, &Default::default());
        Model { facts, tenancy }
    }

    fn statement(query: &str) -> Statement0 {
        Statement0 {
            query: query.into(),
            calls: 12,
            total_ms: 480.0,
            mean_ms: 40.0,
        }
    }

    #[test]
    fn parameters_get_samplers_from_the_columns_they_are_compared_with() {
        let model = model();
        let mut names = Vec::new();
        let s = statement("SELECT * FROM visits v WHERE v.pet_id = $1 AND starts_at >= $2 ORDER BY starts_at LIMIT $3");
        let types = ["uuid", "timestamptz", "int8"].map(String::from);
        let Taken::Query(q) = take(&model, &s, &types, &mut names) else {
            panic!("skipped")
        };
        assert_eq!(q.name, "select_visits_by_pet_id_starts_at");
        assert_eq!(
            q.sql,
            "SELECT * FROM visits v WHERE v.pet_id = $2 AND starts_at >= $3 ORDER BY starts_at LIMIT $4"
        );
        assert_eq!(q.params[0], ("tenant".into(), "uuid".into(), "org".into()));
        assert_eq!(q.params[1].0, "pet_id");
        assert_eq!(
            q.params[1].2,
            "SELECT pet_id FROM visits WHERE clinic_id = $1 AND pet_id IS NOT NULL\nORDER BY random() LIMIT 1"
        );
        assert!(
            q.params[2].2.contains("percentile_disc(0.5)"),
            "{:?}",
            q.params[2]
        );
        assert_eq!(
            q.params[3],
            ("limit".into(), "int8".into(), "SELECT 50".into())
        );
        assert!(q.unplaced.is_empty());
        assert!(!q.dml);
    }

    #[test]
    fn the_tenant_key_compared_is_the_org_and_unknown_ones_are_left_to_write() {
        let model = model();
        let mut names = vec!["select_visits_by_clinic_id".to_string()];
        let s = statement("SELECT count(*) FROM visits WHERE clinic_id = $1 AND $2 = $2");
        let types = ["uuid", "text"].map(String::from);
        let Taken::Query(q) = take(&model, &s, &types, &mut names) else {
            panic!("skipped")
        };
        assert_eq!(q.params[1].2, "org");
        assert_eq!(q.unplaced, vec![3]);
        assert!(q.params[2].2.contains("SELECT NULL::text"));
        assert_eq!(q.name, "select_visits_by_clinic_id_2");
    }

    #[test]
    fn catalog_utility_and_own_statements_are_not_traffic() {
        assert!(not_traffic("SELECT * FROM pg_stat_statements").is_some());
        assert!(not_traffic("BEGIN").is_some());
        assert!(not_traffic("SET statement_timeout = $1").is_some());
        assert!(not_traffic("SELECT (v)::text FROM (SELECT 1) AS dbkit_sample (v)").is_some());
        assert!(not_traffic("select set_config($1, $2, $3)").is_some());
        assert!(not_traffic("SELECT has_table_privilege($2::text, $1::oid, $3)").is_some());
        assert!(not_traffic("-- hi\nSELECT * FROM visits WHERE id = $1").is_none());
        let model = model();
        let skipped = take(
            &model,
            &statement("SELECT $1::int"),
            &["int4".into()],
            &mut vec![],
        );
        assert!(matches!(skipped, Taken::Skipped { .. }), "{skipped:?}");
    }

    #[test]
    fn typed_literals_become_casts_and_get_a_guessed_value() {
        assert_eq!(
            runnable("WHERE b.starts_at >= now() - interval $2 LIMIT $3"),
            "WHERE b.starts_at >= now() - $2::interval LIMIT $3"
        );
        let model = model();
        let s = statement("SELECT * FROM visits WHERE starts_at >= now() - interval $1");
        let Taken::Query(q) = take(&model, &s, &["interval".into()], &mut vec![]) else {
            panic!()
        };
        assert_eq!(
            q.sql,
            "SELECT * FROM visits WHERE starts_at >= now() - $2::interval"
        );
        assert!(
            q.params[1].2.ends_with("SELECT interval '1 day'"),
            "{:?}",
            q.params
        );
        assert!(q.unplaced.is_empty());
    }

    #[test]
    fn placeholders_move_up_outside_literals() {
        assert_eq!(
            shift_placeholders("a = $1 AND b = '$1' AND c IN ($2, $10)"),
            "a = $2 AND b = '$1' AND c IN ($3, $11)"
        );
    }

    #[test]
    fn weights_follow_calls() {
        let model = model();
        let s = statement("SELECT * FROM visits WHERE pet_id = $1");
        let Taken::Query(q) = take(&model, &s, &["uuid".into()], &mut vec![]) else {
            panic!()
        };
        let mut qs = vec![q.clone(), q];
        weigh(&mut qs, &[10, 250]);
        assert_eq!((qs[0].weight, qs[1].weight), (1, 25));
    }
}
