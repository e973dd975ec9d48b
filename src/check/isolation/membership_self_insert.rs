//! `membership-self-insert`: as an authenticated member of tenant A, insert a row into
//! the membership table naming yourself as a member of tenant B. A WITH CHECK such as
//! `user_id = auth.uid() OR is_member(organization_id)` accepts it — its first branch
//! only asks that the row is yours — and from then on every policy that looks up the
//! membership lets you read and write B's rows. A probe that inserted B's own member
//! into B would miss it. See `membership_self_insert.md`; the probe itself is
//! `probe::joining`.

/// What follows the join, worded for the leak (`{then}` in the probe's message).
pub fn then(reads_tenant_row: bool, tenant_table: Option<&str>) -> String {
    match (reads_tenant_row, tenant_table) {
        (true, Some(t)) => format!(", and then read tenant B's row in {t}"),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_leak_names_the_read_that_follows_the_join() {
        assert_eq!(
            then(true, Some("orgs")),
            ", and then read tenant B's row in orgs"
        );
        assert_eq!(then(false, Some("orgs")), "");
    }
}
