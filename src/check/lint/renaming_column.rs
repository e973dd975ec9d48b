//! `renaming-column`: clients that use the old name fail the moment the rename commits.

use sqlparser::ast::{AlterTableOperation, Statement as Ast};

use super::{ident_key, Ctx, Violation};
use crate::check::rule::Rule;

pub fn check(ctx: &Ctx, ast: &Ast) -> Vec<Violation> {
    let Some((alter, table)) = ctx.altered_existing(ast) else {
        return vec![];
    };
    alter
        .operations
        .iter()
        .filter_map(|op| match op {
            AlterTableOperation::RenameColumn {
                old_column_name,
                new_column_name,
            } => {
                let old = ident_key(old_column_name);
                Some(Violation {
                    rule: Rule::RenamingColumn,
                    object: format!("{table}.{old}"),
                    message: format!(
                        "renaming {table}.{old} to {} breaks clients that use the old name: add the new column, dual-write, then drop",
                        ident_key(new_column_name)
                    ),
                })
            }
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::check::lint::test_support::hits;
    use crate::check::rule::Rule::RenamingColumn as R;

    #[test]
    fn flags_rename() {
        assert_eq!(
            hits(
                "ALTER TABLE appointments RENAME COLUMN notes TO remarks;",
                R
            ),
            1
        );
    }

    #[test]
    fn passes_table_rename_and_new_tables() {
        assert_eq!(
            hits("ALTER TABLE appointments ADD COLUMN remarks text;", R),
            0
        );
        assert_eq!(
            hits(
                "CREATE TABLE t (x int);\nALTER TABLE t RENAME COLUMN x TO y;",
                R
            ),
            0
        );
    }
}
