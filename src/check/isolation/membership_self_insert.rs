//! `membership-self-insert`: as an authenticated member of tenant A, insert a row into
//! the membership table naming yourself as a member of tenant B. A WITH CHECK such as
//! `user_id = auth.uid() OR is_member(organization_id)` accepts it — its first branch
//! only asks that the row is yours — and from then on every policy that looks up the
//! membership lets you read and write B's rows. A probe that inserted B's own member
//! into B would miss it. See `membership_self_insert.md`.

use super::probe::{Actor, Judge, Op, Probe, Statement, Target};
use crate::schema::facts::Relation;
use crate::schema::tenancy::Membership;

/// The probe: A's own membership of B (the fixture's row for B, with the acting user in
/// the membership's user column).
pub fn probe(r: &Relation, membership: Option<&Membership>) -> Probe {
    let user = membership.map_or("user", |m| m.user_column.as_str());
    let key = membership.map_or("tenant", |m| m.key.as_str());
    Probe {
        target: Target::Relation(r.oid),
        judge: Judge::Joined,
        object: r.name.clone(),
        actor: Actor::Member,
        op: Op::Insert,
        leak: format!(
            "a member of tenant A inserted its own membership of tenant B ({user} = A's user, {key} = B's){{then}}: any user joins any tenant"
        ),
        statement: Statement::InsertOther { joining: true },
    }
}

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
    use crate::schema::facts::testing::table;

    #[test]
    fn the_probe_joins_as_the_acting_user() {
        let members = table(2, "members", &["org_id", "user_id"]);
        let m = Membership {
            oid: 2,
            table: "members".into(),
            key: "org_id".into(),
            user_column: "user_id".into(),
        };
        let p = probe(&members, Some(&m));
        assert_eq!(p.statement, Statement::InsertOther { joining: true });
        assert_eq!(p.judge, Judge::Joined);
        assert!(
            p.leak.contains("user_id = A's user, org_id = B's"),
            "{}",
            p.leak
        );
        assert_eq!(
            then(true, Some("orgs")),
            ", and then read tenant B's row in orgs"
        );
        assert_eq!(then(false, Some("orgs")), "");
    }
}
