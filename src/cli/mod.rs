//! clap types only. Shared flag groups (`ConnectOpts`, `OutputOpts`) are flattened at
//! the top and marked global, so `--database-url` and `--format` mean the same thing
//! in every subcommand and may be given before or after it.

pub mod seed;

use clap::{Args, Parser, Subcommand};

mod check;
pub mod db;
pub mod migrate;

pub use check::CheckArgs;
pub use migrate::{MigrateAction, MigrateArgs, MigrationSourceOpts, NewArgs};

#[derive(Debug, Parser)]
#[command(
    name = "dbkit",
    version,
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

/// `--format`: the reporter's formats, plus GitHub annotations for `check`.
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
}

impl OutputFormat {
    /// The reporter's format; `None` for github.
    pub fn report(self) -> Option<crate::report::Format> {
        use crate::report::Format;
        match self {
            OutputFormat::Table => Some(Format::Table),
            OutputFormat::Markdown => Some(Format::Markdown),
            OutputFormat::Json => Some(Format::Json),
            OutputFormat::Github => None,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Manage dbkit's local PostgreSQL cluster in .dbkit/pg/.
    #[command(after_help = "Example:\n  dbkit db start && dbkit db url")]
    Db(db::DbArgs),
    /// Apply pending migrations (advisory-locked, lock_timeout guarded), or show their status.
    #[command(
        after_help = "Examples:\n  dbkit migrate                  # everything pending\n  dbkit migrate --target 3       # up to V3\n  dbkit migrate --dry-run        # what would run\n  dbkit migrate status --format json"
    )]
    Migrate(MigrateArgs),
    /// Fill a migrated database with realistic, deterministic multi-tenant rows (binary COPY).
    #[command(
        after_help = "Examples:\n  dbkit seed --orgs 50                     # about a million appointments\n  dbkit seed --orgs 5 --seed 7 --format json\n  dbkit seed --reset --yes                 # empty the tenant tables first\n  dbkit seed --to-files rows && psql \"$DATABASE_URL\" -f rows/load.sql"
    )]
    Seed(seed::SeedArgs),
    /// Create the next migration file: migrations/V<n+1>__<name>.sql, or a timestamped
    /// one in supabase/migrations.
    #[command(
        after_help = "Examples:\n  dbkit new add_reminders_table\n  dbkit new index_reminders --no-transaction"
    )]
    New(NewArgs),
    /// EXPLAIN ANALYZE the canonical booking queries as service and tenant, flag plan
    /// problems; with --before V, on a scratch database before and after the migrations.
    #[command(
        after_help = "Examples:\n  dbkit explain --before 3         # scratch DB at V3 vs the head, 50 orgs\n  dbkit explain --format markdown  # the configured database as it is\n  dbkit explain --before 3 --orgs 5 --fail-on regression --format json"
    )]
    Explain(crate::explain::ExplainArgs),
    /// Replay the report's booking load test (ramp, burst, sustained) through a connection
    /// pool: latency percentiles, pool wait, errors by SQLSTATE, and a double-booking proof.
    #[command(
        after_help = "Examples:\n  dbkit bench --scenario burst\n  dbkit bench --concurrency 10 --duration 30s --pool-size 20 --format json\n  dbkit bench --cleanup          # rows left by a run that could not clean up"
    )]
    Bench(crate::bench::BenchArgs),
    /// Gate migrations in CI: file checks, lint rules, apply on scratch databases,
    /// catalog rules and a tenant-isolation proof.
    #[command(
        after_help = "Examples:\n  dbkit check                           # everything, on scratch databases\n  dbkit check --base 6 --format github  # CI: lint V7+, upgrade data from V6\n  dbkit check --offline                 # file checks and lint rules only\n  dbkit check --base 6 --all            # also findings already at V6"
    )]
    Check(CheckArgs),
    /// Print a shell completion script.
    #[command(
        after_help = "Example:\n  dbkit completions bash > ~/.local/share/bash-completion/completions/dbkit"
    )]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// Parse `5s`, `500ms`, `2m` or a bare number of milliseconds; zero is refused.
pub fn parse_duration(raw: &str) -> Result<std::time::Duration, String> {
    let raw = raw.trim();
    let (number, unit) = match raw.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => raw.split_at(i),
        None => (raw, "ms"),
    };
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{raw}` is not a duration (try 5s or 500ms)"))?;
    match unit {
        "ms" => Ok(std::time::Duration::from_millis(n)),
        "s" => Ok(std::time::Duration::from_secs(n)),
        "m" | "min" => Ok(std::time::Duration::from_secs(n * 60)),
        _ => Err(format!("`{raw}` has an unknown unit (use ms, s or m)")),
    }
    .and_then(|d| {
        // PostgreSQL reads a zero lock_timeout / statement_timeout as "wait forever".
        if d.is_zero() {
            Err(format!(
                "`{raw}` is zero: give a positive duration (e.g. 5s)"
            ))
        } else {
            Ok(d)
        }
    })
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
