//! `require-concurrent-index-creation`: a plain CREATE INDEX takes a SHARE lock, which
//! blocks every write to the table until the build ends. On a table that existed before
//! the migration, build it CONCURRENTLY (in a `-- dbkit:no-transaction` file).

use sqlparser::ast::Statement as Ast;

use super::{table_key, Ctx, Violation};
use crate::check::rule::Rule;

pub fn check(ctx: &Ctx, ast: &Ast) -> Vec<Violation> {
    match ast {
        Ast::CreateIndex(ci) if !ci.concurrently && ctx.existed_before(&ci.table_name) => {
            let table = table_key(&ci.table_name);
            vec![Violation {
                rule: Rule::RequireConcurrentIndexCreation,
                object: ci.name.as_ref().map_or(table.clone(), |n| n.to_string()),
                message: format!(
                    "CREATE INDEX on existing table {table} blocks writes while it builds: use CREATE INDEX CONCURRENTLY in a `-- dbkit:no-transaction` migration"
                ),
            }]
        }
        _ => vec![],
    }
}

#[cfg(test)]
mod tests {
    use crate::check::lint::test_support::{assert_flags, assert_passes};
    use crate::check::rule::Rule::RequireConcurrentIndexCreation as R;

    #[test]
    fn flags_plain_index_on_existing_table() {
        assert_flags(R, &["CREATE INDEX a_idx ON appointments (org_id);"]);
    }

    #[test]
    fn passes_concurrent_or_new_table() {
        assert_passes(
            R,
            &[
                "-- dbkit:no-transaction\nCREATE INDEX CONCURRENTLY a_idx ON appointments (org_id);",
                "CREATE TABLE t (x int);\nCREATE INDEX t_x ON t (x);",
            ],
        );
    }
}
