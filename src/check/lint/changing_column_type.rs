//! `changing-column-type`: ALTER COLUMN ... TYPE usually rewrites the table and its
//! indexes under an ACCESS EXCLUSIVE lock, and changes what running clients read.

use sqlparser::ast::{AlterColumnOperation, AlterTableOperation, Statement as Ast};

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
            AlterTableOperation::AlterColumn {
                column_name,
                op: AlterColumnOperation::SetDataType { data_type, .. },
            } => {
                let column = ident_key(column_name);
                Some(Violation {
                    rule: Rule::ChangingColumnType,
                    object: format!("{table}.{column}"),
                    message: format!(
                        "changing {table}.{column} to {data_type} rewrites the table under an ACCESS EXCLUSIVE lock: add a new column, backfill, switch readers"
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
    use crate::check::rule::Rule::ChangingColumnType as R;

    #[test]
    fn flags_type_change() {
        assert_eq!(
            hits(
                "ALTER TABLE appointments ALTER COLUMN notes TYPE varchar(200);",
                R
            ),
            1
        );
        assert_eq!(
            hits(
                "ALTER TABLE appointments ALTER COLUMN notes SET DATA TYPE varchar(200);",
                R
            ),
            1
        );
    }

    #[test]
    fn passes_other_alters_and_new_tables() {
        assert_eq!(
            hits(
                "ALTER TABLE appointments ALTER COLUMN notes SET DEFAULT '';",
                R
            ),
            0
        );
        assert_eq!(
            hits(
                "CREATE TABLE t (x int);\nALTER TABLE t ALTER COLUMN x TYPE bigint;",
                R
            ),
            0
        );
    }
}
