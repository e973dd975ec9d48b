//! The shape of each catalog query as PostgreSQL plans it for any parameter values: its
//! generic plan (`plan_cache_mode = force_generic_plan`, `EXPLAIN (VERBOSE)`), run as
//! the service and as the tenant (whose plan carries the RLS filter), read into what an
//! index could serve per scanned table — equality, range, ORDER BY and join columns,
//! constant predicates, the columns read — and the tables each statement writes. Org-
//! independent by construction: one shape serves every org. The reading is pure; only
//! `generic_plan` touches the database.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use anyhow::{Context, Result};
use tokio_postgres::Client;

use super::predicate::{self, Scanned, Term};
use crate::explain::plan::{Explained, Node};
use crate::explain::rules::Role;
use crate::explain::session::{begin, rollback, sql_for};
use crate::workload::catalog::Query;
use crate::workload::sample::SampledOrg;

/// A table by schema and name, as the plan names it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Table {
    pub schema: String,
    pub name: String,
}

impl Table {
    /// `name`, or `schema.name` outside `public`, quoted where needed.
    pub fn sql(&self) -> String {
        use crate::db::ident::quote_if_needed as q;
        if self.schema == "public" || self.schema.is_empty() {
            q(&self.name).to_string()
        } else {
            format!("{}.{}", q(&self.schema), q(&self.name))
        }
    }
}

impl std::fmt::Display for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.sql())
    }
}

/// One scan of a table in one query's plan, as an index would see it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ScanShape {
    pub query: String,
    pub tenant: bool,
    pub table: Option<Table>,
    /// The scan's alias in the plan (the table's name when it has none).
    pub alias: String,
    /// Compared for equality with a parameter, an outer column or the tenant's claim.
    pub equalities: Vec<String>,
    /// Equated with another relation's column by a join.
    pub joins: Vec<String>,
    pub ranges: Vec<String>,
    /// ORDER BY columns that a Sort above the scan orders by (leading first).
    pub sorts: Vec<String>,
    /// Predicates over constants only: (column, SQL, pins the column to values).
    pub constants: Vec<(String, String, bool)>,
    /// Every column the scan returns or tests.
    pub reads: BTreeSet<String>,
    /// The columns it returns to the node above.
    pub returns: BTreeSet<String>,
}

/// What the catalog's statements read and write, from their generic plans.
#[derive(Debug, Clone, Default)]
pub struct Shapes {
    pub scans: Vec<ScanShape>,
    /// (query, table) for every INSERT / UPDATE / DELETE: where an index costs writes.
    pub writes: Vec<(String, Table)>,
}

/// Name of the prepared statement the generic plans are read from.
const SHAPE_STATEMENT: &str = "dbkit_advice_shape";

/// The generic plan of `query` as `role` (EXPLAIN (VERBOSE), not executed): the plan
/// PostgreSQL would use for any parameter values, parameters shown as `$n`.
pub async fn generic_plan(
    client: &Client,
    query: &Query,
    role: Role,
    org: &SampledOrg,
    timeout: Duration,
) -> Result<Explained> {
    let types: Vec<String> = query
        .params
        .iter()
        .map(|p| p.ty.name().to_string())
        .collect();
    let prepare = if types.is_empty() {
        format!("PREPARE {SHAPE_STATEMENT} AS {}", sql_for(query, role))
    } else {
        format!(
            "PREPARE {SHAPE_STATEMENT} ({}) AS {}",
            types.join(", "),
            sql_for(query, role)
        )
    };
    let nulls = vec!["NULL"; types.len()].join(", ");
    let execute = if types.is_empty() {
        format!("EXPLAIN (VERBOSE, FORMAT JSON) EXECUTE {SHAPE_STATEMENT}")
    } else {
        format!("EXPLAIN (VERBOSE, FORMAT JSON) EXECUTE {SHAPE_STATEMENT} ({nulls})")
    };
    let result = async {
        begin(client, role, org, timeout).await?;
        client
            .batch_execute("SET LOCAL plan_cache_mode = force_generic_plan")
            .await?;
        client.batch_execute(&prepare).await?;
        let row = client.query_one(execute.as_str(), &[]).await?;
        Explained::from_json(&row.try_get::<_, serde_json::Value>(0)?)
    }
    .await;
    rollback(client).await;
    // A prepared statement outlives the transaction.
    let _ = client
        .batch_execute(&format!("DEALLOCATE {SHAPE_STATEMENT}"))
        .await;
    result.with_context(|| format!("reading the generic plan of {} as {role}", query.name))
}

/// Nodes whose Output is their input's, unprojected.
const PASS_THROUGH: &[&str] = &[
    "Hash",
    "Sort",
    "Incremental Sort",
    "Limit",
    "Materialize",
    "Memoize",
    "Gather",
    "Gather Merge",
    "Unique",
    "LockRows",
];

/// The columns of each table (schema, name), for reading unqualified references.
pub type Columns = HashMap<Table, Vec<String>>;

/// The scans and writes of one generic plan. `tenant_key` names a table's tenant key:
/// a tenant's scan of that table is filtered on it by RLS, whatever the policy's form.
pub fn read_plan(
    query: &str,
    tenant: bool,
    plan: &Explained,
    columns: &Columns,
    tenant_key: &dyn Fn(&Table) -> Option<String>,
) -> Shapes {
    let mut shapes = Shapes::default();
    walk(&plan.plan, query, tenant, columns, &mut shapes);
    // What each scan must return: its alias's columns in the outputs of the nodes that
    // compute (joins, aggregates, the root). A scan's own Output, and that of the nodes
    // that pass rows through (Hash, Sort, Limit, …), may be the table's whole row: the
    // planner skips a projection there (a "physical tlist"), so it says nothing of need.
    let mut outputs: Vec<String> = plan.plan.output.clone();
    for node in plan.nodes() {
        if !node.is_scan() && !PASS_THROUGH.contains(&node.node_type.as_str()) {
            outputs.extend(node.output.iter().cloned());
        }
    }
    for scan in shapes.scans.iter_mut() {
        let Some(table) = &scan.table else { continue };
        let cols = columns.get(table).cloned().unwrap_or_default();
        let scanned = Scanned {
            alias: &scan.alias,
            columns: &cols,
        };
        scan.returns = predicate::columns_read(&outputs, &scanned);
        scan.reads.extend(scan.returns.iter().cloned());
    }
    for scan in shapes.scans.iter_mut() {
        let Some(table) = &scan.table else { continue };
        if tenant {
            if let Some(key) = tenant_key(table) {
                if !scan.equalities.contains(&key) {
                    scan.equalities.insert(0, key.clone());
                    scan.reads.insert(key);
                }
            }
        }
    }
    shapes
}

/// Depth first; a join or sort node hands its columns to the scans below it (those
/// pushed since the node was entered).
fn walk(node: &Node, query: &str, tenant: bool, columns: &Columns, shapes: &mut Shapes) {
    let first = shapes.scans.len();
    if node.node_type == "ModifyTable" {
        if let (Some(name), Some(op)) = (&node.relation, &node.operation) {
            if matches!(op.as_str(), "Insert" | "Update" | "Delete") {
                let table = Table {
                    schema: node.schema.clone().unwrap_or_default(),
                    name: name.clone(),
                };
                shapes.writes.push((query.to_string(), table));
            }
        }
    } else if let Some(name) = &node.relation {
        let table = Table {
            schema: node.schema.clone().unwrap_or_default(),
            name: name.clone(),
        };
        let alias = node.alias.clone().unwrap_or_else(|| name.clone());
        let cols = columns.get(&table).cloned().unwrap_or_default();
        shapes
            .scans
            .push(scan_of(node, query, tenant, table, &alias, &cols));
    }
    for child in &node.plans {
        walk(child, query, tenant, columns, shapes);
    }
    // A join's equalities, a sort's keys: for the scans under this node.
    let scans = &mut shapes.scans[first..];
    for cond in [&node.hash_cond, &node.merge_cond, &node.join_filter]
        .into_iter()
        .flatten()
    {
        for (alias, column) in predicate::join_equalities(cond) {
            for scan in scans.iter_mut() {
                if scan.alias == alias && !scan.joins.contains(&column) {
                    scan.joins.push(column.clone());
                    scan.reads.insert(column.clone());
                }
            }
        }
    }
    if node.node_type.ends_with("Sort") {
        for key in &node.sort_key {
            let Some((alias, column)) = predicate::sort_column(key) else {
                // The index order only helps up to the first key it cannot provide.
                break;
            };
            for scan in scans.iter_mut() {
                if scan.alias == alias && !scan.sorts.contains(&column) {
                    scan.sorts.push(column.clone());
                }
            }
        }
    }
}

/// One scan node read into a shape.
fn scan_of(
    node: &Node,
    query: &str,
    tenant: bool,
    table: Table,
    alias: &str,
    columns: &[String],
) -> ScanShape {
    let scanned = Scanned { alias, columns };
    let mut shape = ScanShape {
        query: query.to_string(),
        tenant,
        table: Some(table),
        alias: alias.to_string(),
        ..ScanShape::default()
    };
    let conditions: Vec<&String> = [&node.index_cond, &node.recheck_cond, &node.filter]
        .into_iter()
        .flatten()
        .collect();
    for cond in &conditions {
        for conj in predicate::conjuncts(cond) {
            shape.reads.extend(scanned.columns_in(&conj));
            match predicate::classify(&conj, &scanned) {
                Some(Term::Equality(c)) => push(&mut shape.equalities, c),
                Some(Term::Range(c)) => push(&mut shape.ranges, c),
                Some(Term::Constant { column, sql, fixes })
                    if !shape.constants.iter().any(|(_, s, _)| *s == sql) =>
                {
                    shape.constants.push((column, sql, fixes));
                }
                _ => {}
            }
        }
    }
    shape
}

fn push(list: &mut Vec<String>, column: String) {
    if !list.contains(&column) {
        list.push(column);
    }
}
