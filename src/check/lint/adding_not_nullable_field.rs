//! `adding-not-nullable-field`: a NOT NULL column without a default fails on a table
//! that has rows; SET NOT NULL scans the whole table under an ACCESS EXCLUSIVE lock
//! (add a `CHECK (col IS NOT NULL) NOT VALID`, validate it, then SET NOT NULL).

use sqlparser::ast::{AlterColumnOperation, AlterTableOperation, ColumnOption, Statement as Ast};

use super::{ident_key, Ctx, Violation};
use crate::check::rule::Rule;

pub fn check(ctx: &Ctx, ast: &Ast) -> Vec<Violation> {
    ctx.judge_alter(ast, |table, op| match op {
        AlterTableOperation::AddColumn { column_def, .. } => {
            let has = |f: fn(&ColumnOption) -> bool| column_def.options.iter().any(|o| f(&o.option));
            let not_null = has(|o| matches!(o, ColumnOption::NotNull | ColumnOption::PrimaryKey(_)));
            let filled =
                has(|o| matches!(o, ColumnOption::Default(_) | ColumnOption::Generated { .. }));
            if !not_null || filled {
                return None;
            }
            let column = ident_key(&column_def.name);
            let message = format!(
                "NOT NULL column {column} without a DEFAULT fails on existing rows of {table}: add a default, or add it nullable and backfill"
            );
            Some(Violation::on_column(Rule::AddingNotNullableField, table, &column, message))
        }
        AlterTableOperation::AlterColumn {
            column_name,
            op: AlterColumnOperation::SetNotNull,
        } => {
            let column = ident_key(column_name);
            let message = format!(
                "SET NOT NULL on {table}.{column} scans the table under an ACCESS EXCLUSIVE lock: add CHECK ({column} IS NOT NULL) NOT VALID and validate it first"
            );
            Some(Violation::on_column(Rule::AddingNotNullableField, table, &column, message))
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use crate::check::lint::test_support::{assert_flags, assert_passes};
    use crate::check::rule::Rule::AddingNotNullableField as R;

    #[test]
    fn flags_not_null_without_default_and_set_not_null() {
        assert_flags(
            R,
            &[
                "ALTER TABLE appointments ADD COLUMN room text NOT NULL;",
                "ALTER TABLE appointments ALTER COLUMN notes SET NOT NULL;",
            ],
        );
    }

    #[test]
    fn passes_default_nullable_and_new_tables() {
        assert_passes(
            R,
            &[
                "ALTER TABLE appointments ADD COLUMN room text NOT NULL DEFAULT 'main';",
                "ALTER TABLE appointments ADD COLUMN room text;",
                "CREATE TABLE t (x int);\nALTER TABLE t ADD COLUMN y int NOT NULL;",
            ],
        );
    }
}
