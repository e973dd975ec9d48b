//! `seq-scan`: a sequential scan that reads a sizeable relation to keep a small part
//! of it — the shape an index on the filter columns would avoid. Scans that keep most
//! of what they read (a report over a whole small table) are not flagged.

use super::{count, Evidence, Finding, PlanContext, Rule, Severity};

pub fn check(ctx: &PlanContext) -> Vec<Finding> {
    let t = ctx.thresholds;
    let mut out = Vec::new();
    for node in ctx.plan.nodes() {
        if !node.is_seq_scan() || !node.executed() {
            continue;
        }
        let examined = node.rows_examined();
        if examined < t.seq_scan_min_rows {
            continue;
        }
        let removed = node.rows_removed();
        let share = removed / examined;
        if share < t.removed_notable {
            continue;
        }
        let relation = node.relation.clone().unwrap_or_default();
        let kept = examined - removed;
        out.push(Finding {
            rule: Rule::SeqScan,
            severity: Severity::Warning,
            message: format!(
                "Seq Scan on {relation} read {} rows to keep {} ({:.1}% thrown away){}",
                count(examined),
                count(kept),
                share * 100.0,
                node.filter
                    .as_deref()
                    .map(|f| format!("; filter {}", shorten(f, 120)))
                    .unwrap_or_default()
            ),
            evidence: Evidence {
                node: Some(node.label()),
                relation: Some(relation),
                expression: node.filter.clone(),
                ..Default::default()
            }
            .number("rows_examined", examined)
            .number("rows_removed", removed)
            .number("shared_blocks", node.shared_hit + node.shared_read),
        });
    }
    out
}

pub(crate) fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let cut: String = text.chars().take(max).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::super::{fixtures, Role, Thresholds};
    use super::*;

    #[test]
    fn flags_the_conflict_check_scan_before_indexes() {
        let found = fixtures::only_finding(check, "provider_conflict_check_v3_service");
        assert_eq!(found.evidence.relation.as_deref(), Some("appointments"));
        assert!(
            found.message.starts_with("Seq Scan on appointments read"),
            "{}",
            found.message
        );
    }

    #[test]
    fn index_scans_after_migrations_are_clean() {
        assert!(fixtures::findings(check, "provider_conflict_check_v6_service").is_empty());
    }

    #[test]
    fn small_scans_are_ignored() {
        assert!(fixtures::findings_with(
            check,
            "provider_conflict_check_v3_service",
            Role::Service,
            &Thresholds {
                seq_scan_min_rows: 1e9,
                ..Thresholds::default()
            }
        )
        .is_empty());
    }
}
