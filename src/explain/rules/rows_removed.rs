//! `rows-removed`: an index scan, bitmap heap scan or join that throws away most of the
//! rows it produced (Rows Removed by Filter / Join Filter / Index Recheck), pev2's
//! thresholds: > 50 % notable, > 90 % bad. Sequential scans are `seq-scan`'s business.

use super::{count, seq_scan::shorten, Evidence, Finding, PlanContext, Rule, Severity};

pub fn check(ctx: &PlanContext) -> Vec<Finding> {
    let t = ctx.thresholds;
    let mut out = Vec::new();
    for node in ctx.plan.nodes() {
        if node.is_seq_scan() || !node.executed() {
            continue;
        }
        let loops = node.actual_loops.max(1.0);
        let removed = node.rows_removed() + node.rows_removed_by_index_recheck * loops;
        let examined = node.actual_rows * loops + removed;
        if examined < t.removed_min_rows || removed <= 0.0 {
            continue;
        }
        let share = removed / examined;
        let severity = if share > t.removed_bad {
            Severity::Warning
        } else if share > t.removed_notable {
            Severity::Info
        } else {
            continue;
        };
        let expression = node
            .filter
            .clone()
            .or_else(|| node.join_filter.clone())
            .or_else(|| node.recheck_cond.clone());
        out.push(Finding {
            rule: Rule::RowsRemoved,
            severity,
            message: format!(
                "{} removed {} of {} rows ({:.1}%){}",
                node.label(),
                count(removed),
                count(examined),
                share * 100.0,
                expression
                    .as_deref()
                    .map(|f| format!(" by {}", shorten(f, 120)))
                    .unwrap_or_default()
            ),
            evidence: Evidence {
                node: Some(node.label()),
                relation: node.relation.clone(),
                expression,
                ..Default::default()
            }
            .number("rows_examined", examined)
            .number("rows_removed", removed),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::fixtures;
    use super::*;

    #[test]
    fn an_index_scan_that_filters_most_rows_is_flagged() {
        let found = fixtures::only_finding(check, "rows_removed_index_scan");
        assert!(found.message.contains("removed"), "{}", found.message);
        assert!(found.evidence.numbers["rows_removed"] > 1000.0);
    }

    #[test]
    fn seq_scans_are_left_to_seq_scan() {
        assert!(fixtures::findings(check, "provider_conflict_check_v3_service").is_empty());
    }
}
