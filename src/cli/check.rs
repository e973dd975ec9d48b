//! `dbkit check`'s flags.

use clap::Args;

use super::MigrationSourceOpts;

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  dbkit check                           # everything, on scratch databases\n  dbkit check --base 6 --format github  # CI: lint V7+, upgrade data from V6\n  dbkit check --offline                 # file checks and lint rules only\n  dbkit check --base 6 --all            # also findings already at V6"
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
    /// Print the tenancy model inferred from the migrations (and dbkit.yaml), then stop.
    #[arg(long)]
    pub explain_tenancy: bool,
}
