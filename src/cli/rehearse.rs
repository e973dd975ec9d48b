//! `dbkit rehearse`'s flags.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

#[derive(Debug, Clone, Args)]
pub struct RehearseArgs {
    /// Start the lab database at version V (`3`, a Supabase timestamp; default: the
    /// version the target is at, so the target's pending migrations are rehearsed).
    #[arg(long, value_name = "V")]
    pub before: Option<crate::migrate::Version>,
    /// Orgs to seed the lab database with (50: about a million appointments).
    #[arg(long, value_name = "N", default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..))]
    pub orgs: u32,
    /// Concurrent booking clients during the rehearsal (each its own pooled connection;
    /// 0: no traffic, only the lock sampling — to measure its cost).
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u32).range(0..=200))]
    pub clients: u32,
    /// Exit 1 when any statement makes a booking wait longer than this (e.g. 2s, 500ms).
    #[arg(long, value_name = "DURATION", default_value = "2s", value_parser = super::parse_duration)]
    pub max_stall: Duration,
    /// How long the traffic is measured before the first migration (at least 5s).
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = super::parse_duration)]
    pub baseline: Duration,
    /// lock_timeout for every migration statement, as `dbkit migrate --lock-timeout`.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = super::parse_duration)]
    pub lock_timeout: Duration,
    /// Keep the lab database afterwards (its URL is printed).
    #[arg(long)]
    pub keep: bool,
    /// Reuse (and keep) a template of the seeded lab database on a server other than
    /// dbkit's local cluster, where templates are used by default (`dbkit db
    /// prune-cache` removes them).
    #[arg(long)]
    pub cache: bool,
    /// Directory of the query catalog whose mix is the traffic (as `dbkit bench
    /// --queries`; default ./queries, or queries derived from the schema; the booking
    /// catalog drives the booking transaction).
    #[arg(long, value_name = "DIR")]
    pub queries: Option<PathBuf>,
    #[command(flatten)]
    pub source: super::MigrationSourceOpts,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Wrap {
        #[command(flatten)]
        args: RehearseArgs,
    }

    #[test]
    fn defaults_match_the_issue() {
        let a = Wrap::try_parse_from(["rehearse"]).unwrap().args;
        assert_eq!((a.orgs, a.clients), (50, 5));
        assert_eq!(a.max_stall, Duration::from_secs(2));
        assert_eq!(a.baseline, Duration::from_secs(5));
        assert!(a.before.is_none() && !a.keep);
        assert!(Wrap::try_parse_from(["rehearse", "--clients", "201"]).is_err());
        assert!(Wrap::try_parse_from(["rehearse", "--max-stall", "99999999999m"]).is_err());
    }
}
