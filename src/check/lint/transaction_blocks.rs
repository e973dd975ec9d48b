//! `transaction-blocks`: a transactional migration made of several `BEGIN … COMMIT`
//! blocks (typically `ALTER TYPE … ADD VALUE` committed before a second block uses the
//! new value). dbkit runs it as PostgreSQL would, block by block — a warning, because a
//! failure in a later block leaves the earlier ones committed while the history does
//! not record the file. The verdict is `migrate::guard::transactions`, the one
//! `dbkit migrate` runs by.

use super::{Ctx, Violation};
use crate::check::rule::Rule;
use crate::migrate::guard::{self, Transactions};

/// One violation per file of several blocks, at the second block's BEGIN.
pub fn check_file(ctx: &Ctx) -> Vec<(usize, Violation)> {
    if ctx.file.no_transaction() {
        return vec![];
    }
    let statements: Vec<_> = ctx.file.statements.iter().map(|s| s.stmt.clone()).collect();
    let Ok(t @ Transactions::Blocks { .. }) = guard::transactions(&statements) else {
        return vec![];
    };
    let Transactions::Blocks { blocks, after } = &t else {
        return vec![];
    };
    let lines: Vec<String> = blocks
        .iter()
        .map(|b| statements[b.begin].line.to_string())
        .collect();
    let outside = if after.is_empty() && blocks.iter().all(|b| b.before.is_empty()) {
        String::new()
    } else {
        " — statements outside the blocks run in the next block's transaction, or after the last COMMIT in one more, as PostgreSQL runs the file sent whole (the Supabase CLI's way)".to_string()
    };
    let violation = Violation {
        lock: None,
        rule: Rule::TransactionBlocks,
        object: format!("{} transactions", t.count()),
        message: format!(
            "the file runs as {} transactions (BEGIN at {} {}){outside}: a failure in a later one leaves the earlier ones committed, and the file is recorded as applied only when the last commits; split it into one migration per transaction",
            t.count(),
            if lines.len() == 1 { "line" } else { "lines" },
            lines.join(", ")
        ),
    };
    // At the second transaction's first statement.
    let at = match blocks.get(1) {
        Some(b) => b.before.clone().next().unwrap_or(b.begin),
        None => after.start,
    };
    vec![(statements[at].line, violation)]
}

#[cfg(test)]
mod tests {
    use crate::check::lint::test_support::lint_sql;
    use crate::check::rule::Rule::{TransactionBlocks as R, TransactionNesting};

    fn lines(sql: &str) -> Vec<(crate::check::rule::Rule, usize)> {
        lint_sql(sql)
            .into_iter()
            .filter(|(r, _)| *r == R || *r == TransactionNesting)
            .collect()
    }

    #[test]
    fn warns_once_at_the_second_block() {
        assert_eq!(
            lines("begin;\nalter type role add value 'error';\ncommit;\n\nbegin;\nupdate m set r = 'error';\ncommit;\nbegin;\ncommit;"),
            vec![(R, 5)]
        );
    }

    #[test]
    fn statements_after_the_last_commit_are_a_second_transaction() {
        // A block, then statements: two transactions, the warning at the first of them.
        assert_eq!(
            lines("create table t (x int);\nbegin;\ndrop publication if exists p;\ncreate publication p;\ncommit;\n\nalter publication p add table t;"),
            vec![(R, 7)]
        );
        // Statements before the only block run in its transaction: no finding.
        assert_eq!(
            lines("create type r as enum ('a');\nbegin;\ncreate table t (r r);\ncommit;"),
            vec![]
        );
    }

    #[test]
    fn a_wrapper_or_a_plain_file_is_no_finding() {
        assert_eq!(lines("BEGIN;\nCREATE TABLE a (x int);\nCOMMIT;"), vec![]);
        assert_eq!(lines("CREATE TABLE a (x int);"), vec![]);
        assert_eq!(
            lines(
                "-- dbkit:no-transaction\nBEGIN;\nSELECT 1;\nCOMMIT;\nBEGIN;\nSELECT 2;\nCOMMIT;"
            ),
            vec![]
        );
    }
}
