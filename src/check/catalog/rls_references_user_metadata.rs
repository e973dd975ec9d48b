//! `rls-references-user-metadata`: a policy that reads `user_metadata` (the JWT's) or
//! `raw_user_meta_data` (auth.users'): users write their own metadata, so they choose
//! what the policy sees — e.g. which tenant they belong to.

use super::Hit;
use crate::check::rule::Rule;
use crate::schema::policy::Policy;

pub fn check(policies: &[Policy]) -> Vec<Hit> {
    policies
        .iter()
        .filter(|p| {
            p.using
                .iter()
                .chain(p.with_check.iter())
                .any(|e| e.contains("user_metadata") || e.contains("raw_user_meta_data"))
        })
        .map(|p| {
            Hit::new(
                Rule::RlsReferencesUserMetadata,
                p.object(),
                format!(
                    "policy {} on {} reads user metadata, which every user can write about themselves: read app_metadata or a membership table instead",
                    p.name, p.table
                ),
                p.locate(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::facts::testing::{policy, table};

    #[test]
    fn user_metadata_in_either_clause() {
        let t = table(1, "appointments", &["id", "org_id"]);
        let hits = check(&[
            policy(
                &t,
                "meta",
                "r",
                Some("(org_id = ((auth.jwt() -> 'user_metadata'::text) ->> 'org_id'::text)::uuid)"),
                None,
            ),
            policy(
                &t,
                "fine",
                "r",
                Some("(org_id = ((auth.jwt() -> 'app_metadata'::text) ->> 'org_id'::text)::uuid)"),
                None,
            ),
        ]);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].subjects[0].object, "appointments.meta");
    }
}
