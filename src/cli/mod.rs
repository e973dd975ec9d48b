//! clap types only. Shared flag groups (`ConnectOpts`, `OutputOpts`) are flattened at
//! the top and marked global, so `--database-url` and `--format` mean the same thing
//! in every subcommand and may be given before or after it.

pub mod seed;

use clap::{Args, Parser, Subcommand};

pub mod bench;
mod check;
pub mod db;
pub mod explain;
pub mod migrate;
pub mod rehearse;
pub mod review;
mod rules;

pub use check::CheckArgs;
pub use explain::ExplainArgs;
pub use migrate::{MigrateAction, MigrateArgs, MigrationSourceOpts, NewArgs};
pub use rules::RulesArgs;

/// `dbkit --version`: the crate's version and the commit it was built from (build.rs).
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (", env!("DBKIT_COMMIT"), ")");

#[derive(Debug, Parser)]
#[command(
    name = "dbkit",
    version = VERSION,
    about = "Migrate, seed, explain, check and bench the PostgreSQL database behind a multi-tenant booking service",
    after_help = "Example:\n  dbkit migrate && dbkit migrate status   # on dbkit's own local cluster"
)]
pub struct Cli {
    #[command(flatten)]
    pub connect: ConnectOpts,
    #[command(flatten)]
    pub output: OutputOpts,
    #[command(subcommand)]
    pub command: Command,
}

/// Which database to work on.
#[derive(Debug, Clone, Args, Default)]
pub struct ConnectOpts {
    /// PostgreSQL URL (postgres://user:pass@host:port/db?sslmode=require). Default:
    /// DATABASE_URL from the environment or .env, else dbkit's local cluster in .dbkit/pg/.
    #[arg(long, global = true, value_name = "URL")]
    pub database_url: Option<String>,
}

/// How to print results.
#[derive(Debug, Clone, Args)]
pub struct OutputOpts {
    /// Output format.
    #[arg(long, global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub format: OutputFormat,
}

/// `--format`: the reporter's formats, plus GitHub annotations for `check` and SARIF
/// for the commands that report rule findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Default)]
pub enum OutputFormat {
    /// Aligned table for a terminal.
    #[default]
    Table,
    /// Markdown, fit for a pull-request comment.
    Markdown,
    /// Stable JSON for machines.
    Json,
    /// GitHub Actions workflow annotations (`dbkit check` only; a usage error elsewhere).
    Github,
    /// SARIF 2.1.0 for code scanning (check, explain, rehearse and review).
    Sarif,
}

impl OutputFormat {
    /// The reporter's format; `None` for github and sarif, which only some commands have.
    pub fn report(self) -> Option<crate::report::Format> {
        use crate::report::Format;
        match self {
            OutputFormat::Table => Some(Format::Table),
            OutputFormat::Markdown => Some(Format::Markdown),
            OutputFormat::Json => Some(Format::Json),
            OutputFormat::Github | OutputFormat::Sarif => None,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Manage dbkit's local PostgreSQL cluster in .dbkit/pg/.
    #[command(after_help = "Example:\n  dbkit db start && dbkit db url")]
    Db(db::DbArgs),
    /// Apply pending migrations (advisory-locked, lock_timeout guarded), or show their status.
    Migrate(MigrateArgs),
    /// Fill a migrated database with realistic, deterministic multi-tenant rows (binary COPY).
    Seed(seed::SeedArgs),
    /// Create the next migration file: migrations/V<n+1>__<name>.sql, or a timestamped
    /// one in supabase/migrations.
    New(NewArgs),
    /// EXPLAIN ANALYZE the canonical booking queries as service and tenant, flag plan
    /// problems; with --before V, on a scratch database before and after the migrations.
    Explain(ExplainArgs),
    /// Replay the report's booking load test (ramp, burst, sustained) through a connection
    /// pool: latency percentiles, pool wait, errors by SQLSTATE, and a double-booking proof.
    Bench(bench::BenchArgs),
    /// Apply the pending migrations to a seeded lab database under live booking traffic
    /// and measure, per statement, the locks taken and the stall the traffic saw.
    #[command(
        after_help = "Examples:\n  dbkit rehearse --before 3 --orgs 5\n  dbkit rehearse --max-stall 500ms --format markdown"
    )]
    Rehearse(rehearse::RehearseArgs),
    /// Gate migrations in CI: file checks, lint rules, apply on scratch databases,
    /// catalog rules and a tenant-isolation proof.
    Check(CheckArgs),
    /// List every rule dbkit reports, or print one rule's page (what it catches, why,
    /// bad and good SQL, how to suppress it).
    Rules(RulesArgs),
    /// The pull-request verdict: check's findings, the isolation proof, each new
    /// migration rehearsed under traffic and the query plans before → after, in one
    /// document (markdown for a PR comment, or SARIF).
    Review(review::ReviewArgs),
    /// Print a shell completion script.
    #[command(
        after_help = "Example:\n  dbkit completions bash > ~/.local/share/bash-completion/completions/dbkit"
    )]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// The longest duration any flag accepts: 7 days (far beyond any timeout or run, and
/// within PostgreSQL's lock_timeout range and `Instant` arithmetic).
const MAX_DURATION_MS: u64 = 7 * 24 * 3_600_000;

/// Parse `5s`, `500ms`, `2m` or a bare number of milliseconds; zero and more than
/// 7 days are refused.
pub fn parse_duration(raw: &str) -> Result<std::time::Duration, String> {
    let raw = raw.trim();
    let (number, unit) = match raw.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => raw.split_at(i),
        None => (raw, "ms"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{raw}` is not a duration (try 5s or 500ms)"))?;
    let per_unit_ms: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" | "min" => 60_000,
        _ => return Err(format!("`{raw}` has an unknown unit (use ms, s or m)")),
    };
    // Checked: `18446744073709551615s` or a large minute count must not wrap or panic.
    let ms = n
        .checked_mul(per_unit_ms)
        .filter(|&ms| ms <= MAX_DURATION_MS)
        .ok_or_else(|| format!("`{raw}` is too long (at most 7 days, e.g. 10m)"))?;
    // PostgreSQL reads a zero lock_timeout / statement_timeout as "wait forever".
    if ms == 0 {
        return Err(format!(
            "`{raw}` is zero: give a positive duration (e.g. 5s)"
        ));
    }
    Ok(std::time::Duration::from_millis(ms))
}

/// A count that must be at least 1 (`--runs`, `--jobs`): 0 is a usage error, not a
/// silent 1.
pub fn at_least_one(raw: &str) -> Result<usize, String> {
    match raw.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{raw}` is not a whole number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s").unwrap().as_millis(), 5000);
        assert_eq!(parse_duration("250ms").unwrap().as_millis(), 250);
        assert_eq!(parse_duration("300").unwrap().as_millis(), 300);
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("0").is_err());
        assert!(parse_duration("0s").is_err());
        assert_eq!(parse_duration("2m").unwrap().as_secs(), 120);
        assert!(parse_duration("18446744073709551615s").is_err());
        assert!(parse_duration("307445734561825861m").is_err());
        assert!(parse_duration("10081m").is_err());
        assert_eq!(parse_duration("10080m").unwrap().as_secs(), 7 * 24 * 3600);
    }

    /// Every command and nested subcommand ends its help with an example that fits an
    /// 80-column terminal (a wrapped example is not a command one can paste).
    #[test]
    fn every_help_ends_with_an_example_that_fits() {
        use clap::CommandFactory;
        fn walk(cmd: &clap::Command, path: String) {
            if cmd.get_name() != "help" {
                let after = cmd
                    .get_after_help()
                    .map(|h| h.to_string())
                    .unwrap_or_default();
                assert!(after.starts_with("Example"), "`{path}` has no example");
                for line in after.lines() {
                    assert!(line.chars().count() <= 78, "`{path}`: too wide: {line}");
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, format!("{path} {}", sub.get_name()));
            }
        }
        walk(&Cli::command(), "dbkit".into());
    }

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
