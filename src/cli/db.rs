//! `dbkit db start|stop|status|url|destroy`: the clap types.

use clap::{Args, Subcommand};

#[derive(Debug, Args)]
pub struct DbArgs {
    #[command(subcommand)]
    pub action: DbAction,
}

#[derive(Debug, Clone, Copy, Subcommand)]
pub enum DbAction {
    /// Start the local cluster (initialising it on first use). Starting twice is harmless.
    #[command(after_help = "Example:\n  dbkit db start")]
    Start,
    /// Stop the local cluster.
    #[command(after_help = "Example:\n  dbkit db stop")]
    Stop,
    /// Say whether the local cluster is running, where, and on which port.
    #[command(after_help = "Example:\n  dbkit db status --format json")]
    Status,
    /// Print the local cluster's URL (start it first with `dbkit db start`).
    #[command(after_help = "Example:\n  psql \"$(dbkit db url)\"")]
    Url,
    /// Drop the lab's templates (`dbkit_cache_*`: seeded and migrated databases kept for
    /// explain and bench --before) from the local cluster, or from --database-url.
    #[command(name = "prune-cache", after_help = "Example:\n  dbkit db prune-cache")]
    PruneCache,
    /// Stop the local cluster and delete its data directory.
    #[command(after_help = "Example:\n  dbkit db destroy --yes")]
    Destroy {
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}
