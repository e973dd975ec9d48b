//! `policy-ignores-tenant-key`: a permissive policy for API roles on a tenant table
//! whose USING and WITH CHECK never read the tenant key — e.g. an INSERT policy that
//! checks only `creator_id = auth.uid()`, so a user plants rows in any tenant. On the
//! membership table, constraining the user column counts too (a user's own rows).

use super::policy_always_true::for_api;
use super::Hit;
use crate::check::rule::Rule;
use crate::schema::policy::Policy;
use crate::schema::tenancy::{columns_read, Kind, Tenancy};

pub fn check(policies: &[Policy], tenancy: &Tenancy) -> Vec<Hit> {
    let mut hits = Vec::new();
    for p in policies.iter().filter(|p| p.permissive && for_api(p)) {
        // The tenant table's own policies (an owner column, say) are left to the proof.
        let Some(Kind::Keyed { key }) = tenancy.of(p.table_oid).map(|t| &t.kind) else {
            continue;
        };
        let short = p.table.rsplit('.').next().unwrap_or(&p.table);
        let read: Vec<String> = p
            .using
            .iter()
            .chain(p.with_check.iter())
            .flat_map(|e| columns_read(e, short))
            .collect();
        let user_column = tenancy
            .membership
            .as_ref()
            .filter(|m| m.oid == p.table_oid)
            .map(|m| m.user_column.as_str());
        if read
            .iter()
            .any(|c| c == key || Some(c.as_str()) == user_column)
        {
            continue;
        }
        hits.push(Hit::new(
            Rule::PolicyIgnoresTenantKey,
            p.object(),
            format!(
                "policy {} on tenant table {} never constrains the tenant key {key}: rows of any tenant pass it",
                p.name, p.table
            ),
            p.locate(),
        ));
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::facts::testing::{policy, references, table, tenancy_of};

    #[test]
    fn creator_only_insert_is_caught() {
        let orgs = table(1, "organizations", &["id"]);
        let mut projects = table(2, "projects", &["id", "organization_id", "creator_id"]);
        references(&mut projects, "organization_id", 1, "id");
        let policies = vec![
            policy(
                &projects,
                "read",
                "r",
                Some("(organization_id IN ( SELECT m.organization_id FROM m WHERE (m.user_id = auth.uid())))"),
                None,
            ),
            policy(
                &projects,
                "plant",
                "a",
                None,
                Some("(creator_id = auth.uid())"),
            ),
        ];
        let tenancy = tenancy_of(vec![orgs, projects], policies.clone());
        let hits = check(&policies, &tenancy);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].subjects[0].object, "projects.plant");
    }
}
