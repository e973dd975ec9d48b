//! `dbkit bench`'s flags, and how they become the engine's plain `BenchOptions`: the
//! phases to run (a scenario of the report, or one custom phase) and the usage checks
//! on numbers (a NaN budget, a ratio outside 0..1).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::bench::mix::MixPhase;
use crate::bench::scenario::{self, Phase, Scenario, Stop};
use crate::explain::rules::Role;
use crate::migrate::Version;

/// `--as`: the role the mix runs as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    Tenant,
    Service,
}

impl From<RoleArg> for Role {
    fn from(arg: RoleArg) -> Role {
        match arg {
            RoleArg::Tenant => Role::Tenant,
            RoleArg::Service => Role::Service,
        }
    }
}

/// How long the mix runs when neither --duration nor --requests is given.
pub const DEFAULT_MIX_DURATION: Duration = Duration::from_secs(10);

/// The report's scenarios, as `--scenario` spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScenarioArg {
    /// 1, then 5, then 10 concurrent clients (the report's ramp-up test).
    Ramp,
    /// 30 clients released at the same instant (the report's burst test).
    Burst,
    /// 5 batches of 10 concurrent clients, one after the other (the report's sustained test).
    Sustained,
    /// ramp, burst and sustained in that order.
    All,
}

impl From<ScenarioArg> for Scenario {
    fn from(arg: ScenarioArg) -> Scenario {
        match arg {
            ScenarioArg::Ramp => Scenario::Ramp,
            ScenarioArg::Burst => Scenario::Burst,
            ScenarioArg::Sustained => Scenario::Sustained,
            ScenarioArg::All => Scenario::All,
        }
    }
}

#[derive(Debug, Clone, Args)]
#[command(
    after_help = "Examples:\n  dbkit bench --scenario burst\n  dbkit bench --concurrency 10 --duration 30s --pool-size 20 --format json\n  dbkit bench --mix --rate 200 --duration 30s --as tenant\n  dbkit bench --cleanup          # rows left by a run that could not clean up"
)]
pub struct BenchArgs {
    /// Load shape from the phase-6 report (default: all; the booking catalog only).
    #[arg(long, value_enum, conflicts_with_all = ["concurrency", "duration", "requests", "mix", "rate"])]
    pub scenario: Option<ScenarioArg>,
    /// Run the catalog's weighted mix of queries (catalog.yaml `weight`, default equal)
    /// instead of the booking transaction: the default for any catalog but the booking
    /// service's (a project's queries/, or queries derived from its schema).
    #[arg(long)]
    pub mix: bool,
    /// Open loop, like pgbench -R: this many requests per second in all, on a Poisson
    /// schedule; latency counts from the scheduled start (the mix only).
    #[arg(long, value_name = "PER_SECOND", value_parser = positive_rate)]
    pub rate: Option<f64>,
    /// Who sends the mix's queries: `tenant` (role authenticated and the tenant's JWT
    /// claims, as PostgREST) or `service` (the connecting role).
    #[arg(long = "as", value_enum, default_value_t = RoleArg::Tenant, value_name = "ROLE")]
    pub role: RoleArg,
    /// Tenants the mix's traffic is spread over (the largest ones, weighted by size).
    #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub tenants: u32,
    /// One custom phase with N concurrent clients (with --duration or --requests).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub concurrency: Option<u32>,
    /// How long the custom phase runs (e.g. 30s).
    #[arg(long, value_name = "DURATION", value_parser = super::parse_duration, conflicts_with = "requests")]
    pub duration: Option<Duration>,
    /// How many transactions the custom phase runs in total.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub requests: Option<u64>,
    /// Transactions per client in each scenario phase (at least 100 per phase).
    #[arg(long, value_name = "N", default_value_t = scenario::DEFAULT_REQUESTS_PER_CLIENT,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub requests_per_client: u64,
    /// Connections in the pool (the report's suspect: 10).
    #[arg(long, value_name = "N", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub pool_size: u32,
    /// Exit 1 when any scenario's p95 latency exceeds this, or errors exceed 1%.
    #[arg(long, value_name = "MS", default_value_t = 500.0, value_parser = positive_ms)]
    pub budget_p95_ms: f64,
    /// Share of requests aimed at a few hot slots per org, so that they collide (0..1).
    #[arg(long, value_name = "RATIO", default_value_t = 0.1, value_parser = ratio)]
    pub collide_ratio: f64,
    /// Seed of the request streams (same seed, same data: same requests).
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Directory of canonical query files (catalog.yaml + *.sql) to take the booking
    /// statements from: provider_contact_validation, provider_conflict_check,
    /// booking_insert (default: ./queries when it exists, else the catalog shipped in the
    /// binary — as explain).
    #[arg(long, value_name = "DIR")]
    pub queries: Option<PathBuf>,
    /// Measure before and after: on a scratch database migrated to version V (`3`, a
    /// Supabase timestamp) and seeded, then on the same database migrated to the head
    /// (the target is not touched).
    #[arg(long, value_name = "V", conflicts_with = "cleanup")]
    pub before: Option<Version>,
    /// Orgs to seed the --before scratch database with.
    #[arg(long, value_name = "N", default_value_t = 50, requires = "before")]
    pub orgs: u32,
    /// Keep the --before scratch database (its URL is printed).
    #[arg(long, requires = "before")]
    pub keep: bool,
    /// Reuse (and keep) templates of the lab's builds on a server other than dbkit's
    /// local cluster, where they are used by default (`dbkit db prune-cache` removes them).
    #[arg(long, requires = "before")]
    pub cache: bool,
    #[command(flatten)]
    pub source: super::MigrationSourceOpts,
    /// Remove appointments left behind by earlier bench runs that could not clean up, and exit.
    #[arg(long, conflicts_with_all = ["scenario", "concurrency", "duration", "requests"])]
    pub cleanup: bool,
}

impl BenchArgs {
    /// The phases to run.
    pub fn phases(&self) -> Vec<Phase> {
        if self.concurrency.is_some() || self.duration.is_some() || self.requests.is_some() {
            let concurrency = self.concurrency.unwrap_or(10) as usize;
            let stop = match (self.duration, self.requests) {
                (Some(d), _) => Stop::Duration(d),
                (None, Some(n)) => Stop::Requests(n),
                (None, None) => {
                    Stop::Requests((concurrency as u64 * self.requests_per_client).max(100))
                }
            };
            return vec![scenario::custom(concurrency, stop)];
        }
        scenario::phases(
            self.scenario.map(Scenario::from).unwrap_or(Scenario::All),
            self.requests_per_client.max(1),
        )
    }
}

impl BenchArgs {
    /// The mix's one phase: `--concurrency` clients (10) until `--duration` (10 s) or
    /// `--requests`, at `--rate` when given.
    pub fn mix_phase(&self) -> MixPhase {
        MixPhase {
            concurrency: self.concurrency.unwrap_or(10) as usize,
            stop: match (self.duration, self.requests) {
                (Some(d), _) => Stop::Duration(d),
                (None, Some(n)) => Stop::Requests(n),
                (None, None) => Stop::Duration(DEFAULT_MIX_DURATION),
            },
            rate: self.rate,
        }
    }
}

/// Requests per second: a finite number above zero.
pub fn positive_rate(raw: &str) -> Result<f64, String> {
    match raw.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        _ => Err(format!(
            "`{raw}` is not a positive number of requests per second (e.g. 200)"
        )),
    }
}

/// A latency budget in milliseconds: a finite number above zero (NaN would disable
/// the gate: every comparison with it is false).
pub fn positive_ms(raw: &str) -> Result<f64, String> {
    match raw.trim().parse::<f64>() {
        Ok(ms) if ms.is_finite() && ms > 0.0 => Ok(ms),
        Ok(_) => Err(format!(
            "`{raw}` is not a positive, finite number of milliseconds (e.g. 500)"
        )),
        Err(_) => Err(format!(
            "`{raw}` is not a number of milliseconds (e.g. 500)"
        )),
    }
}

/// A share between 0 and 1 inclusive.
pub fn ratio(raw: &str) -> Result<f64, String> {
    match raw.trim().parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!(
            "`{raw}` is not a ratio between 0 and 1 (e.g. 0.1 aims one request in ten at a hot slot)"
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
        args: BenchArgs,
    }

    fn parse(argv: &[&str]) -> Result<BenchArgs, clap::Error> {
        Wrap::try_parse_from(std::iter::once("bench").chain(argv.iter().copied())).map(|w| w.args)
    }

    #[test]
    fn default_is_all_scenarios() {
        assert_eq!(parse(&[]).unwrap().phases().len(), 9);
    }

    #[test]
    fn custom_phase_from_concurrency_and_duration() {
        let p = parse(&["--concurrency", "4", "--duration", "2s"])
            .unwrap()
            .phases();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].concurrency, 4);
        assert_eq!(p[0].stop, Stop::Duration(Duration::from_secs(2)));
        let p = parse(&["--concurrency", "3", "--requests", "50"])
            .unwrap()
            .phases();
        assert_eq!(p[0].stop, Stop::Requests(50));
    }

    #[test]
    fn scenario_and_custom_conflict() {
        assert!(parse(&["--scenario", "burst", "--concurrency", "3"]).is_err());
        assert!(parse(&["--duration", "1s", "--requests", "3"]).is_err());
    }

    #[test]
    fn budgets_and_ratios_that_would_disable_a_gate_are_refused() {
        for bad in ["NaN", "inf", "-1", "0", "fast"] {
            assert!(parse(&["--budget-p95-ms", bad]).is_err(), "{bad}");
        }
        assert_eq!(
            parse(&["--budget-p95-ms", "250.5"]).unwrap().budget_p95_ms,
            250.5
        );
        for bad in ["NaN", "1.5", "-0.1"] {
            assert!(parse(&["--collide-ratio", bad]).is_err(), "{bad}");
        }
        assert_eq!(parse(&["--collide-ratio", "1"]).unwrap().collide_ratio, 1.0);
    }

    #[test]
    fn the_mix_phase_and_its_flags() {
        let a = parse(&[
            "--mix",
            "--rate",
            "200",
            "--concurrency",
            "4",
            "--as",
            "service",
        ])
        .unwrap();
        let p = a.mix_phase();
        assert_eq!((p.concurrency, p.rate), (4, Some(200.0)));
        assert_eq!(p.stop, Stop::Duration(DEFAULT_MIX_DURATION));
        assert_eq!(Role::from(a.role), Role::Service);
        assert!(parse(&["--rate", "0"]).is_err());
        assert!(parse(&["--rate", "NaN"]).is_err());
        assert!(parse(&["--mix", "--scenario", "burst"]).is_err());
        let v = parse(&["--before", "20240101120000"])
            .unwrap()
            .before
            .unwrap();
        assert_eq!(v.get(), 20_240_101_120_000);
    }

    #[test]
    fn huge_durations_are_usage_errors() {
        assert!(parse(&["--duration", "18446744073709551615s"]).is_err());
        assert!(parse(&["--duration", "307445734561825861m"]).is_err());
    }
}
