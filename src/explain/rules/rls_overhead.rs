//! `rls-overhead`: what row-level security costs a query, tenant run against service
//! run of the same query, org and phase. Flagged on buffers (tenant reads ≥ 1.2× the
//! blocks and at least 100 more), or on time only when the tenant plan also shows
//! per-row policy work — a timing alone never makes a finding.

use super::{count, rls_per_row, Evidence, Finding, Rule, Severity, Thresholds};
use crate::explain::plan::Explained;

/// One side of the comparison: median figures and the plan they came with.
pub struct Measured<'a> {
    pub execution_ms: f64,
    pub shared_blocks: u64,
    pub plan: &'a Explained,
}

pub fn check(service: &Measured, tenant: &Measured, t: &Thresholds) -> Option<Finding> {
    let (sb, tb) = (service.shared_blocks, tenant.shared_blocks);
    let buffers_ratio = tb as f64 / (sb.max(1)) as f64;
    let time_ratio = tenant.execution_ms / service.execution_ms.max(0.001);
    let more_buffers =
        buffers_ratio >= t.rls_buffers_ratio && tb.saturating_sub(sb) >= t.rls_buffers_min_extra;
    let per_row = tenant.plan.nodes().iter().any(|n| {
        n.is_scan() && n.executed() && n.filter.as_deref().is_some_and(rls_per_row::reads_claims)
    });
    let slower_with_policy_work = per_row && time_ratio >= t.rls_time_ratio;
    if !more_buffers && !slower_with_policy_work {
        return None;
    }
    let why = if more_buffers {
        format!(
            "reads {} shared blocks as tenant vs {} as service ({buffers_ratio:.1}×)",
            count(tb as f64),
            count(sb as f64)
        )
    } else {
        "evaluates the policy per row".to_string()
    };
    Some(Finding {
        rule: Rule::RlsOverhead,
        severity: Severity::Warning,
        message: format!(
            "RLS overhead: the tenant run {why}; {:.2} ms vs {:.2} ms ({time_ratio:.1}×)",
            tenant.execution_ms, service.execution_ms
        ),
        evidence: Evidence::default()
            .number("tenant_ms", tenant.execution_ms)
            .number("service_ms", service.execution_ms)
            .number("tenant_shared_blocks", tb as f64)
            .number("service_shared_blocks", sb as f64)
            .number("buffers_ratio", (buffers_ratio * 100.0).round() / 100.0)
            .number("time_ratio", (time_ratio * 100.0).round() / 100.0),
    })
}

#[cfg(test)]
mod tests {
    use super::super::fixtures;
    use super::*;

    fn measured(plan: &Explained) -> Measured<'_> {
        Measured {
            execution_ms: plan.execution_ms,
            shared_blocks: plan.buffers().shared(),
            plan,
        }
    }

    #[test]
    fn per_row_policy_that_costs_time_is_flagged() {
        let service = fixtures::plan("org_upcoming_v3_service");
        let tenant = fixtures::plan("org_upcoming_v3_tenant");
        let found = check(
            &measured(&service),
            &measured(&tenant),
            &Thresholds::default(),
        );
        let found = found.expect("tenant run should show RLS overhead");
        assert_eq!(found.rule, Rule::RlsOverhead);
        assert!(found.evidence.numbers["time_ratio"] >= 2.0, "{found:#?}");
    }

    #[test]
    fn initplan_policy_with_index_is_clean() {
        let service = fixtures::plan("org_upcoming_v6_service");
        let tenant = fixtures::plan("org_upcoming_v6_tenant");
        assert_eq!(
            check(
                &measured(&service),
                &measured(&tenant),
                &Thresholds::default()
            ),
            None
        );
    }

    #[test]
    fn more_buffers_alone_is_enough_and_time_alone_is_not() {
        let plan = fixtures::plan("provider_conflict_check_v6_service");
        let s = Measured {
            execution_ms: 1.0,
            shared_blocks: 100,
            plan: &plan,
        };
        let slow = Measured {
            execution_ms: 50.0,
            shared_blocks: 100,
            plan: &plan,
        };
        assert_eq!(check(&s, &slow, &Thresholds::default()), None);
        let heavy = Measured {
            execution_ms: 1.0,
            shared_blocks: 1000,
            plan: &plan,
        };
        assert!(check(&s, &heavy, &Thresholds::default()).is_some());
    }
}
