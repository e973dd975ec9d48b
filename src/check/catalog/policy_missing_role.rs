//! `policy-missing-role`: a policy without a TO clause applies to PUBLIC, so it is
//! evaluated for every role (anon included) instead of only the API role it is for.

use super::Hit;
use crate::check::rule::Rule;
use crate::schema::policy::Policy;

pub fn check(policies: &[Policy]) -> Vec<Hit> {
    policies
        .iter()
        .filter(|p| p.roles.iter().any(|r| r == "public"))
        .map(|p| {
            Hit::new(
                Rule::PolicyMissingRole,
                p.object(),
                format!(
                    "policy {} on {} applies to PUBLIC: scope it, e.g. TO authenticated",
                    p.name, p.table
                ),
                p.locate(),
            )
        })
        .collect()
}
