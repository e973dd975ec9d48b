//! `policy-always-true`: `true` as the USING or WITH CHECK of a policy that lets API
//! roles write (INSERT, UPDATE, DELETE, ALL), or of a SELECT policy on a tenant table:
//! every row, of every tenant, for everyone the policy names.

use super::Hit;
use crate::check::rule::Rule;
use crate::schema::policy::Policy;
use crate::schema::tenancy::Kind;
use crate::schema::Tenancy;

/// Does the policy apply to a role requests run as?
pub fn for_api(p: &Policy) -> bool {
    p.for_api()
}

fn is_true(e: &Option<String>) -> bool {
    e.as_deref().is_some_and(|e| {
        e.trim()
            .trim_start_matches('(')
            .trim_end_matches(')')
            .trim()
            == "true"
    })
}

fn is_tenant_rows(tenancy: &Tenancy, oid: u32) -> bool {
    tenancy.of(oid).is_some_and(|t| {
        matches!(
            t.kind,
            Kind::Tenant { .. } | Kind::Keyed { .. } | Kind::Child { .. }
        )
    })
}

pub fn check(policies: &[Policy], tenancy: &Tenancy) -> Vec<Hit> {
    policies
        .iter()
        .filter(|p| p.permissive && for_api(p))
        .filter(|p| is_true(&p.using) || is_true(&p.with_check))
        // A read-all policy on a per-user table (public profiles) is a common, deliberate
        // choice; on a tenant's rows it is a leak.
        .filter(|p| p.cmd != "r" || is_tenant_rows(tenancy, p.table_oid))
        .map(|p| {
            let clause = if is_true(&p.using) {
                "USING"
            } else {
                "WITH CHECK"
            };
            Hit::new(
                Rule::PolicyAlwaysTrue,
                p.object(),
                format!(
                    "policy {} on {} is {clause} (true) for {}: every row of every tenant passes",
                    p.name,
                    p.table,
                    p.roles.join(", ")
                ),
                p.locate(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::facts::testing::{policy, table, tenancy_of};

    #[test]
    fn writes_anywhere_reads_on_tenant_tables() {
        let plans = table(1, "plans", &["id"]);
        let mut a = table(2, "appointments", &["id", "org_id"]);
        a.rls = true;
        let policies = vec![
            policy(&plans, "plans_read", "r", Some("true"), None),
            policy(&plans, "plans_write", "a", None, Some("true")),
            policy(&a, "a_read", "r", Some("true"), None),
            policy(
                &a,
                "a_tenant",
                "*",
                Some("(org_id = x)"),
                Some("(org_id = x)"),
            ),
        ];
        let tenancy = tenancy_of(vec![plans, a], policies.clone());
        let objects: Vec<String> = check(&policies, &tenancy)
            .iter()
            .map(|h| h.subjects[0].object.clone())
            .collect();
        assert_eq!(objects, vec!["plans.plans_write", "appointments.a_read"]);
    }
}
