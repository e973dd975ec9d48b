//! `renaming-column`: clients that use the old name fail the moment the rename commits.

use sqlparser::ast::{AlterTableOperation, Statement as Ast};

use super::{ident_key, Ctx, Violation};
use crate::check::rule::Rule;

pub fn check(ctx: &Ctx, ast: &Ast) -> Vec<Violation> {
    ctx.judge_alter(ast, |table, op| {
        let AlterTableOperation::RenameColumn {
            old_column_name,
            new_column_name,
        } = op
        else {
            return None;
        };
        let old = ident_key(old_column_name);
        let message = format!(
            "renaming {table}.{old} to {} breaks clients that use the old name: add the new column, dual-write, then drop",
            ident_key(new_column_name)
        );
        Some(Violation::on_column(Rule::RenamingColumn, table, &old, message))
    })
}

#[cfg(test)]
mod tests {
    use crate::check::lint::test_support::{assert_flags, assert_passes};
    use crate::check::rule::Rule::RenamingColumn as R;

    #[test]
    fn flags_rename() {
        assert_flags(
            R,
            &["ALTER TABLE appointments RENAME COLUMN notes TO remarks;"],
        );
    }

    #[test]
    fn passes_table_rename_and_new_tables() {
        assert_passes(
            R,
            &[
                "ALTER TABLE appointments ADD COLUMN remarks text;",
                "CREATE TABLE t (x int);\nALTER TABLE t RENAME COLUMN x TO y;",
            ],
        );
    }
}
