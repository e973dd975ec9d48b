//! clap types of `dbkit migrate` and `dbkit new`, and the `--migrations` group other
//! commands flatten; `options()` turns them into the engine's plain options.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::parse_duration;
use crate::migrate::{NewOptions, Platform, SourceOptions, Version};

/// Where the migration files are, and the platform they assume.
#[derive(Debug, Clone, Args)]
pub struct MigrationSourceOpts {
    /// Directory of V<n>__<name>.sql files, or of Supabase's <timestamp>_<name>.sql.
    /// Default: ./migrations, else ./supabase/migrations, else the built-in booking schema.
    #[arg(long, global = true, value_name = "DIR", default_value = "migrations")]
    pub migrations: PathBuf,
    /// The platform the migrations assume: `supabase` provides Supabase's roles, auth,
    /// storage and own extensions (stubs) where they are missing — on a plain
    /// PostgreSQL named by --database-url too (never on a Supabase project's database).
    /// Implied for the Supabase CLI's layout on dbkit's own databases.
    #[arg(long, global = true, value_name = "PLATFORM", value_enum)]
    pub platform: Option<PlatformArg>,
}

/// `--platform` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PlatformArg {
    Supabase,
}

impl MigrationSourceOpts {
    /// The engine's plain options.
    pub fn options(&self) -> SourceOptions {
        SourceOptions {
            dir: self.migrations.clone(),
            platform: self.platform.map(|p| match p {
                PlatformArg::Supabase => Platform::Supabase,
            }),
        }
    }
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  dbkit migrate                  # everything pending\n  dbkit migrate --target 3       # up to V3\n  dbkit migrate --dry-run        # what would run\n  dbkit migrate status --format json"
)]
pub struct MigrateArgs {
    #[command(subcommand)]
    pub action: Option<MigrateAction>,
    #[command(flatten)]
    pub source: MigrationSourceOpts,
    /// Migrate up to this version only (V<n>'s number, or a Supabase timestamp).
    #[arg(long, value_name = "VERSION")]
    pub target: Option<Version>,
    /// Print what would run, change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// lock_timeout for every migration statement (e.g. 5s, 500ms); a migration that
    /// cannot get its lock in time is retried a few times, then fails.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub lock_timeout: std::time::Duration,
    /// How long to wait for another `dbkit migrate` holding the migration lock on the
    /// same database before giving up (exit 2).
    #[arg(long, value_name = "DURATION", default_value = "10m", value_parser = parse_duration)]
    pub lock_wait: std::time::Duration,
}

#[derive(Debug, Clone, Copy, Subcommand)]
pub enum MigrateAction {
    /// Every migration with its state: applied, pending, divergent or missing.
    #[command(after_help = "Example:\n  dbkit migrate status --format json")]
    Status,
}

#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  dbkit new add_reminders_table\n  dbkit new index_reminders --no-transaction"
)]
pub struct NewArgs {
    /// snake_case name of the change, e.g. add_reminders_table.
    pub name: String,
    #[command(flatten)]
    pub source: MigrationSourceOpts,
    /// Start the file with `-- dbkit:no-transaction` (for CREATE INDEX CONCURRENTLY).
    #[arg(long)]
    pub no_transaction: bool,
}

impl NewArgs {
    pub fn options(&self) -> NewOptions {
        NewOptions {
            name: self.name.clone(),
            source: self.source.options(),
            no_transaction: self.no_transaction,
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// clap once read `{n}` as a line break: every help naming the file pattern keeps it
    /// on one line.
    #[test]
    fn file_patterns_print_on_one_line() {
        let mut cli = crate::cli::Cli::command();
        for path in [
            &["migrate"][..],
            &["new"],
            &["check"],
            &["explain"],
            &["bench"],
        ] {
            let mut cmd = cli.clone();
            for name in path {
                cmd = cmd.find_subcommand_mut(name).expect("subcommand").clone();
            }
            let help = cmd.render_long_help().to_string();
            assert!(help.contains("V<n>__<name>.sql"), "{path:?}: {help}");
            assert!(!help.contains("Directory of V\n"), "{path:?}: {help}");
        }
        let help = cli.render_long_help().to_string();
        assert!(!help.contains("{n"), "{help}");
    }
}
