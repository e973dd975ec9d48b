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
    use crate::check::lint::test_support::{assert_flags, assert_passes};
    use crate::check::rule::Rule::BanConcurrentIndexInTransaction as R;

    #[test]
    fn flags_concurrently_without_directive() {
        assert_flags(
            R,
            &["CREATE INDEX CONCURRENTLY a_idx ON appointments (org_id);"],
        );
        // The directive only counts on the first line.
        assert_flags(
            R,
            &[
                "-- indexes\n-- dbkit:no-transaction\nCREATE INDEX CONCURRENTLY a_idx ON appointments (org_id);",
            ],
        );
    }

    #[test]
    fn flags_drop_index_concurrently_without_directive() {
        assert_flags(
            R,
            &[
                "DROP INDEX CONCURRENTLY a_idx;",
                "drop index /* c */ concurrently if exists public.\"A_idx\";",
            ],
        );
        assert_passes(
            R,
            &["-- dbkit:no-transaction\nDROP INDEX CONCURRENTLY a_idx;"],
        );
        // Without CONCURRENTLY it is fine in a transaction.
        assert_passes(R, &["DROP INDEX a_idx;"]);
    }

    #[test]
    fn passes_with_directive() {
        assert_passes(
            R,
            &[
                "-- dbkit:no-transaction\nCREATE INDEX CONCURRENTLY a_idx ON appointments (org_id);",
                "CREATE TABLE t (x int);\nCREATE INDEX t_x ON t (x);",
            ],
        );
    }
}
