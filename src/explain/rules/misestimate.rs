//! `misestimate`: the planner's row estimate off by 10× / 100× / 1000× (explain.depesz
//! and pev2 tiers) — a plan chosen for the wrong row count. Reports the worst node.

use super::{count, Evidence, Finding, PlanContext, Rule, Severity};

/// The tier (10, 100, 1000) a ratio falls in, if any.
pub fn tier(ratio: f64) -> Option<u32> {
    [1000u32, 100, 10].into_iter().find(|t| ratio >= *t as f64)
}

pub fn check(ctx: &PlanContext) -> Vec<Finding> {
    let t = ctx.thresholds;
    let mut worst: Option<(f64, &super::super::plan::Node)> = None;
    let mut off = 0usize;
    for node in ctx.plan.nodes() {
        if !node.executed() {
            continue;
        }
        // Both are per loop in EXPLAIN's output.
        let (planned, actual) = (node.plan_rows, node.actual_rows);
        if planned.max(actual) < t.misestimate_min_rows {
            continue;
        }
        let ratio = planned.max(actual) / planned.min(actual).max(1.0);
        if tier(ratio).is_none() {
            continue;
        }
        off += 1;
        if worst.is_none_or(|(r, _)| ratio > r) {
            worst = Some((ratio, node));
        }
    }
    let Some((ratio, node)) = worst else {
        return Vec::new();
    };
    let tier = tier(ratio).unwrap_or(10);
    let severity = match tier {
        1000 => Severity::Error,
        100 => Severity::Warning,
        _ => Severity::Info,
    };
    let direction = if node.actual_rows > node.plan_rows {
        "under"
    } else {
        "over"
    };
    let more = if off > 1 {
        format!(" (and {} more nodes)", off - 1)
    } else {
        String::new()
    };
    vec![Finding {
        rule: Rule::Misestimate,
        severity,
        message: format!(
            "{} {direction}estimated ≥{tier}×: planned {} rows, got {}{more}",
            node.label(),
            count(node.plan_rows),
            count(node.actual_rows)
        ),
        evidence: Evidence {
            node: Some(node.label()),
            relation: node.relation.clone(),
            ..Default::default()
        }
        .number("plan_rows", node.plan_rows)
        .number("actual_rows", node.actual_rows)
        .number("ratio", (ratio * 10.0).round() / 10.0),
    }]
}

#[cfg(test)]
mod tests {
    use super::super::fixtures;
    use super::*;

    #[test]
    fn tiers() {
        assert_eq!(tier(9.9), None);
        assert_eq!(tier(10.0), Some(10));
        assert_eq!(tier(250.0), Some(100));
        assert_eq!(tier(5000.0), Some(1000));
    }

    #[test]
    fn correlated_columns_misestimate_is_flagged_at_its_tier() {
        let found = fixtures::only_finding(check, "misestimate_correlated_columns");
        assert!(found.evidence.numbers["ratio"] >= 100.0, "{found:#?}");
        assert!(found.severity >= Severity::Warning);
    }

    #[test]
    fn good_estimates_are_clean() {
        assert!(fixtures::findings(check, "provider_conflict_check_v6_service").is_empty());
    }
}
