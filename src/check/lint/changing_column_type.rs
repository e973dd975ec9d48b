//! `changing-column-type`: ALTER COLUMN ... TYPE usually rewrites the table and its
//! indexes under an ACCESS EXCLUSIVE lock, and changes what running clients read.

use pg_query::protobuf::AlterTableType;
use pg_query::NodeEnum;

use super::tree::{self, type_key};
use super::{Ctx, Violation, Work};
use crate::check::rule::Rule;

pub fn check(ctx: &Ctx, stmt: &NodeEnum) -> Vec<Violation> {
    ctx.judge_alter(stmt, |table, cmd| {
        if !tree::is(cmd, AlterTableType::AtAlterColumnType) {
            return None;
        }
        let column = cmd.name.clone();
        let to = tree::column_def(cmd)
            .map(|d| type_key(d.type_name.as_ref()))
            .unwrap_or_default();
        let message = format!(
            "changing {table}.{column} to {to} rewrites the table under an ACCESS EXCLUSIVE lock: add a new column, backfill, switch readers"
        );
        Some(Violation::on_column(Rule::ChangingColumnType, table, &column, message).holding(table, Work::Rewrite))
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
