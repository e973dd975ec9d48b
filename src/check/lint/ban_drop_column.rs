//! `ban-drop-column`: running application code still selects and inserts the column;
//! stop using it first, then drop it (with a `-- dbkit:ignore ban-drop-column`).

use pg_query::protobuf::AlterTableType;
use pg_query::NodeEnum;

use super::tree;
use super::{Ctx, Violation};
use crate::check::rule::Rule;

pub fn check(ctx: &Ctx, stmt: &NodeEnum) -> Vec<Violation> {
    ctx.judge_alter(stmt, |table, cmd| {
        if !tree::is(cmd, AlterTableType::AtDropColumn) {
            return None;
        }
        let column = cmd.name.clone();
        let message =
            format!("dropping {table}.{column} breaks clients that still read or write it");
        Some(Violation::on_column(
            Rule::BanDropColumn,
            table,
            &column,
            message,
        ))
    })
}

#[cfg(test)]
mod tests {
    use crate::check::lint::test_support::{assert_flags, assert_passes, hits};
    use crate::check::rule::Rule::BanDropColumn as R;

    #[test]
    fn flags_drop_column() {
        assert_flags(R, &["ALTER TABLE appointments DROP COLUMN notes;"]);
        assert_eq!(
            hits(
                "ALTER TABLE appointments DROP COLUMN a, DROP COLUMN IF EXISTS b;",
                R
            ),
            2
        );
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
