//! The plan model: PostgreSQL's `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)` output parsed
//! into typed nodes (serde), plus the walks the rules share. Pure: no I/O.

use serde::{Deserialize, Serialize};

/// One explained statement: the root node and the statement-level figures.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Explained {
    #[serde(rename = "Plan")]
    pub plan: Node,
    #[serde(rename = "Planning Time", default)]
    pub planning_ms: f64,
    #[serde(rename = "Execution Time", default)]
    pub execution_ms: f64,
    #[serde(rename = "Triggers", default)]
    pub triggers: Vec<Trigger>,
}

/// A trigger fired by the statement (foreign-key checks show up here for an INSERT).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct Trigger {
    #[serde(rename = "Trigger Name", default)]
    pub name: String,
    #[serde(rename = "Relation", default)]
    pub relation: Option<String>,
    #[serde(rename = "Time", default)]
    pub time_ms: f64,
    #[serde(rename = "Calls", default)]
    pub calls: f64,
}

/// One plan node. Only the fields dbkit judges are typed; PostgreSQL adds more.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default)]
pub struct Node {
    #[serde(rename = "Node Type")]
    pub node_type: String,
    #[serde(rename = "Operation", skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    #[serde(
        rename = "Parent Relationship",
        skip_serializing_if = "Option::is_none"
    )]
    pub parent_relationship: Option<String>,
    #[serde(rename = "Subplan Name", skip_serializing_if = "Option::is_none")]
    pub subplan_name: Option<String>,
    #[serde(rename = "Relation Name", skip_serializing_if = "Option::is_none")]
    pub relation: Option<String>,
    #[serde(rename = "Schema", skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    #[serde(rename = "Alias", skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
    #[serde(rename = "Index Name", skip_serializing_if = "Option::is_none")]
    pub index_name: Option<String>,
    #[serde(rename = "Startup Cost")]
    pub startup_cost: f64,
    #[serde(rename = "Total Cost")]
    pub total_cost: f64,
    #[serde(rename = "Plan Rows")]
    pub plan_rows: f64,
    #[serde(rename = "Actual Rows")]
    pub actual_rows: f64,
    #[serde(rename = "Actual Loops")]
    pub actual_loops: f64,
    #[serde(rename = "Actual Total Time")]
    pub actual_total_ms: f64,
    #[serde(rename = "Filter", skip_serializing_if = "Option::is_none")]
    pub filter: Option<String>,
    #[serde(rename = "Index Cond", skip_serializing_if = "Option::is_none")]
    pub index_cond: Option<String>,
    #[serde(rename = "Recheck Cond", skip_serializing_if = "Option::is_none")]
    pub recheck_cond: Option<String>,
    #[serde(rename = "Join Filter", skip_serializing_if = "Option::is_none")]
    pub join_filter: Option<String>,
    #[serde(rename = "Hash Cond", skip_serializing_if = "Option::is_none")]
    pub hash_cond: Option<String>,
    #[serde(rename = "Merge Cond", skip_serializing_if = "Option::is_none")]
    pub merge_cond: Option<String>,
    /// The columns and expressions the node returns (`EXPLAIN (VERBOSE)` only).
    #[serde(rename = "Output", skip_serializing_if = "Vec::is_empty")]
    pub output: Vec<String>,
    #[serde(rename = "One-Time Filter", skip_serializing_if = "Option::is_none")]
    pub one_time_filter: Option<String>,
    #[serde(rename = "Rows Removed by Filter")]
    pub rows_removed_by_filter: f64,
    #[serde(rename = "Rows Removed by Join Filter")]
    pub rows_removed_by_join_filter: f64,
    #[serde(rename = "Rows Removed by Index Recheck")]
    pub rows_removed_by_index_recheck: f64,
    #[serde(rename = "Sort Key", skip_serializing_if = "Vec::is_empty")]
    pub sort_key: Vec<String>,
    #[serde(rename = "Sort Method", skip_serializing_if = "Option::is_none")]
    pub sort_method: Option<String>,
    #[serde(rename = "Sort Space Used", skip_serializing_if = "Option::is_none")]
    pub sort_space_kb: Option<f64>,
    #[serde(rename = "Sort Space Type", skip_serializing_if = "Option::is_none")]
    pub sort_space_type: Option<String>,
    #[serde(rename = "Hash Batches", skip_serializing_if = "Option::is_none")]
    pub hash_batches: Option<f64>,
    #[serde(
        rename = "Original Hash Batches",
        skip_serializing_if = "Option::is_none"
    )]
    pub original_hash_batches: Option<f64>,
    #[serde(rename = "Peak Memory Usage", skip_serializing_if = "Option::is_none")]
    pub peak_memory_kb: Option<f64>,
    #[serde(rename = "Shared Hit Blocks")]
    pub shared_hit: f64,
    #[serde(rename = "Shared Read Blocks")]
    pub shared_read: f64,
    #[serde(rename = "Shared Dirtied Blocks")]
    pub shared_dirtied: f64,
    #[serde(rename = "Shared Written Blocks")]
    pub shared_written: f64,
    #[serde(rename = "Temp Read Blocks")]
    pub temp_read: f64,
    #[serde(rename = "Temp Written Blocks")]
    pub temp_written: f64,
    #[serde(rename = "Plans", skip_serializing_if = "Vec::is_empty")]
    pub plans: Vec<Node>,
}

/// Block counts of a statement (the root node's, which include its children's).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Buffers {
    pub shared_hit: u64,
    pub shared_read: u64,
    pub shared_dirtied: u64,
    pub shared_written: u64,
    pub temp_read: u64,
    pub temp_written: u64,
}

impl Buffers {
    /// Pages touched in shared buffers: hit + read. The number dbkit compares.
    pub fn shared(&self) -> u64 {
        self.shared_hit + self.shared_read
    }
}

impl Explained {
    /// Parse the single-row, single-column result of `EXPLAIN (FORMAT JSON)`.
    pub fn from_json(value: &serde_json::Value) -> anyhow::Result<Explained> {
        let first = match value {
            serde_json::Value::Array(items) => items
                .first()
                .ok_or_else(|| anyhow::anyhow!("EXPLAIN returned an empty JSON array"))?,
            other => other,
        };
        Ok(serde_json::from_value(first.clone())?)
    }

    pub fn parse(text: &str) -> anyhow::Result<Explained> {
        let value: serde_json::Value = serde_json::from_str(text)?;
        Self::from_json(&value)
    }

    pub fn buffers(&self) -> Buffers {
        let p = &self.plan;
        Buffers {
            shared_hit: p.shared_hit as u64,
            shared_read: p.shared_read as u64,
            shared_dirtied: p.shared_dirtied as u64,
            shared_written: p.shared_written as u64,
            temp_read: p.temp_read as u64,
            temp_written: p.temp_written as u64,
        }
    }

    /// Every node, depth first, root first.
    pub fn nodes(&self) -> Vec<&Node> {
        let mut out = Vec::new();
        self.plan.walk(&mut out);
        out
    }

    /// Relations read by a sequential scan (each once, in plan order).
    pub fn seq_scans(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for node in self.nodes() {
            if node.is_seq_scan() {
                if let Some(rel) = &node.relation {
                    if !out.contains(rel) {
                        out.push(rel.clone());
                    }
                }
            }
        }
        out
    }
}

impl Node {
    fn walk<'a>(&'a self, out: &mut Vec<&'a Node>) {
        out.push(self);
        for child in &self.plans {
            child.walk(out);
        }
    }

    pub fn is_seq_scan(&self) -> bool {
        self.node_type == "Seq Scan"
    }

    /// A node that reads a relation (seq, index, bitmap heap, tid scans).
    pub fn is_scan(&self) -> bool {
        self.relation.is_some() && self.node_type != "ModifyTable"
    }

    /// Rows the node looked at over all loops: kept + removed by its filters.
    pub fn rows_examined(&self) -> f64 {
        (self.actual_rows + self.rows_removed_by_filter + self.rows_removed_by_join_filter)
            * self.actual_loops.max(1.0)
    }

    /// Rows removed by this node's filters over all loops.
    pub fn rows_removed(&self) -> f64 {
        (self.rows_removed_by_filter + self.rows_removed_by_join_filter)
            * self.actual_loops.max(1.0)
    }

    /// `Seq Scan on appointments` / `Index Scan using x on appointments` / `Hash Join`.
    pub fn label(&self) -> String {
        let mut label = self.node_type.clone();
        if let Some(index) = &self.index_name {
            label.push_str(&format!(" using {index}"));
        }
        if let Some(rel) = &self.relation {
            label.push_str(&format!(" on {rel}"));
            if let Some(alias) = &self.alias {
                if alias != rel {
                    label.push_str(&format!(" {alias}"));
                }
            }
        }
        label
    }

    /// Whether the node ran at all (a branch the executor skipped has loops = 0).
    pub fn executed(&self) -> bool {
        self.actual_loops > 0.0
    }
}

/// A compact text rendering of a plan (for collapsed plans in reports).
pub fn render_tree(explained: &Explained) -> String {
    fn go(node: &Node, depth: usize, out: &mut String) {
        let pad = "  ".repeat(depth);
        let arrow = if depth == 0 { "" } else { "-> " };
        let sub = node
            .subplan_name
            .as_deref()
            .map(|s| format!("[{s}] "))
            .unwrap_or_default();
        out.push_str(&format!(
            "{pad}{arrow}{sub}{}  (cost={:.2} rows={} actual rows={} loops={} time={:.3} ms buffers={})\n",
            node.label(),
            node.total_cost,
            node.plan_rows,
            node.actual_rows,
            node.actual_loops,
            node.actual_total_ms,
            (node.shared_hit + node.shared_read) as u64,
        ));
        for (key, value) in [
            ("Index Cond", &node.index_cond),
            ("Recheck Cond", &node.recheck_cond),
            ("Hash Cond", &node.hash_cond),
            ("Join Filter", &node.join_filter),
            ("Filter", &node.filter),
            ("One-Time Filter", &node.one_time_filter),
        ] {
            if let Some(v) = value {
                out.push_str(&format!("{pad}     {key}: {v}\n"));
            }
        }
        if node.rows_removed_by_filter > 0.0 {
            out.push_str(&format!(
                "{pad}     Rows Removed by Filter: {}\n",
                node.rows_removed_by_filter
            ));
        }
        if let Some(method) = &node.sort_method {
            out.push_str(&format!(
                "{pad}     Sort Method: {method} ({} kB, {})\n",
                node.sort_space_kb.unwrap_or(0.0),
                node.sort_space_type.as_deref().unwrap_or("?")
            ));
        }
        for child in &node.plans {
            go(child, depth + 1, out);
        }
    }
    let mut out = String::new();
    go(&explained.plan, 0, &mut out);
    out.push_str(&format!(
        "Planning {:.3} ms, execution {:.3} ms\n",
        explained.planning_ms, explained.execution_ms
    ));
    out
}
