//! `dbkit seed`'s flags.

use std::path::PathBuf;

use chrono::NaiveDate;
use clap::Args;

use crate::seed::DEFAULT_SEED;

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  dbkit seed --orgs 50                     # about a million appointments\n  dbkit seed --orgs 5 --seed 7 --format json\n  dbkit seed --reset --yes                 # empty the tenant tables first\n  dbkit seed --to-files rows && psql \"$DATABASE_URL\" -f rows/load.sql\n  dbkit seed --print-profile > seed.yaml && dbkit seed --profile seed.yaml"
)]
pub struct SeedArgs {
    /// How many tenant orgs to create (sizes are skewed: a few large, many small).
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub orgs: u32,
    /// Seed of the generators: equal seed, orgs, profile and anchor date give identical rows.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    pub seed: u64,
    /// Profile YAML laid over the built-in fixtures/default.yaml.
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
    /// "Today" for past/future appointments (UTC). Default: the current UTC date.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub anchor_date: Option<NaiveDate>,
    /// Delete every row of the six tenant tables first (asks for confirmation).
    #[arg(long)]
    pub reset: bool,
    /// Confirm --reset without asking (for scripts).
    #[arg(long, requires = "reset")]
    pub yes: bool,
    /// Allow --reset on a database that is not on this machine.
    #[arg(long, requires = "reset")]
    pub allow_remote: bool,
    /// Write the rows as PostgreSQL binary COPY files (one per table, plus load.sql)
    /// into DIR instead of loading a database.
    #[arg(long, value_name = "DIR", conflicts_with = "reset")]
    pub to_files: Option<PathBuf>,
    /// Load with triggers off (session_replication_role = replica; needs a superuser):
    /// rows triggers would make are made by seed instead. The summary names what it skipped.
    #[arg(long)]
    pub no_triggers: bool,
    /// Write the profile dbkit derives for this database's schema (tables, rows, the
    /// weights of listed values) as YAML to start a --profile from, and seed nothing.
    #[arg(long, conflicts_with_all = ["reset", "to_files"])]
    pub print_profile: bool,
}
