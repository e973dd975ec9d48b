//! `dbkit review`'s flags: the pull-request verdict (check, rehearse and explain
//! --before in one document).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{parse_duration, MigrationSourceOpts};
use crate::rule::Severity;

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  dbkit review --base 6 --orgs 5 --format markdown  # a PR adding V7+\n  dbkit review --base 6 --no-rehearse --no-plans    # lints and proof only"
)]
pub struct ReviewArgs {
    #[command(flatten)]
    pub source: MigrationSourceOpts,
    /// The version production is at (the last migration before the pull request's):
    /// newer migrations are linted, rehearsed and measured.
    #[arg(long, value_name = "V")]
    pub base: i64,
    /// Orgs to seed the rehearsal's and the plans' lab databases with.
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub orgs: u32,
    /// Seed profile (YAML, laid over the default) of the plans' lab database.
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// Concurrent booking clients during the rehearsal.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(0..=200))]
    pub clients: u32,
    /// The longest a migration's statement may make a booking wait.
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = parse_duration)]
    pub max_stall: Duration,
    /// Fail (exit 1) on any finding of this severity or worse.
    #[arg(long, value_name = "SEVERITY", default_value = "error", value_parser = parse_severity)]
    pub fail_on: Severity,
    /// Query files of the plans and of the rehearsal's traffic (default: ./queries, or
    /// the shipped booking queries when it does not exist).
    #[arg(long, value_name = "DIR", default_value = "queries")]
    pub queries: PathBuf,
    /// Also write the findings as SARIF 2.1.0 to FILE (one run for the comment and
    /// code scanning).
    #[arg(long, value_name = "FILE")]
    pub sarif: Option<PathBuf>,
    /// Skip the rehearsal under traffic (the verdict says it was not run).
    #[arg(long)]
    pub no_rehearse: bool,
    /// Skip the query plans before → after (the verdict says they were not measured).
    #[arg(long)]
    pub no_plans: bool,
}

/// `error`, `warning` or `info`.
pub fn parse_severity(raw: &str) -> Result<Severity, String> {
    match raw.trim() {
        "error" => Ok(Severity::Error),
        "warning" => Ok(Severity::Warning),
        "info" => Ok(Severity::Info),
        other => Err(format!(
            "`{other}` is not a severity (error, warning or info)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        args: ReviewArgs,
    }

    #[test]
    fn base_is_required_and_fail_on_is_a_severity() {
        assert!(Wrap::try_parse_from(["review"]).is_err());
        let a = Wrap::try_parse_from(["review", "--base", "6", "--fail-on", "warning"])
            .unwrap()
            .args;
        assert_eq!((a.base, a.fail_on, a.orgs), (6, Severity::Warning, 10));
        assert!(Wrap::try_parse_from(["review", "--base", "6", "--fail-on", "bad"]).is_err());
    }
}
