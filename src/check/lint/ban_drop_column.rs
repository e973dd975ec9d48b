//! `ban-drop-column`: running application code still selects and inserts the column;
//! stop using it first, then drop it (with a `-- dbkit:ignore ban-drop-column`).

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
        .flat_map(|op| match op {
            AlterTableOperation::DropColumn { column_names, .. } => column_names.clone(),
            _ => vec![],
        })
        .map(|column| {
            let column = ident_key(&column);
            Violation {
                rule: Rule::BanDropColumn,
                object: format!("{table}.{column}"),
                message: format!(
                    "dropping {table}.{column} breaks clients that still read or write it"
                ),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::check::lint::test_support::hits;
    use crate::check::rule::Rule::BanDropColumn as R;

    #[test]
    fn flags_drop_column() {
        assert_eq!(hits("ALTER TABLE appointments DROP COLUMN notes;", R), 1);
    }

    #[test]
    fn passes_other_alters_and_new_tables() {
        assert_eq!(hits("ALTER TABLE appointments ADD COLUMN room text;", R), 0);
        assert_eq!(
            hits(
                "CREATE TABLE t (x int, y int);\nALTER TABLE t DROP COLUMN y;",
                R
            ),
            0
        );
    }
}
