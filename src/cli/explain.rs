//! `dbkit explain`'s flags, and how `--fail-on` items are parsed (rule ids from
//! `crate::rule`'s plan family, or `regression`).

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::Args;

use super::{at_least_one, parse_duration, MigrationSourceOpts};
use crate::explain::FailOn;
use crate::migrate::Version;

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  dbkit explain --before 3         # scratch DB at V3 vs the head, 50 orgs\n  dbkit explain --format markdown  # the configured database as it is\n  dbkit explain --before 20240101120000 --orgs 5  # a Supabase version\n  dbkit explain --write-migration add_indexes  # as the next migration\n  dbkit explain --before 3 --orgs 5 --fail-on regression --format json\n  dbkit explain --advise --write-migration add_indexes  # a verified set"
)]
pub struct ExplainArgs {
    /// Directory with catalog.yaml and one .sql file per query (default: ./queries; in
    /// a project without one, queries derived from the schema — `dbkit queries init`
    /// writes them —, and the shipped booking queries for the built-in schema).
    #[arg(long, value_name = "DIR")]
    pub queries: Option<PathBuf>,
    #[command(flatten)]
    pub source: MigrationSourceOpts,
    /// Explain on a scratch database migrated to V and seeded, then again after
    /// migrating it to the head, and print the difference. V is any version of the
    /// migrations (`3`, `V3`, a Supabase timestamp). The target database's data is
    /// never touched.
    #[arg(long, value_name = "V")]
    pub before: Option<Version>,
    /// Orgs to seed the scratch database with (--before only).
    #[arg(long, default_value_t = 50, requires = "before", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub orgs: u32,
    /// Seed of the generator (--before only); equal seeds give equal data.
    #[arg(long, default_value_t = 42, requires = "before")]
    pub seed: u64,
    /// Seed profile (YAML, laid over the default) for the scratch database (--before only).
    #[arg(long, value_name = "FILE", requires = "before")]
    pub profile: Option<PathBuf>,
    /// Keep the scratch database instead of dropping it (--before only).
    #[arg(long, requires = "before")]
    pub keep: bool,
    /// Reuse (and keep) templates of the lab's builds on a server other than dbkit's
    /// local cluster, where they are used by default (`dbkit db prune-cache` removes them).
    #[arg(long, requires = "before")]
    pub cache: bool,
    /// Measured runs per query, org and role after a warm-up; the median is reported.
    #[arg(long, default_value_t = 5, value_name = "K", value_parser = at_least_one)]
    pub runs: usize,
    /// Time for one query × org × role, warm-up included; slow queries get fewer than
    /// K runs (at least one) so per-row RLS at a million rows does not take minutes.
    #[arg(long, default_value = "500ms", value_parser = parse_duration, value_name = "DURATION")]
    pub budget: Duration,
    /// statement_timeout for every explained statement.
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub statement_timeout: Duration,
    /// Only these queries (names from catalog.yaml).
    #[arg(long, value_delimiter = ',', value_name = "NAME,...")]
    pub only: Vec<String>,
    /// Exit 1 when any of these rules fire (in the last phase), or on `regression`: a
    /// new seq-scan / rls-per-row, or buffers up > 20 % on any query (--before).
    #[arg(long, value_delimiter = ',', value_name = "RULE,...|regression")]
    pub fail_on: Vec<FailOn>,
    /// Sequential scans reading fewer rows than this are not flagged.
    #[arg(long, default_value_t = 1000, value_name = "ROWS")]
    pub seq_scan_min_rows: u64,
    /// Advise one index set for the whole catalog, verified by measurement: candidates
    /// (filters, joins, ORDER BY, constant predicates as partial indexes, the tenant's
    /// RLS filter) are built for real on a lab copy of the database the last phase ran
    /// on (with --before, its head), and kept only where measured buffers drop and no
    /// query reads more. The target database is never changed.
    #[arg(long)]
    pub advise: bool,
    /// Do not cost hypothetical indexes (hypopg).
    #[arg(long)]
    pub no_index_suggestions: bool,
    /// Write each run's median plan (EXPLAIN's JSON) to DIR/{phase}_{query}_{org}_{role}.json.
    #[arg(long, value_name = "DIR")]
    pub save_plans: Option<PathBuf>,
    /// Write the suggested indexes as the next migration of the project (its own
    /// layout, no-transaction, CREATE INDEX CONCURRENTLY); NAME defaults to
    /// `explain_indexes`.
    #[arg(long, value_name = "NAME", num_args = 0..=1, default_missing_value = "explain_indexes")]
    pub write_migration: Option<String>,
    /// Connections used in parallel.
    #[arg(long, default_value_t = 2, value_name = "N", value_parser = at_least_one)]
    pub jobs: usize,
}

impl FromStr for FailOn {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim() == "regression" {
            return Ok(FailOn::Regression);
        }
        crate::rule::Rule::parse_in(s, &[crate::rule::Family::Plan])
            .map(FailOn::Rule)
            .map_err(|e| format!("{e}, or regression"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::Rule;

    #[test]
    fn fail_on_parses_rules_and_regression() {
        assert_eq!(
            "seq-scan".parse::<FailOn>().unwrap(),
            FailOn::Rule(Rule::SeqScan)
        );
        assert_eq!("regression".parse::<FailOn>().unwrap(), FailOn::Regression);
        let err = "slow".parse::<FailOn>().unwrap_err();
        assert!(
            err.contains("unknown rule `slow`") && err.ends_with("or regression"),
            "{err}"
        );
    }
}
