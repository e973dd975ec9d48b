//! `changing-column-type`: ALTER COLUMN ... TYPE usually rewrites the table and its
//! indexes under an ACCESS EXCLUSIVE lock, and changes what running clients read.

use sqlparser::ast::{AlterColumnOperation, AlterTableOperation, Statement as Ast};

use super::{ident_key, Ctx, Violation};
use crate::check::rule::Rule;

pub fn check(ctx: &Ctx, ast: &Ast) -> Vec<Violation> {
    ctx.judge_alter(ast, |table, op| {
        let AlterTableOperation::AlterColumn {
            column_name,
            op: AlterColumnOperation::SetDataType { data_type, .. },
        } = op
        else {
            return None;
        };
        let column = ident_key(column_name);
        let message = format!(
            "changing {table}.{column} to {data_type} rewrites the table under an ACCESS EXCLUSIVE lock: add a new column, backfill, switch readers"
        );
        Some(Violation::on_column(Rule::ChangingColumnType, table, &column, message))
    })
}

#[cfg(test)]
mod tests {
    use crate::check::lint::test_support::{assert_flags, assert_passes};
    use crate::check::rule::Rule::ChangingColumnType as R;

    #[test]
    fn flags_type_change() {
        assert_flags(
            R,
            &[
                "ALTER TABLE appointments ALTER COLUMN notes TYPE varchar(200);",
                "ALTER TABLE appointments ALTER COLUMN notes SET DATA TYPE varchar(200);",
            ],
        );
    }

    #[test]
    fn passes_other_alters_and_new_tables() {
        assert_passes(
            R,
            &[
                "ALTER TABLE appointments ALTER COLUMN notes SET DEFAULT '';",
                "CREATE TABLE t (x int);\nALTER TABLE t ALTER COLUMN x TYPE bigint;",
            ],
        );
    }
}
