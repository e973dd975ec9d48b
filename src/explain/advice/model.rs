//! What index advice returns: the verified set as the statements a migration runs
//! (`IndexAdvice`, the narrow type `explain --write-migration` writes), the measured
//! buffers of every run before and after the set, and what was tried. Rendered by
//! `crate::report::explain`.

use serde::Serialize;

use crate::explain::rules::Role;

/// One index of the verified set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IndexAdvice {
    /// The table, schema-qualified outside `public`.
    pub table: String,
    pub name: String,
    /// `CREATE INDEX CONCURRENTLY IF NOT EXISTS …;` — for a no-transaction migration.
    pub statement: String,
    /// Why: the queries it serves with their measured buffers, and where its columns
    /// came from.
    pub reason: String,
    /// On the lab copy, in bytes.
    pub size_bytes: i64,
}

/// One query × org × role, measured on the lab copy without and with the set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AdviceRun {
    pub query: String,
    pub org: String,
    pub role: Role,
    /// Shared buffers (hit + read), median run.
    pub before: u64,
    pub after: u64,
    /// The query writes (its extra blocks are the set's write cost).
    pub writes: bool,
}

/// The verified index set and its measurements.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Advice {
    pub indexes: Vec<IndexAdvice>,
    pub runs: Vec<AdviceRun>,
    /// Candidates built and measured.
    pub tried: usize,
    /// Candidates measured and left out, with why (`label: reason`).
    pub rejected: Vec<String>,
    pub notes: Vec<String>,
}

impl Advice {
    /// Buffers of the reading runs (before, after).
    pub fn reads(&self) -> (u64, u64) {
        self.sum(false)
    }

    /// Buffers of the writing runs (before, after): the difference is the set's write
    /// cost.
    pub fn writes(&self) -> (u64, u64) {
        self.sum(true)
    }

    fn sum(&self, writes: bool) -> (u64, u64) {
        self.runs
            .iter()
            .filter(|r| r.writes == writes)
            .fold((0, 0), |(b, a), r| (b + r.before, a + r.after))
    }

    /// The CREATE INDEX statements, in order.
    pub fn statements(&self) -> Vec<&str> {
        self.indexes.iter().map(|i| i.statement.as_str()).collect()
    }
}
