//! `ban-drop-table`: dropping a table loses its data and breaks running clients.

use sqlparser::ast::{ObjectType, Statement as Ast};

use super::{table_key, Ctx, Violation};
use crate::check::rule::Rule;

pub fn check(ctx: &Ctx, ast: &Ast) -> Vec<Violation> {
    let Ast::Drop {
        object_type: ObjectType::Table,
        names,
        ..
    } = ast
    else {
        return vec![];
    };
    names
        .iter()
        .filter(|n| ctx.existed_before(n))
        .map(|n| {
            let table = table_key(n);
            Violation {
                rule: Rule::BanDropTable,
                object: table.clone(),
                message: format!(
                    "dropping table {table} loses its data and breaks clients that use it"
                ),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::check::lint::test_support::{assert_flags, assert_passes, hits};
    use crate::check::rule::Rule::BanDropTable as R;

    #[test]
    fn flags_drop_table() {
        assert_flags(R, &["DROP TABLE appointments;"]);
        assert_eq!(hits("DROP TABLE IF EXISTS a, b;", R), 2);
    }

    #[test]
    fn passes_other_drops_and_new_tables() {
        assert_passes(
            R,
            &[
                "DROP INDEX appointments_org_time_idx;",
                "CREATE TABLE t (x int);\nDROP TABLE t;",
            ],
        );
    }
}
