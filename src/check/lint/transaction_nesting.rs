//! `transaction-nesting`: transaction control inside a transactional migration that
//! dbkit cannot run safely — a COMMIT, ROLLBACK or BEGIN other than a whole-file
//! `BEGIN … COMMIT` or a file of such blocks (statements outside the blocks run as
//! PostgreSQL runs the file sent whole: `transaction-blocks`). A COMMIT halfway keeps the first half when the second fails. `dbkit migrate`
//! refuses such a file before running anything — this reports it at review time, with
//! the same verdict (`migrate::guard::transactions`).

use super::{Ctx, Violation};
use crate::check::rule::Rule;
use crate::migrate::guard;

/// The file's violations with their lines (no-transaction files: none).
pub fn check_file(ctx: &Ctx) -> Vec<(usize, Violation)> {
    if ctx.file.no_transaction() {
        return vec![];
    }
    let statements: Vec<_> = ctx.file.statements.iter().map(|s| s.stmt.clone()).collect();
    guard::transaction_nesting(&statements)
        .into_iter()
        .map(|blocked| {
            (
                blocked.line,
                Violation {
                    lock: None,
                    rule: Rule::TransactionNesting,
                    object: blocked.command.clone(),
                    message: blocked.message(),
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::check::lint::test_support::lint_sql;
    use crate::check::rule::Rule::TransactionNesting as R;

    fn lines(sql: &str) -> Vec<usize> {
        lint_sql(sql)
            .into_iter()
            .filter(|(r, _)| *r == R)
            .map(|(_, line)| line)
            .collect()
    }

    #[test]
    fn flags_commit_and_rollback_but_not_statements_outside_the_blocks() {
        // COMMIT at line 2 ends nothing; ROLLBACK ends the block early. Line 1, outside
        // the block, runs in its transaction as PostgreSQL would run the file.
        assert_eq!(
            lines("CREATE TABLE a (x int);\nCOMMIT;\nBEGIN;\nCREATE TABLE b (x int);\nROLLBACK;"),
            vec![2, 5]
        );
        assert_eq!(
            lines("CREATE TABLE a (x int);\nBEGIN;\nCREATE TABLE b (x int);\nCOMMIT;\nSELECT 1;"),
            Vec::<usize>::new()
        );
    }

    #[test]
    fn passes_a_whole_file_wrapper_and_a_file_of_blocks() {
        assert_eq!(
            lines("BEGIN;\nCREATE TABLE a (x int);\nCOMMIT;"),
            Vec::<usize>::new()
        );
        assert_eq!(
            lines("BEGIN;\nCREATE TYPE r AS ENUM ('a');\nCOMMIT;\nBEGIN;\nALTER TYPE r ADD VALUE 'b';\nCOMMIT;"),
            Vec::<usize>::new()
        );
    }

    #[test]
    fn passes_own_savepoints_and_no_transaction_files() {
        assert_eq!(
            lines("CREATE TABLE a (x int);\nSAVEPOINT s;\nROLLBACK TO SAVEPOINT s;\nRELEASE SAVEPOINT s;"),
            Vec::<usize>::new()
        );
        assert_eq!(
            lines("-- dbkit:no-transaction\nBEGIN;\nCREATE TABLE a (x int);\nCOMMIT;"),
            Vec::<usize>::new()
        );
    }
}
