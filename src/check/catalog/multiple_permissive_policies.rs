//! `multiple-permissive-policies`: several permissive policies for the same role and
//! command are OR-ed, and each is evaluated for every row. Merge them into one.

use std::collections::{BTreeMap, BTreeSet};

use super::{Hit, Subject};
use crate::check::rule::Rule;
use crate::schema::policy::Policy;

const COMMANDS: [(&str, &str); 4] = [
    ("r", "SELECT"),
    ("a", "INSERT"),
    ("w", "UPDATE"),
    ("d", "DELETE"),
];

pub fn check(policies: &[Policy]) -> Vec<Hit> {
    let mut by_table: BTreeMap<&str, Vec<&Policy>> = BTreeMap::new();
    for p in policies.iter().filter(|p| p.permissive) {
        by_table.entry(p.table.as_str()).or_default().push(p);
    }
    let mut out = Vec::new();
    for (table, ps) in by_table {
        let roles: BTreeSet<&str> = ps
            .iter()
            .flat_map(|p| p.roles.iter().map(String::as_str))
            .collect();
        // (policy names) -> (roles, commands) that see all of them.
        let mut groups: BTreeMap<Vec<&str>, (BTreeSet<&str>, Vec<&str>)> = BTreeMap::new();
        for role in &roles {
            for (code, command) in COMMANDS {
                let names: Vec<&str> = ps
                    .iter()
                    .filter(|p| p.cmd == "*" || p.cmd == code)
                    .filter(|p| p.roles.iter().any(|r| r == role || r == "public"))
                    .map(|p| p.name.as_str())
                    .collect();
                if names.len() > 1 {
                    let entry = groups.entry(names).or_default();
                    entry.0.insert(role);
                    if !entry.1.contains(&command) {
                        entry.1.push(command);
                    }
                }
            }
        }
        for (names, (roles, commands)) in groups {
            let roles: Vec<&str> = roles.into_iter().collect();
            let message = format!(
                "{table}: permissive policies {} all apply to role {} for {}; each is evaluated per row — merge them",
                names.join(", "),
                roles.join(", "),
                commands.join("/")
            );
            // About every policy of the group: reported on the newest.
            let subjects = names
                .iter()
                .map(|name| Subject {
                    object: format!("{table}.{name}"),
                    message: message.clone(),
                    locate: vec![format!("policy:{table}.{name}"), format!("table:{table}")],
                })
                .collect();
            out.push(Hit {
                rule: Rule::MultiplePermissivePolicies,
                subjects,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(name: &str, cmd: &str, roles: &[&str], permissive: bool) -> Policy {
        Policy {
            table_oid: 1,
            table: "t".into(),
            name: name.into(),
            permissive,
            cmd: cmd.into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            using: None,
            with_check: None,
        }
    }

    #[test]
    fn overlapping_permissive_policies() {
        let hits = check(&[
            p("a", "*", &["authenticated"], true),
            p("b", "r", &["public"], true),
        ]);
        assert_eq!(hits.len(), 1, "{hits:?}");
        let objects: Vec<&str> = hits[0].subjects.iter().map(|s| s.object.as_str()).collect();
        assert_eq!(objects, vec!["t.a", "t.b"]);
        let message = &hits[0].subjects[0].message;
        assert!(message.contains("a, b") && message.contains("SELECT"));
    }

    #[test]
    fn disjoint_or_restrictive_pass() {
        assert!(check(&[
            p("a", "r", &["authenticated"], true),
            p("b", "a", &["authenticated"], true)
        ])
        .is_empty());
        assert!(check(&[
            p("a", "*", &["authenticated"], true),
            p("b", "*", &["anon"], true)
        ])
        .is_empty());
        assert!(check(&[
            p("a", "*", &["authenticated"], true),
            p("b", "*", &["authenticated"], false)
        ])
        .is_empty());
    }
}
