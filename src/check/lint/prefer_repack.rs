//! `prefer-repack`: VACUUM FULL and CLUSTER rewrite the whole table under an ACCESS
//! EXCLUSIVE lock — no reads, no writes until the copy is done. pg_repack (or
//! pg_squeeze) rebuilds the table online.

use pg_query::NodeEnum;

use super::tree::{has_option, relation_key};
use super::{Ctx, Violation, Work};
use crate::check::rule::Rule;

pub fn check(_ctx: &Ctx, stmt: &NodeEnum) -> Vec<Violation> {
    let (what, object, table) = match stmt {
        NodeEnum::VacuumStmt(v) if v.is_vacuumcmd && has_option(&v.options, "full") => {
            let tables: Vec<String> = v
                .rels
                .iter()
                .filter_map(|r| match r.node.as_ref() {
                    Some(NodeEnum::VacuumRelation(rel)) => rel.relation.as_ref().map(relation_key),
                    _ => None,
                })
                .collect();
            let object = if tables.is_empty() {
                "every table".to_string()
            } else {
                tables.join(", ")
            };
            let first = tables.first().cloned().unwrap_or_default();
            ("VACUUM FULL", object, first)
        }
        NodeEnum::ClusterStmt(c) => {
            let table = c.relation.as_ref().map(relation_key).unwrap_or_default();
            let object = match table.as_str() {
                "" => "every clustered table".to_string(),
                t => t.to_string(),
            };
            ("CLUSTER", object, table)
        }
        _ => return vec![],
    };
    vec![Violation {
        lock: None,
        rule: Rule::PreferRepack,
        message: format!(
            "{what} rewrites {object} under an ACCESS EXCLUSIVE lock (no reads, no writes until the copy is done): use pg_repack or pg_squeeze, which rebuild online"
        ),
        object,
    }
    .holding(&table, Work::Rewrite)]
}

#[cfg(test)]
mod tests {
    use crate::check::lint::test_support::{assert_flags, assert_passes};
    use crate::check::rule::Rule::PreferRepack as R;

    #[test]
    fn flags_vacuum_full_and_cluster() {
        assert_flags(
            R,
            &[
                "VACUUM FULL appointments;",
                "VACUUM (FULL, ANALYZE) appointments;",
                "CLUSTER appointments USING appointments_pkey;",
                "CLUSTER;",
            ],
        );
    }

    #[test]
    fn passes_plain_vacuum_and_analyze() {
        assert_passes(
            R,
            &[
                "-- dbkit:no-transaction\nVACUUM appointments;",
                "-- dbkit:no-transaction\nVACUUM (ANALYZE) appointments;",
                "-- dbkit:no-transaction\nVACUUM (FULL false) appointments;",
                "ANALYZE appointments;",
            ],
        );
    }
}
