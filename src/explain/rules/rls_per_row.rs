//! `rls-per-row`: a row-level-security policy evaluated for every row a scan reads,
//! named with what runs per row and the rewrite that makes it run once per statement:
//! - the claim reader (`current_setting(...)`, `auth.jwt()`/`auth.uid()` when not
//!   inlined) in a scan node's Filter — wrap it as `(SELECT auth.jwt() ...)`;
//! - a function the policies call (a SECURITY DEFINER membership helper such as
//!   `is_member(org_id)`) in a tenant run's Filter — look the caller's tenants up once
//!   (`org_id IN (SELECT …)`);
//! - a correlated subquery (`SubPlan N`, not `hashed SubPlan`) in a tenant run's Filter
//!   — make it uncorrelated, so PostgreSQL hashes it once.
//!
//! Judged on the plan, not the policy text: the wrapped form `(SELECT auth.jwt() ...)`
//! shows as an InitPlan whose parameter (`$0`) the Filter compares with, and a claim in
//! an Index Cond or a One-Time Filter is evaluated once — neither is flagged.

use regex::Regex;

use super::{
    count, seq_scan::shorten, Evidence, Finding, PlanContext, PolicyInfo, Role, Rule, Severity,
};
use crate::explain::plan::Node;

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

/// What a scan's Filter evaluates per row on behalf of a policy.
#[derive(Debug, Clone, PartialEq)]
enum PerRow {
    /// The claim reader itself.
    Claims,
    /// A policy helper, called with this argument (the tenant key, usually).
    Helper { name: String, argument: String },
    /// A correlated subquery: its name and the relation it reads.
    SubPlan { name: String, reads: Option<String> },
}

pub fn check(ctx: &PlanContext) -> Vec<Finding> {
    let mut out = Vec::new();
    let nodes = ctx.plan.nodes();
    for node in &nodes {
        if !node.is_scan() || !node.executed() {
            continue;
        }
        let Some(filter) = node.filter.as_deref() else {
            continue;
        };
        let Some(work) = per_row(ctx, filter, &nodes) else {
            continue;
        };
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
            message: message(&work, node, &relation, evaluated, ctx.policy),
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

/// The per-row policy work in `filter`, if any: claims first (any role), then, in a
/// tenant's plan, a policy helper or a correlated subquery.
fn per_row(ctx: &PlanContext, filter: &str, nodes: &[&Node]) -> Option<PerRow> {
    if reads_claims(filter) {
        return Some(PerRow::Claims);
    }
    if ctx.role != Role::Tenant {
        return None;
    }
    for name in &ctx.policy.helpers {
        let call = Regex::new(&format!(
            r"(?:^|[^A-Za-z0-9_]){}\(([^()]*)\)",
            regex::escape(name)
        ))
        .expect("valid regex");
        if let Some(c) = call.captures(filter) {
            return Some(PerRow::Helper {
                name: name.clone(),
                argument: c[1].trim().to_string(),
            });
        }
    }
    // `alternatives: SubPlan 1 or hashed SubPlan 2`: the executor hashes when it can.
    if filter.contains("alternatives:") {
        return None;
    }
    let subplan = Regex::new(r"SubPlan \d+").expect("valid regex");
    let name = subplan
        .find_iter(filter)
        .find(|m| !filter[..m.start()].ends_with("hashed "))
        .map(|m| m.as_str().to_string())?;
    let reads = nodes
        .iter()
        .find(|n| n.subplan_name.as_deref() == Some(name.as_str()))
        .and_then(|n| first_relation(n));
    Some(PerRow::SubPlan { name, reads })
}

fn first_relation(node: &Node) -> Option<String> {
    node.relation
        .clone()
        .or_else(|| node.plans.iter().find_map(first_relation))
}

fn message(
    work: &PerRow,
    node: &Node,
    relation: &str,
    evaluated: f64,
    policy: &PolicyInfo,
) -> String {
    let rows = count(evaluated);
    let at = node.label();
    match work {
        PerRow::Claims => format!(
            "RLS policy evaluated per row on {relation}: the claim is read in the Filter of {at} for {rows} rows; wrap it as (SELECT auth.jwt() ...) so it becomes an InitPlan"
        ),
        PerRow::Helper { name, argument } => {
            let column = argument.rsplit('.').next().unwrap_or(argument);
            format!(
                "RLS policy helper {name}() runs per row on {relation}: the Filter of {at} calls {name}({argument}) for up to {rows} rows; {}",
                once_per_statement(column, policy)
            )
        }
        PerRow::SubPlan { name, reads } => {
            let reads = reads
                .as_deref()
                .map(|r| format!(" on {r}"))
                .unwrap_or_default();
            format!(
                "RLS policy subquery runs per row on {relation}: the Filter of {at} runs {name}{reads} for up to {rows} rows; make it uncorrelated so PostgreSQL hashes it once: {}",
                membership_lookup("<tenant key>", policy)
            )
        }
    }
}

/// The rewrite that looks the caller's tenants up once per statement.
fn once_per_statement(column: &str, policy: &PolicyInfo) -> String {
    format!(
        "look the caller's tenants up once per statement instead: {}, or a SECURITY DEFINER function returning the caller's ids (SETOF), called as USING ({column} IN (SELECT my_tenant_ids()))",
        membership_lookup(column, policy)
    )
}

fn membership_lookup(column: &str, policy: &PolicyInfo) -> String {
    match &policy.membership {
        Some(m) => format!(
            "USING ({column} IN (SELECT {key} FROM {table} WHERE {user} = (SELECT auth.uid())))",
            key = m.key,
            table = m.table,
            user = m.user_column
        ),
        None => format!(
            "USING ({column} IN (SELECT <tenant id> FROM <membership table> WHERE <user column> = (SELECT auth.uid())))"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{fixtures, Role, Thresholds};
    use super::*;
    use crate::explain::plan::Node;

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

    fn salon_policy() -> PolicyInfo {
        PolicyInfo {
            helpers: vec!["is_org_member".into()],
            membership: Some(super::super::MembershipInfo {
                table: "organization_members".into(),
                key: "organization_id".into(),
                user_column: "user_id".into(),
            }),
        }
    }

    fn scan(filter: &str, subplan: Option<Node>) -> crate::explain::plan::Explained {
        let mut scan = Node {
            node_type: "Seq Scan".into(),
            relation: Some("bookings".into()),
            actual_loops: 1.0,
            actual_rows: 2_706.0,
            rows_removed_by_filter: 6_314.0,
            filter: Some(filter.into()),
            ..Node::default()
        };
        scan.plans.extend(subplan);
        crate::explain::plan::Explained {
            plan: scan,
            planning_ms: 0.1,
            execution_ms: 400.0,
            triggers: vec![],
        }
    }

    #[test]
    fn a_membership_helper_called_per_row_is_named_with_its_rewrite() {
        let plan = scan("is_org_member(organization_id)", None);
        let policy = salon_policy();
        let t = Thresholds::default();
        let ctx = PlanContext {
            plan: &plan,
            role: Role::Tenant,
            thresholds: &t,
            policy: &policy,
        };
        let found = check(&ctx);
        assert_eq!(found.len(), 1, "{found:#?}");
        let m = &found[0].message;
        assert!(
            m.starts_with("RLS policy helper is_org_member() runs per row on bookings"),
            "{m}"
        );
        assert!(m.contains("for up to 9,020 rows"), "{m}");
        assert!(
            m.contains("USING (organization_id IN (SELECT organization_id FROM organization_members WHERE user_id = (SELECT auth.uid())))"),
            "{m}"
        );
        assert_eq!(found[0].severity, Severity::Warning);
        // The service role runs no policy: the same call there is the query's own.
        let service = PlanContext {
            role: Role::Service,
            ..ctx
        };
        assert!(check(&service).is_empty());
    }

    #[test]
    fn a_correlated_policy_subquery_is_named_a_hashed_one_is_not() {
        let sub = Node {
            node_type: "Index Only Scan".into(),
            relation: Some("organization_members".into()),
            subplan_name: Some("SubPlan 1".into()),
            actual_loops: 9_020.0,
            ..Node::default()
        };
        let policy = salon_policy();
        let t = Thresholds::default();
        let correlated = scan("(SubPlan 1)", Some(sub.clone()));
        let found = check(&PlanContext {
            plan: &correlated,
            role: Role::Tenant,
            thresholds: &t,
            policy: &policy,
        });
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0]
                .message
                .contains("runs SubPlan 1 on organization_members"),
            "{}",
            found[0].message
        );
        let hashed = scan("(hashed SubPlan 1)", Some(sub));
        assert!(check(&PlanContext {
            plan: &hashed,
            role: Role::Tenant,
            thresholds: &t,
            policy: &policy,
        })
        .is_empty());
    }

    #[test]
    fn claim_readers() {
        assert!(reads_claims("(org_id = ((current_setting('request.jwt.claims'::text, true))::jsonb ->> 'org_id'::text))::uuid)"));
        assert!(!reads_claims("(org_id = $0)"));
    }
}
