//! What a phase measured: HDR histograms of end-to-end latency, pool wait and query
//! time (microseconds), outcome counts and errors by SQLSTATE, and the summary row that
//! the report prints. Pure, no database.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// One hour in microseconds: the largest latency a histogram records (larger values saturate).
const MAX_MICROS: u64 = 3_600_000_000;

/// A latency histogram in microseconds, 3 significant figures.
#[derive(Debug, Clone)]
pub struct Latencies(Histogram<u64>);

impl Default for Latencies {
    fn default() -> Self {
        Latencies(Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("valid histogram bounds"))
    }
}

impl Latencies {
    pub fn record(&mut self, d: Duration) {
        let micros = (d.as_micros() as u64).clamp(1, MAX_MICROS);
        self.0.saturating_record(micros);
    }

    pub fn merge(&mut self, other: &Latencies) {
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.0.add(&other.0);
    }

    pub fn len(&self) -> u64 {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The q-quantile (0..=1) in milliseconds; 0 when nothing was recorded.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        self.0.value_at_quantile(q) as f64 / 1000.0
    }

    pub fn max_ms(&self) -> f64 {
        self.0.max() as f64 / 1000.0
    }

    pub fn mean_ms(&self) -> f64 {
        self.0.mean() / 1000.0
    }
}

/// How one booking transaction ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The appointment was inserted and committed.
    Booked(uuid::Uuid),
    /// The slot is taken: a business answer, not an error.
    SlotTaken(Taken),
    /// The provider or contact did not validate for the org (should not happen with
    /// parameters drawn from the data; counted as an error `invalid`).
    Invalid,
    /// A database error that leaves the connection usable, by SQLSTATE.
    Error(String),
    /// A catalog query that ran (bench's mix, rehearse's traffic on any catalog).
    Done,
}

/// Who said the slot was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// The conflict check found an overlapping appointment.
    ConflictCheck,
    /// The check passed, but the exclusion constraint refused the INSERT (23P01): a
    /// concurrent booking of the same slot got there first.
    Constraint,
    /// Two concurrent INSERTs of the same slot waited for each other in the exclusion
    /// check; PostgreSQL aborted this one (40P01, after deadlock_timeout) and the other
    /// booked the slot.
    Deadlock,
}

/// Everything a phase (or a merge of phases) measured.
#[derive(Debug, Clone, Default)]
pub struct PhaseStats {
    pub booked: u64,
    pub slot_taken: u64,
    /// The part of `slot_taken` refused by the exclusion constraint (a race the
    /// conflict check alone would have let through).
    pub slot_taken_by_constraint: u64,
    /// The part of `slot_taken` that lost a deadlock between two inserts of the slot.
    pub slot_taken_by_deadlock: u64,
    pub errors: BTreeMap<String, u64>,
    /// Pool checkout to COMMIT answered (what the caller of the handler waits for).
    pub latency: Latencies,
    /// Waiting for a pooled connection.
    pub pool_wait: Latencies,
    /// The transaction itself, from BEGIN to COMMIT.
    pub query: Latencies,
    /// Wall time of the phase.
    pub elapsed: Duration,
}

impl PhaseStats {
    pub fn record(&mut self, outcome: &Outcome, pool_wait: Duration, query: Duration) {
        self.pool_wait.record(pool_wait);
        self.query.record(query);
        self.latency.record(pool_wait + query);
        match outcome {
            Outcome::Booked(_) => self.booked += 1,
            Outcome::SlotTaken(taken) => {
                self.slot_taken += 1;
                match taken {
                    Taken::ConflictCheck => {}
                    Taken::Constraint => self.slot_taken_by_constraint += 1,
                    Taken::Deadlock => self.slot_taken_by_deadlock += 1,
                }
            }
            Outcome::Invalid => *self.errors.entry("invalid".into()).or_default() += 1,
            Outcome::Error(code) => *self.errors.entry(code.clone()).or_default() += 1,
            Outcome::Done => {}
        }
    }

    /// Add another client's (or batch's) measurements. Elapsed times add up, which is
    /// right for batches run one after another; a phase sets its own wall time.
    pub fn merge(&mut self, other: &PhaseStats) {
        self.booked += other.booked;
        self.slot_taken += other.slot_taken;
        self.slot_taken_by_constraint += other.slot_taken_by_constraint;
        self.slot_taken_by_deadlock += other.slot_taken_by_deadlock;
        for (code, n) in &other.errors {
            *self.errors.entry(code.clone()).or_default() += n;
        }
        self.latency.merge(&other.latency);
        self.pool_wait.merge(&other.pool_wait);
        self.query.merge(&other.query);
        self.elapsed += other.elapsed;
    }

    pub fn requests(&self) -> u64 {
        self.latency.len()
    }

    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    pub fn summary(&self, name: &str, concurrency: usize) -> ScenarioSummary {
        let secs = self.elapsed.as_secs_f64();
        let requests = self.requests();
        ScenarioSummary {
            name: name.to_string(),
            concurrency,
            requests,
            booked: self.booked,
            slot_taken: self.slot_taken,
            slot_taken_by_constraint: self.slot_taken_by_constraint,
            slot_taken_by_deadlock: self.slot_taken_by_deadlock,
            errors: self.error_count(),
            errors_by_sqlstate: self.errors.clone(),
            p50_ms: round3(self.latency.quantile_ms(0.50)),
            p95_ms: round3(self.latency.quantile_ms(0.95)),
            p99_ms: round3(self.latency.quantile_ms(0.99)),
            max_ms: round3(self.latency.max_ms()),
            mean_ms: round3(self.latency.mean_ms()),
            throughput_rps: if secs > 0.0 {
                round3(requests as f64 / secs)
            } else {
                0.0
            },
            pool_wait_p95_ms: round3(self.pool_wait.quantile_ms(0.95)),
            query_p95_ms: round3(self.query.quantile_ms(0.95)),
            duration_s: round3(secs),
        }
    }
}

/// One row of the report (JSON field names per DESIGN.md, plus extras).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ScenarioSummary {
    pub name: String,
    pub concurrency: usize,
    pub requests: u64,
    pub booked: u64,
    pub slot_taken: u64,
    pub slot_taken_by_constraint: u64,
    pub slot_taken_by_deadlock: u64,
    pub errors: u64,
    pub errors_by_sqlstate: BTreeMap<String, u64>,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
    pub throughput_rps: f64,
    pub pool_wait_p95_ms: f64,
    pub query_p95_ms: f64,
    pub duration_s: f64,
}

impl ScenarioSummary {
    /// Errors as a share of requests (0..=1).
    pub fn error_rate(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.errors as f64 / self.requests as f64
        }
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn percentiles_come_from_the_histogram() {
        let mut s = PhaseStats::default();
        for i in 1..=100 {
            s.record(&Outcome::SlotTaken(Taken::ConflictCheck), ms(0), ms(i));
        }
        s.elapsed = Duration::from_secs(2);
        let row = s.summary("burst", 30);
        assert_eq!(row.requests, 100);
        assert!((row.p50_ms - 50.0).abs() < 0.1, "{}", row.p50_ms);
        assert!((row.p95_ms - 95.0).abs() < 0.1, "{}", row.p95_ms);
        assert!((row.p99_ms - 99.0).abs() < 0.1, "{}", row.p99_ms);
        assert!((row.max_ms - 100.0).abs() < 0.1);
        assert_eq!(row.throughput_rps, 50.0);
        assert_eq!(row.slot_taken, 100);
        assert_eq!(row.errors, 0);
    }

    #[test]
    fn pool_wait_is_measured_apart_from_query_time() {
        let mut s = PhaseStats::default();
        s.record(&Outcome::Booked(uuid::Uuid::nil()), ms(40), ms(10));
        let row = s.summary("x", 1);
        assert!((row.pool_wait_p95_ms - 40.0).abs() < 0.1);
        assert!((row.query_p95_ms - 10.0).abs() < 0.1);
        assert!((row.p95_ms - 50.0).abs() < 0.1, "latency is wait + query");
    }

    #[test]
    fn errors_are_counted_by_sqlstate_and_merge() {
        let mut a = PhaseStats::default();
        a.record(&Outcome::Error("40001".into()), ms(0), ms(1));
        a.record(&Outcome::Booked(uuid::Uuid::nil()), ms(0), ms(1));
        let mut b = PhaseStats::default();
        b.record(&Outcome::Error("40001".into()), ms(0), ms(1));
        b.record(&Outcome::Error("40P01".into()), ms(0), ms(1));
        a.merge(&b);
        let row = a.summary("x", 2);
        assert_eq!(row.errors, 3);
        assert_eq!(row.errors_by_sqlstate["40001"], 2);
        assert_eq!(row.errors_by_sqlstate["40P01"], 1);
        assert_eq!(row.requests, 4);
        assert!((row.error_rate() - 0.75).abs() < 1e-9);
    }

    #[test]
    fn empty_phase_reports_zeros() {
        let row = PhaseStats::default().summary("x", 1);
        assert_eq!(
            (row.requests, row.p95_ms, row.throughput_rps),
            (0, 0.0, 0.0)
        );
    }
}
