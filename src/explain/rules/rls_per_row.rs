//! `rls-per-row`: a row-level-security policy evaluated for every row a scan reads —
//! the claim reader (`current_setting(...)`, `auth.jwt()`/`auth.uid()` when not inlined)
//! appears in a scan node's Filter. Judged on the plan, not the policy text: the
//! wrapped form `(SELECT auth.jwt() ...)` shows as an InitPlan whose parameter (`$0`)
//! the Filter compares with, and a claim in an Index Cond or a One-Time Filter is
//! evaluated once — neither is flagged.

use super::{count, seq_scan::shorten, Evidence, Finding, PlanContext, Rule, Severity};

/// Text that marks per-request claim reading in an expression.
const CLAIM_READERS: [&str; 4] = [
    "current_setting(",
    "auth.jwt()",
    "auth.uid()",
    "auth.role()",
];

/// Does this expression read the request's claims itself (not through an InitPlan parameter)?
pub fn reads_claims(expression: &str) -> bool {
    CLAIM_READERS.iter().any(|m| expression.contains(m))
}

pub fn check(ctx: &PlanContext) -> Vec<Finding> {
    let mut out = Vec::new();
    for node in ctx.plan.nodes() {
        if !node.is_scan() || !node.executed() {
            continue;
        }
        let Some(filter) = node.filter.as_deref() else {
            continue;
        };
        if !reads_claims(filter) {
            continue;
        }
        let evaluated = node.rows_examined();
        let relation = node.relation.clone().unwrap_or_default();
        // One evaluation per row examined; below a thousand it costs little, but the
        // shape grows with the table, so it is still reported.
        let severity = if evaluated >= 1000.0 {
            Severity::Warning
        } else {
            Severity::Info
        };
        out.push(Finding {
            rule: Rule::RlsPerRow,
            severity,
            message: format!(
                "RLS policy evaluated per row on {relation}: the claim is read in the Filter of {} for {} rows; wrap it as (SELECT auth.jwt() ...) so it becomes an InitPlan",
                node.label(),
                count(evaluated)
            ),
            evidence: Evidence {
                node: Some(node.label()),
                relation: Some(relation),
                expression: Some(shorten(filter, 300)),
                ..Default::default()
            }
            .number("rows_evaluated", evaluated),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{fixtures, Role, Thresholds};
    use super::*;

    fn run(name: &str) -> Vec<Finding> {
        fixtures::findings_with(check, name, Role::Tenant, &Thresholds::default())
    }

    #[test]
    fn naive_policy_in_a_seq_scan_filter_is_flagged() {
        let found = run("org_upcoming_v3_tenant");
        assert!(!found.is_empty());
        assert_eq!(found[0].evidence.relation.as_deref(), Some("appointments"));
        assert!(found[0]
            .evidence
            .expression
            .as_deref()
            .unwrap()
            .contains("current_setting("));
        assert_eq!(found[0].severity, Severity::Warning);
    }

    #[test]
    fn initplan_parameter_is_not_flagged() {
        assert!(run("org_upcoming_v6_tenant").is_empty());
    }

    #[test]
    fn one_time_filter_is_not_flagged() {
        // Explicit org_id = $1 next to the naive policy: the planner folds the policy
        // into a One-Time Filter evaluated once.
        assert!(run("provider_conflict_check_v3_tenant").is_empty());
    }

    #[test]
    fn claim_readers() {
        assert!(reads_claims("(org_id = ((current_setting('request.jwt.claims'::text, true))::jsonb ->> 'org_id'::text))::uuid)"));
        assert!(!reads_claims("(org_id = $0)"));
    }
}
