//! `dbkit queries init`: the clap types.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::MigrationSourceOpts;

#[derive(Debug, Args)]
pub struct QueriesArgs {
    #[command(subcommand)]
    pub action: QueriesAction,
}

#[derive(Debug, Subcommand)]
pub enum QueriesAction {
    /// Write a starter query catalog (catalog.yaml and one commented .sql per query):
    /// derived from the schema of the project's migrations, or with --from-stats from
    /// the statements the database spent most time on (pg_stat_statements).
    #[command(
        after_help = "Examples:\n  dbkit queries init                 # from the schema, into queries/\n  dbkit queries init --from-stats --top 20 --database-url \"$STAGING_URL\"\n  dbkit queries init --out /tmp/q --force"
    )]
    Init(InitArgs),
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Read pg_stat_statements of the database (--database-url, read only) instead of
    /// deriving queries from the schema.
    #[arg(long)]
    pub from_stats: bool,
    /// With --from-stats: how many statements to take, by total time.
    #[arg(long, value_name = "N", default_value_t = 20, requires = "from_stats",
          value_parser = clap::value_parser!(u32).range(1..=500))]
    pub top: u32,
    /// Where to write the catalog.
    #[arg(long, value_name = "DIR", default_value = "queries")]
    pub out: PathBuf,
    /// Replace the files it writes when they exist.
    #[arg(long)]
    pub force: bool,
    /// Reuse (and keep) a template of the migrated schema on a server other than
    /// dbkit's local cluster, where templates are used by default.
    #[arg(long, conflicts_with = "from_stats")]
    pub cache: bool,
    #[command(flatten)]
    pub source: MigrationSourceOpts,
}
