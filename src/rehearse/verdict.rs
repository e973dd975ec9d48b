//! The verdict on a rehearsed statement: did the traffic stall longer than the budget
//! or fail more than 1 %, which lock did it, and the safer way to write the statement —
//! or an honest "no lock-free way exists". Pure: no database.

use std::sync::OnceLock;

use regex::Regex;

/// Errors above this share of the requests during a statement fail it.
pub const MAX_ERROR_RATE: f64 = 0.01;

/// For a statement that took no lock blocking the bookings and made none wait.
pub const LOAD_ONLY: &str = "the statement took no lock that blocks bookings and no booking waited on one: the stall is load (CPU, I/O) on the server. Apply it when traffic is low, or give the server more room";

/// How to apply the statement without blocking the traffic, or why there is no such way.
pub fn recipe(sql: &str) -> String {
    // (matches, unless it also matches, recipe): the regex crate has no look-ahead.
    type Rule = (Regex, Option<Regex>, &'static str);
    static RULES: OnceLock<Vec<Rule>> = OnceLock::new();
    let rules = RULES.get_or_init(|| {
        [
            (
                r"(?is)\bEXCLUDE\b",
                "",
                "no lock-free way exists: an exclusion constraint cannot be added NOT VALID, and its index is built under AccessExclusiveLock. Apply it in a maintenance window, or guard the table with a trigger (BEFORE INSERT OR UPDATE, an advisory lock per provider and an overlap check) until a window allows the constraint",
            ),
            (
                r"(?is)^\s*CREATE\s+(UNIQUE\s+)?INDEX\s",
                r"(?is)^\s*CREATE\s+(UNIQUE\s+)?INDEX\s+CONCURRENTLY\b",
                "build it with CREATE INDEX CONCURRENTLY in a `-- dbkit:no-transaction` file (ShareUpdateExclusiveLock: reads and writes go on)",
            ),
            (
                r"(?is)\bADD\s+(CONSTRAINT\s+\S+\s+)?(UNIQUE|PRIMARY\s+KEY)\b",
                r"(?is)\bUSING\s+INDEX\b",
                "build the unique index with CREATE UNIQUE INDEX CONCURRENTLY in a no-transaction file, then ADD CONSTRAINT … UNIQUE USING INDEX (a brief lock)",
            ),
            (
                r"(?is)\bADD\s+(CONSTRAINT\s+\S+\s+)?(FOREIGN\s+KEY|CHECK)\b",
                r"(?is)\bNOT\s+VALID\b",
                "add the constraint NOT VALID, then VALIDATE CONSTRAINT in a later migration (ShareUpdateExclusiveLock: writes go on)",
            ),
            (
                r"(?is)\bSET\s+NOT\s+NULL\b",
                "",
                "add CHECK (column IS NOT NULL) NOT VALID, VALIDATE it, then SET NOT NULL (PostgreSQL 12+ skips the scan)",
            ),
            (
                r"(?is)\bALTER\s+COLUMN\s+\S+\s+(SET\s+DATA\s+)?TYPE\b",
                "",
                "no lock-free way exists for a type change in place: add a new column, backfill it in batches, switch readers and writers, drop the old column",
            ),
        ]
        .into_iter()
        .map(|(re, unless, text)| {
            let unless = (!unless.is_empty()).then(|| Regex::new(unless).expect("valid regex"));
            (Regex::new(re).expect("valid regex"), unless, text)
        })
        .collect()
    });
    rules
        .iter()
        .find(|(re, unless, _)| re.is_match(sql) && !unless.as_ref().is_some_and(|u| u.is_match(sql)))
        .map(|(_, _, text)| text.to_string())
        .unwrap_or_else(|| {
            "no lock-free way is known for this statement: keep its transaction short (one such statement per file), apply it when traffic is low, and keep lock_timeout low so it does not queue in front of the traffic".to_string()
        })
}

/// Why a statement fails the gate (empty: it passes).
pub fn reasons(max_ms: f64, errors: u64, requests: u64, budget_ms: f64) -> Vec<String> {
    let mut why = Vec::new();
    if max_ms > budget_ms {
        why.push(format!(
            "bookings stalled {max_ms:.0} ms (budget {budget_ms:.0} ms)"
        ));
    }
    if requests > 0 && errors as f64 / requests as f64 > MAX_ERROR_RATE {
        why.push(format!(
            "{errors} of {requests} bookings failed ({:.1}%, budget 1%)",
            errors as f64 * 100.0 / requests as f64
        ));
    }
    why
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_of_statement_gets_its_recipe() {
        let v6 = "ALTER TABLE appointments ADD CONSTRAINT x EXCLUDE USING gist (org_id WITH =)";
        assert!(recipe(v6).starts_with("no lock-free way exists"));
        assert!(recipe(v6).contains("maintenance window"));
        assert!(recipe(v6).contains("trigger"));
        assert!(recipe("CREATE INDEX i ON t (a)").contains("CONCURRENTLY"));
        assert!(recipe("create unique index if not exists i on t (a)").contains("CONCURRENTLY"));
        assert!(
            recipe("CREATE INDEX CONCURRENTLY i ON t (a)").starts_with("no lock-free way is known")
        );
        assert!(
            recipe("ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES p NOT VALID")
                .starts_with("no lock-free way is known")
        );
        assert!(recipe("ALTER TABLE t ADD CONSTRAINT u UNIQUE (a)").contains("USING INDEX"));
        assert!(
            recipe("ALTER TABLE t ADD CONSTRAINT f FOREIGN KEY (a) REFERENCES p")
                .contains("NOT VALID")
        );
        assert!(recipe("ALTER TABLE t ADD CHECK (a > 0)").contains("VALIDATE"));
        assert!(recipe("ALTER TABLE t ALTER COLUMN a SET NOT NULL").contains("IS NOT NULL"));
        assert!(recipe("ALTER TABLE t ALTER COLUMN a TYPE bigint").starts_with("no lock-free"));
        assert!(recipe("ALTER POLICY p ON t USING (true)").starts_with("no lock-free way is known"));
    }

    #[test]
    fn stall_and_errors_are_judged_against_the_budget() {
        assert!(reasons(100.0, 0, 100, 2000.0).is_empty());
        assert_eq!(reasons(2500.0, 0, 100, 2000.0).len(), 1);
        assert!(reasons(10.0, 2, 100, 2000.0)[0].contains("2 of 100 bookings failed"));
        assert!(
            reasons(10.0, 1, 100, 2000.0).is_empty(),
            "1% is within budget"
        );
    }
}
