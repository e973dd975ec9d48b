//! `renaming-column`: clients that use the old name fail the moment the rename commits.

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
    if rename.rename_type() != ObjectType::ObjectColumn
        || rename.relation_type() != ObjectType::ObjectTable
        || !ctx.existed_before(relation)
    {
        return vec![];
    }
    let table = relation_key(relation);
    let old = &rename.subname;
    let message = format!(
        "renaming {table}.{old} to {} breaks clients that use the old name: add the new column, dual-write, then drop",
        rename.newname
    );
    vec![Violation::on_column(
        Rule::RenamingColumn,
        &table,
        old,
        message,
    )]
}

#[cfg(test)]
mod tests {
    use crate::check::lint::test_support::{assert_flags, assert_passes};
    use crate::check::rule::Rule::RenamingColumn as R;

    #[test]
    fn flags_rename() {
        assert_flags(
            R,
            &[
                "ALTER TABLE appointments RENAME COLUMN notes TO remarks;",
                "ALTER TABLE appointments RENAME notes TO remarks;",
            ],
        );
    }

    #[test]
    fn passes_table_rename_and_new_tables() {
        assert_passes(
            R,
            &[
                "ALTER TABLE appointments RENAME TO bookings;",
                "ALTER TABLE appointments ADD COLUMN remarks text;",
                "CREATE TABLE t (x int);\nALTER TABLE t RENAME COLUMN x TO y;",
            ],
        );
    }
}
