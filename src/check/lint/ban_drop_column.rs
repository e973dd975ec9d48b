//! `ban-drop-column`: running application code still selects and inserts the column;
//! stop using it first, then drop it (with a `-- dbkit:ignore ban-drop-column`).

use sqlparser::ast::{AlterTableOperation, Statement as Ast};

use super::{ident_key, Ctx, Violation};
use crate::check::rule::Rule;

pub fn check(ctx: &Ctx, ast: &Ast) -> Vec<Violation> {
    ctx.judge_alter(ast, |table, op| {
        let AlterTableOperation::DropColumn { column_names, .. } = op else {
            return vec![];
        };
        column_names
            .iter()
            .map(|column| {
                let column = ident_key(column);
                let message =
                    format!("dropping {table}.{column} breaks clients that still read or write it");
                Violation::on_column(Rule::BanDropColumn, table, &column, message)
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use crate::check::lint::test_support::{assert_flags, assert_passes};
    use crate::check::rule::Rule::BanDropColumn as R;

    #[test]
    fn flags_drop_column() {
        assert_flags(R, &["ALTER TABLE appointments DROP COLUMN notes;"]);
    }

    #[test]
    fn passes_other_alters_and_new_tables() {
        assert_passes(
            R,
            &[
                "ALTER TABLE appointments ADD COLUMN room text;",
                "CREATE TABLE t (x int, y int);\nALTER TABLE t DROP COLUMN y;",
            ],
        );
    }
}
