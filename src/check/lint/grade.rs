//! Size-aware severity (`dbkit check --stats-from URL`): a lint finding whose lock is
//! held for as long as PostgreSQL works through the table — an index build, a
//! validating scan, a rewrite — is graded by that table's rows and write rate in the
//! given database, with the lock's duration estimated from rates measured on dbkit's
//! seeded booking data. Without statistics the rule's own severity stands.

use crate::rule::Severity;
use crate::schema::stats::{TableSizes, TableStats};

/// What PostgreSQL does to every row while it holds the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// Builds an index (CREATE INDEX, REINDEX, ADD UNIQUE / PRIMARY KEY).
    Build,
    /// Reads the table to check it (a constraint validated, SET NOT NULL).
    Scan,
    /// Writes a new copy of the table and its indexes (a volatile default, a type
    /// change, VACUUM FULL, CLUSTER).
    Rewrite,
}

/// The lock a violation holds while it works through `table`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lock {
    pub table: String,
    pub work: Work,
}

impl Work {
    /// Rows per second, measured by `dbkit rehearse --before 6 --orgs 50` on the seeded
    /// booking data (994,662 appointments, 8 indexes) under 5 booking clients, on a busy
    /// 2-core machine (docs/commands/check.md gives the run).
    pub fn rows_per_s(self) -> f64 {
        match self {
            Work::Build => BUILD_ROWS_PER_S,
            Work::Scan => SCAN_ROWS_PER_S,
            Work::Rewrite => REWRITE_ROWS_PER_S,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Work::Build => "index build",
            Work::Scan => "validating scan",
            Work::Rewrite => "table rewrite",
        }
    }
}

// Two-column CREATE INDEX 3.8 s (260,000 rows/s; ADD UNIQUE 340,000, REINDEX 283,000:
// the slowest is kept).
const BUILD_ROWS_PER_S: f64 = 260_000.0;
// ADD CONSTRAINT … CHECK validating appointments: 0.77 s.
const SCAN_ROWS_PER_S: f64 = 1_300_000.0;
// ADD COLUMN … DEFAULT gen_random_uuid(): 318 s, the table and its 8 indexes (GiST
// exclusion included) rewritten (VACUUM FULL: 163 s, 6,100 rows/s).
const REWRITE_ROWS_PER_S: f64 = 3_100.0;

/// Under a second the lock goes unnoticed; from 10 s requests time out.
const NOTICEABLE_S: f64 = 1.0;
const OUTAGE_S: f64 = 10.0;
/// A table written this often queues requests behind even a short lock.
const BUSY_WRITES_PER_S: f64 = 50.0;

/// The severity of a finding holding `lock`, and what to say about it, given the
/// database's statistics. None: the table is not in the statistics (new, or another
/// database) — the rule's own severity stands.
pub fn grade(lock: &Lock, sizes: &TableSizes) -> Option<(Severity, String)> {
    let stats = sizes.get(&lock.table)?;
    let seconds = estimate_s(lock.work, stats);
    let severity = if seconds >= OUTAGE_S {
        Severity::Error
    } else if seconds >= NOTICEABLE_S || stats.writes_per_s >= BUSY_WRITES_PER_S {
        Severity::Warning
    } else {
        Severity::Info
    };
    let note = format!(
        "{} has {} rows ({}), {:.1} writes/s: estimated lock {} ({} at {} rows/s, measured on seeded data)",
        lock.table,
        thousands(stats.rows),
        bytes(stats.bytes),
        stats.writes_per_s,
        duration(seconds),
        lock.work.name(),
        thousands(lock.work.rows_per_s()),
    );
    Some((severity, note))
}

/// How long the lock is held on a table of these statistics.
pub fn estimate_s(work: Work, stats: &TableStats) -> f64 {
    stats.rows / work.rows_per_s()
}

fn duration(seconds: f64) -> String {
    if seconds < 1.0 {
        format!("{:.0} ms", (seconds * 1000.0).max(1.0))
    } else if seconds < 120.0 {
        format!("{seconds:.1} s")
    } else {
        format!("{:.0} min", seconds / 60.0)
    }
}

fn bytes(n: i64) -> String {
    let n = n as f64;
    match n {
        n if n >= 1e9 => format!("{:.1} GB", n / 1e9),
        n if n >= 1e6 => format!("{:.1} MB", n / 1e6),
        n => format!("{:.0} kB", n / 1e3),
    }
}

/// 10000000 → 10,000,000.
fn thousands(n: f64) -> String {
    let digits = format!("{:.0}", n.max(0.0));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes(rows: f64, writes_per_s: f64) -> TableSizes {
        let mut s = TableSizes::default();
        s.insert(
            "appointments".into(),
            TableStats {
                rows,
                bytes: (rows * 200.0) as i64,
                writes_per_s,
            },
        );
        s
    }

    fn lock(work: Work) -> Lock {
        Lock {
            table: "appointments".into(),
            work,
        }
    }

    #[test]
    fn small_tables_are_info_large_ones_errors() {
        let (small, note) = grade(&lock(Work::Build), &sizes(500.0, 0.1)).unwrap();
        assert_eq!(small, Severity::Info);
        assert!(note.contains("appointments has 500 rows"), "{note}");
        let (large, note) = grade(&lock(Work::Build), &sizes(10_000_000.0, 0.1)).unwrap();
        assert_eq!(large, Severity::Error);
        assert!(note.contains("10,000,000 rows (2.0 GB)"), "{note}");
        assert!(note.contains("estimated lock"), "{note}");
    }

    #[test]
    fn a_busy_table_is_at_least_a_warning() {
        let (busy, _) = grade(&lock(Work::Scan), &sizes(500.0, 200.0)).unwrap();
        assert_eq!(busy, Severity::Warning);
    }

    #[test]
    fn unknown_tables_keep_the_rule_severity() {
        let other = Lock {
            table: "rooms".into(),
            work: Work::Build,
        };
        assert_eq!(grade(&other, &sizes(500.0, 0.0)), None);
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(thousands(1234567.0), "1,234,567");
        assert_eq!(thousands(12.0), "12");
        assert_eq!(duration(0.0004), "1 ms");
        assert_eq!(duration(12.34), "12.3 s");
        assert_eq!(duration(600.0), "10 min");
    }
}
