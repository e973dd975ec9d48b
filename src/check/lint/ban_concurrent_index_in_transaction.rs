//! `ban-concurrent-index-in-transaction`: CREATE INDEX CONCURRENTLY and DROP INDEX
//! CONCURRENTLY cannot run inside a transaction block, and a migration runs in one
//! unless its first line is `-- dbkit:no-transaction`.

use sqlparser::ast::Statement as Ast;

use super::{drop_index_concurrently, table_key, Ctx, Violation};
use crate::check::rule::Rule;

pub fn check(ctx: &Ctx, ast: &Ast) -> Vec<Violation> {
    match ast {
        Ast::CreateIndex(ci) if ci.concurrently && !ctx.file.no_transaction() => vec![Violation {
            rule: Rule::BanConcurrentIndexInTransaction,
            object: ci
                .name
                .as_ref()
                .map_or_else(|| table_key(&ci.table_name), |n| n.to_string()),
            message: "CREATE INDEX CONCURRENTLY fails inside a transaction: make `-- dbkit:no-transaction` the file's first line".to_string(),
        }],
        _ => vec![],
    }
}

/// DROP INDEX CONCURRENTLY, which sqlparser cannot parse: recognised from its words.
pub fn check_text(ctx: &Ctx, sql: &str) -> Vec<Violation> {
    match drop_index_concurrently(sql) {
        Some(index) if !ctx.file.no_transaction() => vec![Violation {
            rule: Rule::BanConcurrentIndexInTransaction,
            object: index,
            message: "DROP INDEX CONCURRENTLY fails inside a transaction: make `-- dbkit:no-transaction` the file's first line".to_string(),
        }],
        _ => vec![],
    }
}

#[cfg(test)]
mod tests {
    use crate::check::lint::test_support::hits;
    use crate::check::rule::Rule::BanConcurrentIndexInTransaction as R;

    #[test]
    fn flags_concurrently_without_directive() {
        assert_eq!(
            hits(
                "CREATE INDEX CONCURRENTLY a_idx ON appointments (org_id);",
                R
            ),
            1
        );
        // The directive only counts on the first line.
        assert_eq!(hits("-- indexes\n-- dbkit:no-transaction\nCREATE INDEX CONCURRENTLY a_idx ON appointments (org_id);", R), 1);
    }

    #[test]
    fn flags_drop_index_concurrently_without_directive() {
        assert_eq!(hits("DROP INDEX CONCURRENTLY a_idx;", R), 1);
        assert_eq!(
            hits(
                "drop index /* c */ concurrently if exists public.\"A_idx\";",
                R
            ),
            1
        );
        assert_eq!(
            hits("-- dbkit:no-transaction\nDROP INDEX CONCURRENTLY a_idx;", R),
            0
        );
        // Without CONCURRENTLY it is fine in a transaction.
        assert_eq!(hits("DROP INDEX a_idx;", R), 0);
    }

    #[test]
    fn passes_with_directive() {
        assert_eq!(hits("-- dbkit:no-transaction\nCREATE INDEX CONCURRENTLY a_idx ON appointments (org_id);", R), 0);
        assert_eq!(
            hits("CREATE TABLE t (x int);\nCREATE INDEX t_x ON t (x);", R),
            0
        );
    }
}
