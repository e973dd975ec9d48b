//! `rls-disabled`: a table in an exposed schema that an API role can reach (granted, or
//! never granted nor revoked so Supabase's default privileges grant it) with row-level
//! security off: that role reads and writes every row, whatever its columns.

use super::Hit;
use crate::check::rule::Rule;
use crate::schema::facts::{Facts, RelKind};

pub fn check(facts: &Facts) -> Vec<Hit> {
    facts
        .relations
        .iter()
        .filter(|r| r.kind == RelKind::Table && r.exposed && !r.rls && (r.anon || r.authenticated))
        .map(|r| {
            let roles: Vec<&str> = [(r.anon, "anon"), (r.authenticated, "authenticated")]
                .iter()
                .filter(|(on, _)| *on)
                .map(|(_, role)| *role)
                .collect();
            let how = if r.default_acl {
                "through Supabase's default privileges"
            } else {
                "through its grants"
            };
            Hit::new(
                Rule::RlsDisabled,
                r.name.clone(),
                format!(
                    "{} is reachable by {} {how} but row-level security is off: every row is theirs to read and write (ALTER TABLE {} ENABLE ROW LEVEL SECURITY)",
                    r.name,
                    roles.join(" and "),
                    r.name
                ),
                vec![format!("table:{}", r.short)],
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::facts::testing::table;

    #[test]
    fn reachable_tables_without_rls_only() {
        let mut open = table(1, "reminders", &["id", "tenant_id"]);
        open.rls = false;
        let mut private = open.clone();
        private.oid = 2;
        private.name = "private_notes".into();
        private.anon = false;
        private.authenticated = false;
        let guarded = table(3, "contacts", &["id"]);
        let facts = Facts {
            relations: vec![open, private, guarded],
            ..Facts::default()
        };
        let hits = check(&facts);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].subjects[0].object, "reminders");
        assert!(hits[0].subjects[0]
            .message
            .contains("anon and authenticated"));
    }
}
