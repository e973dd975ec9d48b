//! `renaming-table`: clients that use the old name fail the moment the rename commits
//! (and the rename itself waits for an ACCESS EXCLUSIVE lock, which is brief).

use pg_query::protobuf::ObjectType;
use pg_query::NodeEnum;

use super::tree::relation_key;
use super::{Ctx, Violation};
use crate::check::rule::Rule;

pub fn check(ctx: &Ctx, stmt: &NodeEnum) -> Vec<Violation> {
    let NodeEnum::RenameStmt(rename) = stmt else {
        return vec![];
    };
    let Some(relation) = &rename.relation else {
        return vec![];
    };
    if rename.rename_type() != ObjectType::ObjectTable || !ctx.existed_before(relation) {
        return vec![];
    }
    let table = relation_key(relation);
    vec![Violation {
        lock: None,
        rule: Rule::RenamingTable,
        message: format!(
            "renaming table {table} to {} breaks clients that use the old name: create the new table (or a view named after the old one) and move clients first",
            rename.newname
        ),
        object: table,
    }]
}

#[cfg(test)]
mod tests {
    use crate::check::lint::test_support::{assert_flags, assert_passes};
    use crate::check::rule::Rule::RenamingTable as R;

    #[test]
    fn flags_table_rename() {
        assert_flags(
            R,
            &[
                "ALTER TABLE appointments RENAME TO bookings;",
                "ALTER TABLE IF EXISTS public.\"appointments\" RENAME TO \"bookings\";",
            ],
        );
    }

    #[test]
    fn passes_other_renames_and_new_tables() {
        assert_passes(
            R,
            &[
                "ALTER TABLE appointments RENAME COLUMN notes TO remarks;",
                "ALTER INDEX IF EXISTS a_idx RENAME TO b_idx;",
                "CREATE TABLE t (x int);\nALTER TABLE t RENAME TO u;",
            ],
        );
    }
}
