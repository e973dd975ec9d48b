//! `index-suggestion`: Dexter's method on one plan. From the filter columns of the
//! scans that throw rows away, build single- then two-column candidate indexes
//! (equality columns first), skip any an existing btree index already covers as a
//! prefix, and — once the runner has costed each with a hypopg hypothetical index —
//! suggest the cheapest only when the plan cost (≥ 100) drops by ≥ 50 %. The
//! suggestion is a ready `CREATE INDEX CONCURRENTLY`. Pure: hypopg lives in the runner.

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;

use super::{Evidence, Finding, PlanContext, Rule, Severity};
use crate::db::ident::quote_if_needed as quote_ident;

/// What the runner tells the rule about a table.
#[derive(Debug, Clone, Default)]
pub struct TableInfo {
    pub columns: Vec<String>,
    /// Key columns of each existing (non-partial) btree index, in order.
    pub btree_indexes: Vec<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub relation: String,
    pub columns: Vec<String>,
}

impl Candidate {
    /// The statement handed to `hypopg_create_index`.
    pub fn hypothetical_sql(&self) -> String {
        format!(
            "CREATE INDEX ON {} ({})",
            quote_ident(&self.relation),
            self.key()
        )
    }

    /// What a reviewer can paste into a migration (no-transaction file).
    pub fn ddl(&self) -> String {
        let mut name = format!("{}_{}_idx", self.relation, self.columns.join("_"));
        name.truncate(63);
        format!(
            "CREATE INDEX CONCURRENTLY {} ON {} ({});",
            quote_ident(&name),
            quote_ident(&self.relation),
            self.key()
        )
    }

    /// The index key: the columns, quoted where needed, comma-separated.
    fn key(&self) -> String {
        self.columns
            .iter()
            .map(|c| quote_ident(c))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

static COMPARISON: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:\b[a-z_][a-z0-9_]*\.)?\b([a-z_][a-z0-9_]*)\)? (= ANY|=|<=|>=|<|>) ")
        .expect("valid regex")
});

/// Columns of `columns` compared in `expression`: (equality, range), each once, in order.
pub fn filter_columns(expression: &str, columns: &[String]) -> (Vec<String>, Vec<String>) {
    let (mut eq, mut range): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
    for cap in COMPARISON.captures_iter(expression) {
        let col = cap[1].to_string();
        if !columns.contains(&col) {
            continue;
        }
        let target = if cap[2].starts_with('=') {
            &mut eq
        } else {
            &mut range
        };
        if !target.contains(&col) {
            target.push(col);
        }
    }
    range.retain(|c| !eq.contains(c));
    (eq, range)
}

/// Candidate indexes for the plan, cheapest to try first (single, then two columns).
pub fn candidates(ctx: &PlanContext, tables: &HashMap<String, TableInfo>) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = Vec::new();
    if ctx.plan.plan.total_cost < ctx.thresholds.index_min_cost {
        return out;
    }
    for node in ctx.plan.nodes() {
        let Some(relation) = node.relation.as_deref() else {
            continue;
        };
        let Some(info) = tables.get(relation) else {
            continue;
        };
        // Scans that throw rows away: seq scans with a filter, index scans whose filter removes rows.
        let throws_away =
            node.rows_removed_by_filter > 0.0 || (node.is_seq_scan() && node.filter.is_some());
        if !throws_away {
            continue;
        }
        let mut text = node.filter.clone().unwrap_or_default();
        if let Some(cond) = node.index_cond.as_deref().or(node.recheck_cond.as_deref()) {
            text = format!("{cond} AND {text}");
        }
        let (eq, range) = filter_columns(&text, &info.columns);
        let mut sets: Vec<Vec<String>> = Vec::new();
        for c in eq.iter().chain(range.iter()) {
            sets.push(vec![c.clone()]);
        }
        for (i, a) in eq.iter().enumerate() {
            for b in eq.iter().skip(i + 1).chain(range.iter()) {
                sets.push(vec![a.clone(), b.clone()]);
            }
            for b in eq.iter().take(i) {
                sets.push(vec![a.clone(), b.clone()]);
            }
        }
        for columns in sets {
            let covered = info
                .btree_indexes
                .iter()
                .any(|idx| idx.len() >= columns.len() && idx[..columns.len()] == columns[..]);
            let candidate = Candidate {
                relation: relation.to_string(),
                columns,
            };
            if !covered && !out.contains(&candidate) {
                out.push(candidate);
            }
        }
    }
    out
}

/// Given the plan cost without and with each hypothetical index, the suggestion (if any).
pub fn verdict(ctx: &PlanContext, tried: &[(Candidate, f64)]) -> Option<Finding> {
    let base = ctx.plan.plan.total_cost;
    if base < ctx.thresholds.index_min_cost {
        return None;
    }
    let (best, cost) = tried.iter().min_by(|a, b| {
        a.1.partial_cmp(&b.1)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.0.columns.len().cmp(&b.0.columns.len()))
    })?;
    let saving = 1.0 - cost / base;
    if saving < ctx.thresholds.index_min_saving {
        return None;
    }
    Some(Finding {
        rule: Rule::IndexSuggestion,
        severity: Severity::Info,
        message: format!(
            "a hypothetical index cuts the plan cost from {base:.0} to {cost:.0} (−{:.0}%): {}",
            saving * 100.0,
            best.ddl()
        ),
        evidence: Evidence {
            relation: Some(best.relation.clone()),
            expression: Some(best.ddl()),
            ..Default::default()
        }
        .number("cost_before", base)
        .number("cost_after", *cost),
    })
}

#[cfg(test)]
mod tests {
    use super::super::{fixtures, Role, Thresholds};
    use super::*;

    fn appointments(indexes: Vec<Vec<&str>>) -> HashMap<String, TableInfo> {
        let columns = crate::seed::copy::columns(crate::seed::rows::Table::Appointments)
            .iter()
            .map(|c| c.to_string())
            .collect();
        let btree_indexes = indexes
            .into_iter()
            .map(|cols| cols.into_iter().map(String::from).collect())
            .collect();
        HashMap::from([(
            "appointments".to_string(),
            TableInfo {
                columns,
                btree_indexes,
            },
        )])
    }

    #[test]
    fn filter_columns_split_equality_and_range() {
        let cols: Vec<String> = ["org_id", "provider_id", "scheduled_at", "ends_at", "status"]
            .map(String::from)
            .to_vec();
        let (eq, range) = filter_columns(
            "((status <> 'cancelled'::text) AND (org_id = 'd4'::uuid) AND (provider_id = 'a1'::uuid) AND (scheduled_at < '2026-01-01'::timestamptz) AND (ends_at > now()))",
            &cols,
        );
        assert_eq!(eq, ["org_id", "provider_id"]);
        assert_eq!(range, ["scheduled_at", "ends_at"]);
    }

    #[test]
    fn candidates_from_the_conflict_check_skip_covered_prefixes() {
        let plan = fixtures::plan("provider_conflict_check_v3_service");
        let t = Thresholds::default();
        let ctx = fixtures::context(&plan, Role::Service, &t);
        let all = candidates(&ctx, &appointments(vec![vec!["id"]]));
        assert!(all.contains(&Candidate {
            relation: "appointments".into(),
            columns: vec!["provider_id".into()]
        }));
        assert!(all.contains(&Candidate {
            relation: "appointments".into(),
            columns: vec!["org_id".into(), "provider_id".into()]
        }));
        let covered = candidates(
            &ctx,
            &appointments(vec![vec!["org_id", "provider_id", "scheduled_at"]]),
        );
        assert!(
            !covered
                .iter()
                .any(|c| c.columns == ["org_id"] || c.columns == ["org_id", "provider_id"]),
            "{covered:?}"
        );
    }

    #[test]
    fn suggests_only_a_halving_and_prints_ready_ddl() {
        let plan = fixtures::plan("provider_conflict_check_v3_service");
        let t = Thresholds::default();
        let ctx = fixtures::context(&plan, Role::Service, &t);
        let base = plan.plan.total_cost;
        let c1 = Candidate {
            relation: "appointments".into(),
            columns: vec!["provider_id".into()],
        };
        let c2 = Candidate {
            relation: "appointments".into(),
            columns: vec!["provider_id".into(), "scheduled_at".into()],
        };
        assert_eq!(verdict(&ctx, &[(c1.clone(), base * 0.6)]), None);
        let found = verdict(&ctx, &[(c1, base * 0.1), (c2, base * 0.01)]).unwrap();
        assert!(found.message.ends_with(
            "CREATE INDEX CONCURRENTLY appointments_provider_id_scheduled_at_idx ON appointments (provider_id, scheduled_at);"
        ), "{}", found.message);
    }

    #[test]
    fn cheap_plans_get_no_candidates() {
        let plan = fixtures::plan("provider_conflict_check_v6_service");
        let t = Thresholds::default();
        let ctx = fixtures::context(&plan, Role::Service, &t);
        assert!(candidates(&ctx, &appointments(vec![])).is_empty());
    }
}
