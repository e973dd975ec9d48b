//! `dbkit check`'s flags.

use std::time::Duration;

use clap::Args;

use super::MigrationSourceOpts;

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  dbkit check                           # everything, on scratch databases\n  dbkit check --base 6 --format github  # CI: lint V7+, upgrade data from V6\n  dbkit check --offline                 # file checks and lint rules only\n  dbkit check --base 6 --all            # also findings already at V6\n  dbkit check --base 6 --stats-from \"$PROD_RO_URL\"   # graded by size"
)]
pub struct CheckArgs {
    #[command(flatten)]
    pub source: MigrationSourceOpts,
    /// The version production is at: lint only newer migrations, apply them on a
    /// scratch database migrated to this version and seeded with a few orgs, and
    /// report only the catalog findings they introduce.
    #[arg(long, value_name = "V")]
    pub base: Option<i64>,
    /// With --base: also show the catalog findings already present at the base.
    #[arg(long, requires = "base")]
    pub all: bool,
    /// File checks and lint rules only: no database needed.
    #[arg(long)]
    pub offline: bool,
    /// Keep the scratch databases for inspection (their names go to stderr).
    #[arg(long)]
    pub keep: bool,
    /// Also list the statements lint rules could not read (sqlparser could not parse
    /// them; PostgreSQL is the judge when applying).
    #[arg(long, short)]
    pub verbose: bool,
    /// A production or staging database (read only: pg_class, pg_stat_user_tables) whose
    /// table sizes and write rates grade the lock-taking lint findings, each with its
    /// estimated lock duration: info on a small table, error on a large one.
    #[arg(long, value_name = "URL")]
    pub stats_from: Option<String>,
    /// Print the tenancy model inferred from the migrations (and dbkit.yaml), then stop.
    #[arg(long)]
    pub explain_tenancy: bool,
    /// Also rehearse the pending migrations under booking traffic (`dbkit rehearse`,
    /// from --base, else from the version the target is at): a statement that stalls
    /// the bookings beyond --max-stall, or a migration that fails under them, fails
    /// the gate.
    #[arg(long, conflicts_with = "offline")]
    pub rehearse: bool,
    /// With --rehearse: orgs to seed the rehearsal's lab database with.
    #[arg(long, value_name = "N", default_value_t = 50, requires = "rehearse", value_parser = clap::value_parser!(u32).range(1..))]
    pub orgs: u32,
    /// With --rehearse: concurrent booking clients.
    #[arg(long, value_name = "N", default_value_t = 5, requires = "rehearse", value_parser = clap::value_parser!(u32).range(0..=200))]
    pub clients: u32,
    /// With --rehearse: the longest wait a statement may make a booking wait.
    #[arg(long, value_name = "DURATION", default_value = "2s", requires = "rehearse", value_parser = super::parse_duration)]
    pub max_stall: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        args: CheckArgs,
    }

    #[test]
    fn rehearsal_flags_need_rehearse_and_a_database() {
        let a =
            Wrap::try_parse_from(["check", "--rehearse", "--orgs", "2", "--max-stall", "500ms"])
                .unwrap()
                .args;
        assert!(a.rehearse);
        assert_eq!((a.orgs, a.clients), (2, 5));
        assert_eq!(a.max_stall, Duration::from_millis(500));
        assert!(Wrap::try_parse_from(["check", "--orgs", "2"]).is_err());
        assert!(Wrap::try_parse_from(["check", "--rehearse", "--offline"]).is_err());
    }
}
