//! `ban-concurrent-index-in-transaction`: CREATE INDEX CONCURRENTLY, DROP INDEX
//! CONCURRENTLY, REINDEX … CONCURRENTLY and DETACH PARTITION … CONCURRENTLY cannot run
//! inside a transaction block, and a migration runs in one unless its first line is
//! `-- dbkit:no-transaction`.

use pg_query::protobuf::{AlterTableType, ObjectType};
use pg_query::NodeEnum;

use super::tree::{self, has_option, list_name, relation_key};
use super::{Ctx, Violation};
use crate::check::rule::Rule;

pub fn check(ctx: &Ctx, stmt: &NodeEnum) -> Vec<Violation> {
    if !ctx.in_transaction() {
        return vec![];
    }
    let (what, object) = match stmt {
        NodeEnum::IndexStmt(i) if i.concurrent => (
            "CREATE INDEX CONCURRENTLY",
            if i.idxname.is_empty() {
                i.relation.as_ref().map(relation_key).unwrap_or_default()
            } else {
                i.idxname.clone()
            },
        ),
        NodeEnum::DropStmt(d) if d.concurrent && d.remove_type() == ObjectType::ObjectIndex => (
            "DROP INDEX CONCURRENTLY",
            d.objects.first().and_then(list_name).unwrap_or_default(),
        ),
        NodeEnum::ReindexStmt(r) if has_option(&r.params, "concurrently") => (
            "REINDEX CONCURRENTLY",
            r.relation.as_ref().map_or(r.name.clone(), relation_key),
        ),
        _ => match tree::alter_table(stmt) {
            Some((relation, cmds))
                if cmds.iter().any(|c| {
                    tree::is(c, AlterTableType::AtDetachPartition)
                        && partition_cmd(c).is_some_and(|p| p.concurrent)
                }) =>
            {
                ("DETACH PARTITION CONCURRENTLY", relation_key(relation))
            }
            _ => return vec![],
        },
    };
    vec![Violation {
        lock: None,
        rule: Rule::BanConcurrentIndexInTransaction,
        object,
        message: format!(
            "{what} fails inside a transaction: make `-- dbkit:no-transaction` the file's first line"
        ),
    }]
}

/// The PARTITION part of ATTACH / DETACH PARTITION.
pub fn partition_cmd(
    cmd: &pg_query::protobuf::AlterTableCmd,
) -> Option<&pg_query::protobuf::PartitionCmd> {
    match cmd.def.as_deref().and_then(tree::inner) {
        Some(NodeEnum::PartitionCmd(p)) => Some(p),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use crate::check::lint::test_support::{assert_flags, assert_passes};
    use crate::check::rule::Rule::BanConcurrentIndexInTransaction as R;

    #[test]
    fn flags_concurrently_without_directive() {
        assert_flags(
            R,
            &[
                "CREATE INDEX CONCURRENTLY a_idx ON appointments (org_id);",
                // The directive only counts on the first line.
                "-- indexes\n-- dbkit:no-transaction\nCREATE INDEX CONCURRENTLY a_idx ON appointments (org_id);",
                "REINDEX INDEX CONCURRENTLY a_idx;",
                "ALTER TABLE measurements DETACH PARTITION measurements_2020 CONCURRENTLY;",
            ],
        );
    }

    #[test]
    fn flags_drop_index_concurrently_without_directive() {
        assert_flags(
            R,
            &[
                "DROP INDEX CONCURRENTLY a_idx;",
                "drop index /* c */ concurrently if exists public.\"A_idx\";",
            ],
        );
        assert_passes(
            R,
            &["-- dbkit:no-transaction\nDROP INDEX CONCURRENTLY a_idx;"],
        );
    }

    #[test]
    fn passes_with_directive() {
        assert_passes(
            R,
            &[
                "-- dbkit:no-transaction\nCREATE INDEX CONCURRENTLY a_idx ON appointments (org_id);",
                "-- dbkit:no-transaction\nREINDEX TABLE CONCURRENTLY appointments;",
                "CREATE TABLE t (x int);\nCREATE INDEX t_x ON t (x);",
            ],
        );
    }
}
