//! `dbkit explain`: the canonical booking queries under EXPLAIN ANALYZE, as the service
//! role and as a tenant under RLS, judged by plan rules — on the target database, or
//! with `--before V` on a scratch database before and after the migrations after V.
//! Owns: the query catalog (`catalog`), the plan model (`plan`), the rules (`rules/`),
//! running (`runner`), the before/after diff (`compare`), the renderers (`render`) and
//! the boundary to scratch databases, migrations and seeding (`workbench`).

pub mod catalog;
pub mod compare;
pub mod plan;
pub mod render;
pub mod rules;
pub mod runner;
pub mod workbench;

use std::path::PathBuf;
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::Args;

use crate::cli::{at_least_one, parse_duration, MigrationSourceOpts};
use crate::config::Database;
use crate::db::DbUrl;
use crate::error::hinted;
use crate::exit::Outcome;
use crate::migrate::MigrationSet;
use crate::report::Format;
use catalog::Catalog;
use render::{Report, Setting};
use rules::{Rule, Thresholds};
use runner::{Phase, Phases, Progress, Run, RunOptions};
use workbench::Workbench;

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// Directory with catalog.yaml and one .sql file per query (default: ./queries, or
    /// the shipped booking queries when it does not exist).
    #[arg(long, value_name = "DIR", default_value = "queries")]
    pub queries: PathBuf,
    #[command(flatten)]
    pub source: MigrationSourceOpts,
    /// Explain on a scratch database migrated to V and seeded, then again after
    /// migrating it to the head, and print the difference. The target database's data
    /// is never touched.
    #[arg(long, value_name = "V")]
    pub before: Option<u32>,
    /// Orgs to seed the scratch database with (--before only).
    #[arg(long, default_value_t = 50, requires = "before", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub orgs: u32,
    /// Seed of the generator (--before only); equal seeds give equal data.
    #[arg(long, default_value_t = 42, requires = "before")]
    pub seed: u64,
    /// Seed profile (YAML, laid over the default) for the scratch database (--before only).
    #[arg(long, value_name = "FILE", requires = "before")]
    pub profile: Option<PathBuf>,
    /// Keep the scratch database instead of dropping it (--before only).
    #[arg(long, requires = "before")]
    pub keep: bool,
    /// Measured runs per query, org and role after a warm-up; the median is reported.
    #[arg(long, default_value_t = 5, value_name = "K", value_parser = at_least_one)]
    pub runs: usize,
    /// Time for one query × org × role, warm-up included; slow queries get fewer than
    /// K runs (at least one) so per-row RLS at a million rows does not take minutes.
    #[arg(long, default_value = "500ms", value_parser = parse_duration, value_name = "DURATION")]
    pub budget: Duration,
    /// statement_timeout for every explained statement.
    #[arg(long, default_value = "30s", value_parser = parse_duration, value_name = "DURATION")]
    pub statement_timeout: Duration,
    /// Only these queries (names from catalog.yaml).
    #[arg(long, value_delimiter = ',', value_name = "NAME,...")]
    pub only: Vec<String>,
    /// Exit 1 when any of these rules fire (in the last phase), or on `regression`: a
    /// new seq-scan / rls-per-row, or buffers up > 20 % on any query (--before).
    #[arg(long, value_delimiter = ',', value_name = "RULE,...|regression")]
    pub fail_on: Vec<FailOn>,
    /// Sequential scans reading fewer rows than this are not flagged.
    #[arg(long, default_value_t = 1000, value_name = "ROWS")]
    pub seq_scan_min_rows: u64,
    /// Do not cost hypothetical indexes (hypopg).
    #[arg(long)]
    pub no_index_suggestions: bool,
    /// Write each run's median plan (EXPLAIN's JSON) to DIR/{phase}_{query}_{org}_{role}.json.
    #[arg(long, value_name = "DIR")]
    pub save_plans: Option<PathBuf>,
    /// Connections used in parallel.
    #[arg(long, default_value_t = 2, value_name = "N", value_parser = at_least_one)]
    pub jobs: usize,
}

/// One `--fail-on` item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailOn {
    Rule(Rule),
    Regression,
}

impl FromStr for FailOn {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim() == "regression" {
            return Ok(FailOn::Regression);
        }
        Rule::parse_in(s, &[crate::rule::Family::Plan])
            .map(FailOn::Rule)
            .map_err(|e| format!("{e}, or regression"))
    }
}

/// Progress on stderr when it is a terminal: one line per phase, a bar while explaining.
pub struct Bar {
    bar: Option<indicatif::ProgressBar>,
}

impl Bar {
    pub fn new() -> Bar {
        let bar = crate::report::stderr_is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {msg} [{pos}/{len}] {elapsed}")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        });
        Bar { bar }
    }

    pub fn phase(&self, what: &str) {
        if let Some(bar) = &self.bar {
            bar.set_length(0);
            bar.set_position(0);
            bar.set_message(what.to_string());
        }
    }

    pub fn done(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl Default for Bar {
    fn default() -> Self {
        Bar::new()
    }
}

impl Progress for Bar {
    fn step(&self, done: usize, total: usize, what: &str) {
        if let Some(bar) = &self.bar {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
            bar.set_message(format!("explain {what}"));
        }
    }
}

fn connector(
    url: &DbUrl,
) -> impl Fn() -> futures_util::future::BoxFuture<'static, Result<tokio_postgres::Client>> {
    let url = url.clone();
    move || {
        let url = url.clone();
        Box::pin(async move { crate::db::connect(&url).await })
    }
}

fn options(args: &ExplainArgs) -> RunOptions {
    RunOptions {
        runs: args.runs.max(1),
        series_budget: args.budget,
        statement_timeout: args.statement_timeout,
        jobs: args.jobs.max(1),
        index_suggestions: !args.no_index_suggestions,
        thresholds: Thresholds {
            seq_scan_min_rows: args.seq_scan_min_rows as f64,
            ..Thresholds::default()
        },
    }
}

pub fn load_catalog(args: &ExplainArgs) -> Result<Catalog> {
    let mut catalog = if args.queries == std::path::Path::new("queries") && !args.queries.exists() {
        Catalog::embedded()?
    } else {
        Catalog::load(&args.queries)?
    };
    catalog.retain(&args.only)?;
    Ok(catalog)
}

pub async fn command(db: &Database, args: &ExplainArgs, format: Format) -> Result<Outcome> {
    let catalog = load_catalog(args)?;
    let opts = options(args);
    let bar = Bar::new();
    let report = match args.before {
        Some(v) => {
            let set = MigrationSet::resolve(&args.source.options())?;
            let mut bench = workbench::Dbkit::new(set);
            before_after(db, &mut bench, &catalog, &opts, args, v, &bar).await
        }
        None => current(db, &catalog, &opts, &bar).await,
    };
    bar.done();
    let report = report?;
    if let Some(dir) = &args.save_plans {
        save_plans(&report, dir)?;
    }
    let mut stdout = std::io::stdout().lock();
    render::render(&report, format, &mut stdout).map_err(crate::report::stdout_error)?;
    if format == Format::Json {
        // The table and markdown print these themselves; keep JSON's stdout clean.
        for r in report.runs.iter().filter(|r| r.error.is_some()) {
            eprintln!(
                "error: {} ({}, {}, {}): {}",
                r.query,
                r.org,
                r.role,
                r.phase,
                r.error.as_deref().unwrap_or_default()
            );
        }
    }
    Ok(outcome(&report, &args.fail_on))
}

fn save_plans(report: &Report, dir: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    for run in &report.runs {
        let Some(raw) = &run.raw_plan else { continue };
        let path = dir.join(format!(
            "{}_{}_{}_{}.json",
            run.phase, run.query, run.org, run.role
        ));
        std::fs::write(&path, serde_json::to_string_pretty(raw)?)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// `--fail-on`: rules judged on the last phase's runs (after, or current); regression
/// on the diff. A run that errored fails too.
pub fn outcome(report: &Report, fail_on: &[FailOn]) -> Outcome {
    let last = if report.diff.is_some() {
        Phase::After
    } else {
        Phase::Current
    };
    let failing = fail_on.iter().any(|f| match f {
        FailOn::Regression => !report.regressions.is_empty(),
        FailOn::Rule(rule) => report
            .runs
            .iter()
            .filter(|r| r.phase == last)
            .any(|r| r.findings.iter().any(|x| x.rule == *rule)),
    });
    if failing || report.runs.iter().any(|r| r.error.is_some()) {
        Outcome::Failed
    } else {
        Outcome::Clean
    }
}

async fn current(db: &Database, catalog: &Catalog, opts: &RunOptions, bar: &Bar) -> Result<Report> {
    let url = db.url()?;
    let client = crate::db::connect(&url).await?;
    let mut setting = Setting::default();
    let mut notes = service_note(&client).await?;
    let started = Instant::now();
    bar.phase("sample parameters");
    let orgs = runner::sample(connector(&url), catalog).await?;
    setting
        .timings_ms
        .insert("sample".into(), started.elapsed().as_millis() as u64);
    let started = Instant::now();
    let runs = runner::run_phase(
        connector(&url),
        Phases {
            phase: Phase::Current,
            catalog,
            orgs: &orgs,
            options: opts,
        },
        bar,
    )
    .await?;
    setting
        .timings_ms
        .insert("explain".into(), started.elapsed().as_millis() as u64);
    notes.extend(hypopg_note(&client, opts).await?);
    Ok(Report {
        runs,
        diff: None,
        regressions: Vec::new(),
        setting,
        notes,
    })
}

/// Service runs use the connecting role: say so when RLS still applies to it (not a
/// superuser, no BYPASSRLS, not the owner of an RLS-enabled table).
async fn service_note(client: &tokio_postgres::Client) -> Result<Vec<String>> {
    let subject: Vec<String> = client
        .query(
            "SELECT c.relname::text FROM pg_class c
             WHERE c.relrowsecurity AND pg_table_is_visible(c.oid) AND row_security_active(c.oid)
             ORDER BY 1",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    Ok(if subject.is_empty() {
        Vec::new()
    } else {
        vec![format!(
            "service runs use the connecting role, and RLS still applies to it on {}: connect as the tables' owner, a superuser or a BYPASSRLS role for a true service baseline",
            subject.join(", ")
        )]
    })
}

async fn hypopg_note(client: &tokio_postgres::Client, opts: &RunOptions) -> Result<Vec<String>> {
    if !opts.index_suggestions {
        return Ok(Vec::new());
    }
    Ok(match runner::hypopg_status(client).await? {
        runner::Hypopg::Unavailable => vec![
            "index suggestions skipped: the hypopg extension is not available on this server (apt-get install postgresql-15-hypopg)".into(),
        ],
        _ => Vec::new(),
    })
}

/// The `--before V` flow: scratch database → V → seed → explain → head → ANALYZE →
/// explain → diff → drop (unless --keep). Never touches the target's data.
pub async fn before_after(
    db: &Database,
    bench: &mut impl Workbench,
    catalog: &Catalog,
    opts: &RunOptions,
    args: &ExplainArgs,
    before: u32,
    bar: &Bar,
) -> Result<Report> {
    let server = db.url()?;
    let before = i32::try_from(before).map_err(|_| {
        hinted(
            format!("--before {before} is too large"),
            "versions are small integers",
        )
    })?;
    let mut setting = Setting {
        orgs: Some(args.orgs),
        ..Setting::default()
    };
    let mut timings: Vec<(String, u64)> = Vec::new();
    let t = Instant::now();
    bar.phase("create scratch database");
    let url = bench.create_scratch(&server).await?;
    timings.push(lap("scratch", t));
    let result = async {
        let t = Instant::now();
        bar.phase(&format!("migrate to V{before}"));
        let reached = bench.migrate_to(&url, Some(before)).await?;
        if reached != Some(before) {
            return Err(hinted(
                format!(
                    "--before {before}: the migrations reach {} instead",
                    crate::migrate::version_label(
                        crate::migrate::Layout::Dbkit,
                        reached.map(Into::into)
                    )
                ),
                "pick a version that exists in the migrations directory",
            ));
        }
        timings.push(lap("migrate_before", t));
        let t = Instant::now();
        bar.phase(&format!("seed {} orgs", args.orgs));
        let appointments = bench
            .seed(&url, args.orgs, args.seed, args.profile.as_deref())
            .await?;
        let client = crate::db::connect(&url).await?;
        client
            .batch_execute("ANALYZE")
            .await
            .context("ANALYZE after seeding")?;
        timings.push(lap("seed", t));
        let t = Instant::now();
        bar.phase("sample parameters");
        let orgs = runner::sample(connector(&url), catalog).await?;
        timings.push(lap("sample", t));
        let t = Instant::now();
        let mut runs = runner::run_phase(
            connector(&url),
            Phases {
                phase: Phase::Before,
                catalog,
                orgs: &orgs,
                options: opts,
            },
            bar,
        )
        .await?;
        timings.push(lap("explain_before", t));
        let t = Instant::now();
        bar.phase("migrate to the head");
        let head = bench.migrate_to(&url, None).await?;
        client
            .batch_execute("ANALYZE")
            .await
            .context("ANALYZE after migrating")?;
        timings.push(lap("migrate_after", t));
        let t = Instant::now();
        runs.extend(
            runner::run_phase(
                connector(&url),
                Phases {
                    phase: Phase::After,
                    catalog,
                    orgs: &orgs,
                    options: opts,
                },
                bar,
            )
            .await?,
        );
        timings.push(lap("explain_after", t));
        let mut notes = service_note(&client).await?;
        notes.extend(hypopg_note(&client, opts).await?);
        Ok::<_, anyhow::Error>((runs, head, appointments, notes))
    }
    .await;
    let t = Instant::now();
    let kept = bench.finish(args.keep).await;
    timings.push(lap("drop_scratch", t));
    let (runs, head, appointments, mut notes) = result?;
    if let Some(name) = kept? {
        notes.push(format!(
            "kept the scratch database {name} (drop it with: DROP DATABASE {name})"
        ));
    }
    setting.before_version = Some(before);
    setting.after_version = head;
    setting.appointments = Some(appointments);
    setting.timings_ms = timings.into_iter().collect();
    let diff = compare::diff(&runs);
    let regressions = compare::regressions(&diff);
    Ok(Report {
        runs,
        diff: Some(diff),
        regressions,
        setting,
        notes,
    })
}

fn lap(step: &str, started: Instant) -> (String, u64) {
    (step.to_string(), started.elapsed().as_millis() as u64)
}

/// Runs of one phase (for tests and callers that post-process).
pub fn runs_of(report: &Report, phase: Phase) -> Vec<&Run> {
    report.runs.iter().filter(|r| r.phase == phase).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::explain::plan::Buffers;
    use crate::explain::rules::{Evidence, Finding, Role, Severity};

    fn run(phase: Phase, rules: &[Rule]) -> Run {
        Run {
            query: "q".into(),
            org: "largest".into(),
            phase,
            role: Role::Tenant,
            execution_ms: 1.0,
            planning_ms: 0.1,
            buffers: 10,
            buffers_detail: Buffers::default(),
            runs: 1,
            seq_scans: vec![],
            findings: rules
                .iter()
                .map(|r| Finding {
                    rule: *r,
                    severity: Severity::Warning,
                    message: String::new(),
                    evidence: Evidence::default(),
                })
                .collect(),
            params: vec![],
            error: None,
            plan: None,
            raw_plan: None,
        }
    }

    fn report(runs: Vec<Run>, diff: bool, regressions: Vec<String>) -> Report {
        Report {
            runs,
            diff: diff.then(Vec::new),
            regressions,
            setting: Setting::default(),
            notes: vec![],
        }
    }

    #[test]
    fn fail_on_parses_rules_and_regression() {
        assert_eq!(
            "seq-scan".parse::<FailOn>().unwrap(),
            FailOn::Rule(Rule::SeqScan)
        );
        assert_eq!("regression".parse::<FailOn>().unwrap(), FailOn::Regression);
        let err = "slow".parse::<FailOn>().unwrap_err();
        assert!(
            err.contains("unknown rule `slow`") && err.ends_with("or regression"),
            "{err}"
        );
    }

    #[test]
    fn rules_are_judged_on_the_last_phase_only() {
        let r = report(
            vec![run(Phase::Before, &[Rule::SeqScan]), run(Phase::After, &[])],
            true,
            vec![],
        );
        assert_eq!(outcome(&r, &[FailOn::Rule(Rule::SeqScan)]), Outcome::Clean);
        let r = report(vec![run(Phase::Current, &[Rule::SeqScan])], false, vec![]);
        assert_eq!(outcome(&r, &[FailOn::Rule(Rule::SeqScan)]), Outcome::Failed);
        assert_eq!(outcome(&r, &[FailOn::Rule(Rule::DiskSort)]), Outcome::Clean);
        assert_eq!(outcome(&r, &[]), Outcome::Clean);
    }

    #[test]
    fn regressions_and_errors_fail() {
        let r = report(
            vec![run(Phase::After, &[])],
            true,
            vec!["q: new seq-scan".into()],
        );
        assert_eq!(outcome(&r, &[FailOn::Regression]), Outcome::Failed);
        assert_eq!(outcome(&r, &[]), Outcome::Clean);
        let mut broken = run(Phase::Current, &[]);
        broken.error = Some("canceling statement due to statement timeout".into());
        assert_eq!(
            outcome(&report(vec![broken], false, vec![]), &[]),
            Outcome::Failed
        );
    }
}
