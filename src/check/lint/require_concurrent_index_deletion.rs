//! `require-concurrent-index-deletion`: DROP INDEX takes an ACCESS EXCLUSIVE lock on
//! the index's table (no reads, no writes) and waits behind every running query that
//! uses it. DROP INDEX CONCURRENTLY (in a `-- dbkit:no-transaction` file) waits for
//! them without blocking. An index the same file created is not flagged.

use pg_query::protobuf::ObjectType;
use pg_query::NodeEnum;

use super::tree::list_name;
use super::{Ctx, Violation};
use crate::check::rule::Rule;

pub fn check(ctx: &Ctx, stmt: &NodeEnum) -> Vec<Violation> {
    let NodeEnum::DropStmt(drop) = stmt else {
        return vec![];
    };
    if drop.remove_type() != ObjectType::ObjectIndex || drop.concurrent {
        return vec![];
    }
    drop.objects
        .iter()
        .filter_map(list_name)
        .filter(|index| !ctx.new_indexes.contains(index))
        .map(|index| Violation {
            lock: None,
            rule: Rule::RequireConcurrentIndexDeletion,
            message: format!(
                "DROP INDEX {index} takes an ACCESS EXCLUSIVE lock on its table (no reads, no writes) behind every query using it: use DROP INDEX CONCURRENTLY in a `-- dbkit:no-transaction` migration"
            ),
            object: index,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::check::lint::test_support::{assert_flags, assert_passes};
    use crate::check::rule::Rule::RequireConcurrentIndexDeletion as R;

    #[test]
    fn flags_drop_index() {
        assert_flags(
            R,
            &[
                "DROP INDEX appointments_org_idx;",
                "DROP INDEX IF EXISTS public.appointments_org_idx CASCADE;",
            ],
        );
    }

    #[test]
    fn passes_concurrently_and_indexes_made_here() {
        assert_passes(
            R,
            &[
                "-- dbkit:no-transaction\nDROP INDEX CONCURRENTLY appointments_org_idx;",
                "CREATE INDEX t_idx ON appointments (org_id);\nDROP INDEX t_idx;",
                "DROP TABLE appointments;",
            ],
        );
    }
}
