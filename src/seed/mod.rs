//! `dbkit seed`: fill a migrated database with realistic multi-tenant rows, made by
//! deterministic generators (`generate`) from a profile (`profile`) and streamed with
//! binary COPY (`copy`).
//!
//! Pipeline: a generator thread hands chunks of rows through a bounded channel to the
//! COPY loader, so generation overlaps loading and memory stays bounded by the channel
//! plus one org's contact ids, whatever `--orgs` is.
//!
//! Interruption: every org is loaded in its own transaction and committed when all of
//! its rows are in. Ctrl-C or a lost connection rolls back the org being loaded; the
//! orgs committed before it stay (whole). Seeding again then needs `--reset`.
//!
//! The anchor ("today") defaults to the current date in UTC: appointments before its
//! midnight are past, the rest future. Two runs on the same UTC day (or with the same
//! `--anchor-date`) give identical rows and fingerprints.

pub mod copy;
pub mod generate;
mod names;
pub mod profile;

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use clap::Args;
use serde::Serialize;
use tokio_postgres::Client;

use crate::config::Database;
use crate::db::{connect, DbUrl};
use crate::error::hinted;
use crate::exit::Outcome;
use crate::report::{self, Format};

pub use generate::Table;
pub use profile::Profile;

/// The `--seed` used when none is given.
pub const DEFAULT_SEED: u64 = 42;
/// Rows per chunk through the channel, and chunks in flight: bounds memory.
const CHUNK_ROWS: usize = 4096;
const CHANNEL_CHUNKS: usize = 16;

#[derive(Debug, Args)]
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
}

/// What to seed, for callers inside dbkit (explain --before, check, bench).
#[derive(Debug, Clone)]
pub struct SeedOptions {
    pub orgs: u32,
    pub seed: u64,
    pub profile: Profile,
    /// None: today in UTC.
    pub anchor_date: Option<NaiveDate>,
    pub reset: bool,
    pub yes: bool,
    pub allow_remote: bool,
    /// Show a progress bar (only drawn when stderr is a terminal).
    pub progress: bool,
}

impl Default for SeedOptions {
    fn default() -> Self {
        SeedOptions {
            orgs: 50,
            seed: DEFAULT_SEED,
            profile: Profile::default_profile(),
            anchor_date: None,
            reset: false,
            yes: false,
            allow_remote: false,
            progress: false,
        }
    }
}

impl SeedOptions {
    fn anchor(&self) -> NaiveDate {
        self.anchor_date
            .unwrap_or_else(|| chrono::Utc::now().date_naive())
    }
}

/// Rows per table, in load order.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, Default)]
pub struct TableCounts {
    pub orgs: u64,
    pub org_settings: u64,
    pub members: u64,
    pub providers: u64,
    pub contacts: u64,
    pub appointments: u64,
}

impl TableCounts {
    fn from_array(rows: [u64; 6]) -> TableCounts {
        TableCounts {
            orgs: rows[0],
            org_settings: rows[1],
            members: rows[2],
            providers: rows[3],
            contacts: rows[4],
            appointments: rows[5],
        }
    }

    pub fn get(&self, table: Table) -> u64 {
        match table {
            Table::Orgs => self.orgs,
            Table::OrgSettings => self.org_settings,
            Table::Members => self.members,
            Table::Providers => self.providers,
            Table::Contacts => self.contacts,
            Table::Appointments => self.appointments,
        }
    }

    pub fn total(&self) -> u64 {
        Table::ALL.iter().map(|t| self.get(*t)).sum()
    }
}

/// The result of a seed, as `--format json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct SeedSummary {
    pub tables: TableCounts,
    pub rows: u64,
    pub seconds: f64,
    pub rows_per_s: f64,
    pub fingerprint: String,
    pub seed: u64,
    pub orgs: u32,
    pub anchor_date: NaiveDate,
    /// `host:port/db` or the directory the files went to.
    pub target: String,
}

/// Seed the database at `url`. Refuses when tenant tables hold rows, unless `reset`
/// (then confirmation: `yes`, or a "yes" typed on a terminal; and a local host, or
/// `allow_remote`).
pub async fn seed_database(url: &DbUrl, opts: &SeedOptions) -> Result<SeedSummary> {
    if opts.reset && !url.is_local() && !opts.allow_remote {
        return Err(hinted(
            format!(
                "refusing to --reset {}: it is not on this machine",
                url.target()
            ),
            "add --allow-remote if you really mean to delete the tenant rows of that database",
        ));
    }
    let client = connect(url).await?;
    prepare(&client, url, opts).await?;
    let anchor = opts.anchor();
    let started = Instant::now();
    client
        .batch_execute("SET synchronous_commit TO off")
        .await
        .context("setting synchronous_commit")?;

    let (tx, mut rx) = tokio::sync::mpsc::channel(CHANNEL_CHUNKS);
    let profile = opts.profile.clone();
    let (orgs, seed) = (opts.orgs, opts.seed);
    let generator = std::thread::Builder::new()
        .name("seed-generator".into())
        .spawn(move || {
            let params = generate::Params {
                orgs,
                seed,
                profile: &profile,
                anchor,
                chunk_rows: CHUNK_ROWS,
            };
            generate::generate(&params, |batch| tx.blocking_send(batch).is_ok())
        })
        .context("starting the generator thread")?;

    let bar = ProgressBar::new(opts.orgs, opts.progress);
    let mut loaded = copy::Loaded::default();
    let outcome = tokio::select! {
        r = copy::load(&client, &mut rx, &bar, &mut loaded) => r,
        _ = crate::signal::wait() => Err(hinted(
            format!(
                "interrupted: {} of {} orgs were committed; the org being loaded was rolled back",
                loaded.orgs_committed, opts.orgs
            ),
            "start over with `dbkit seed --reset`",
        )),
    };
    drop(rx);
    bar.finish();
    let generated = generator
        .join()
        .map_err(|_| anyhow::anyhow!("the generator thread panicked"))?;
    if let Err(err) = outcome {
        return Err(err.context(format!(
            "seeding stopped after {} of {} orgs (each committed org is complete)",
            loaded.orgs_committed, opts.orgs
        )));
    }
    let generated = generated.map_err(|_| anyhow::anyhow!("the generator stopped early"))?;
    anyhow::ensure!(
        generated.rows == loaded.rows,
        "COPY loaded {:?} rows but {:?} were generated",
        loaded.rows,
        generated.rows
    );
    client
        .batch_execute("ANALYZE orgs, org_settings, members, providers, contacts, appointments")
        .await
        .context("running ANALYZE")?;
    Ok(summary(
        loaded.rows,
        generated.fingerprint,
        started,
        opts,
        anchor,
        url.target(),
    ))
}

/// Write the rows `seed_database` would load as binary COPY files into `dir`.
pub fn write_files(dir: &std::path::Path, opts: &SeedOptions) -> Result<SeedSummary> {
    let anchor = opts.anchor();
    let started = Instant::now();
    let mut files = copy::CopyFiles::create(dir)?;
    let bar = ProgressBar::new(opts.orgs, opts.progress);
    let params = generate::Params {
        orgs: opts.orgs,
        seed: opts.seed,
        profile: &opts.profile,
        anchor,
        chunk_rows: CHUNK_ROWS,
    };
    let mut failure = None;
    let generated = generate::generate(&params, |batch| {
        if let Batch::OrgDone { slug, .. } = &batch {
            copy::Progress::org_done(&bar, slug);
            return true;
        }
        match files.write(&batch) {
            Ok(()) => true,
            Err(e) => {
                failure = Some(e);
                false
            }
        }
    });
    bar.finish();
    if let Some(e) = failure {
        return Err(e.context(format!("writing COPY files into {}", dir.display())));
    }
    let generated = generated.map_err(|_| anyhow::anyhow!("the generator stopped early"))?;
    let rows = files.rows;
    let dir = files.finish()?;
    Ok(summary(
        rows,
        generated.fingerprint,
        started,
        opts,
        anchor,
        dir.display().to_string(),
    ))
}

use generate::Batch;

fn summary(
    rows: [u64; 6],
    fingerprint: String,
    started: Instant,
    opts: &SeedOptions,
    anchor: NaiveDate,
    target: String,
) -> SeedSummary {
    let tables = TableCounts::from_array(rows);
    let seconds = started.elapsed().as_secs_f64();
    SeedSummary {
        rows: tables.total(),
        rows_per_s: tables.total() as f64 / seconds.max(1e-9),
        tables,
        seconds,
        fingerprint,
        seed: opts.seed,
        orgs: opts.orgs,
        anchor_date: anchor,
        target,
    }
}

const TENANT_TABLES: [&str; 6] = [
    "orgs",
    "org_settings",
    "members",
    "providers",
    "contacts",
    "appointments",
];

/// Check the schema is there and the tenant tables are empty, or reset them when asked.
async fn prepare(client: &Client, url: &DbUrl, opts: &SeedOptions) -> Result<()> {
    let missing: Vec<String> = client
        .query(
            "SELECT t FROM unnest($1::text[]) AS t WHERE to_regclass(t) IS NULL",
            &[&TENANT_TABLES.to_vec()],
        )
        .await
        .context("looking for the booking tables")?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if !missing.is_empty() {
        return Err(hinted(
            format!(
                "{} has no booking schema (missing: {})",
                url.target(),
                missing.join(", ")
            ),
            "run `dbkit migrate` first",
        ));
    }
    let row = client
        .query_one(
            "SELECT (SELECT count(*) FROM orgs), (SELECT count(*) FROM org_settings), \
             (SELECT count(*) FROM members), (SELECT count(*) FROM providers), \
             (SELECT count(*) FROM contacts), (SELECT count(*) FROM appointments)",
            &[],
        )
        .await
        .context("counting tenant rows")?;
    let counts: Vec<(&str, i64)> = TENANT_TABLES
        .iter()
        .enumerate()
        .map(|(i, t)| (*t, row.get::<_, i64>(i)))
        .filter(|(_, n)| *n > 0)
        .collect();
    if counts.is_empty() {
        return Ok(());
    }
    let held = counts
        .iter()
        .map(|(t, n)| format!("{t}: {n}"))
        .collect::<Vec<_>>()
        .join(", ");
    if !opts.reset {
        return Err(hinted(
            format!(
                "{} already holds tenant rows ({held}); nothing was changed",
                url.target()
            ),
            "`dbkit seed --reset` deletes them first (it asks; add --yes in scripts)",
        ));
    }
    if !opts.yes {
        if !std::io::stdin().is_terminal() {
            return Err(hinted(
                format!(
                    "--reset would delete tenant rows in {} ({held})",
                    url.target()
                ),
                "confirm with --yes when not running on a terminal",
            ));
        }
        eprint!(
            "This deletes every row of {} in {} ({held}). Type yes to continue: ",
            TENANT_TABLES.join(", "),
            url.target()
        );
        std::io::stderr().flush().ok();
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if !matches!(answer.trim(), "yes" | "y") {
            return Err(hinted(
                "reset not confirmed; nothing was changed",
                "type yes, or pass --yes",
            ));
        }
    }
    // All six in one statement and no CASCADE: a table of someone else's that
    // references them makes this fail instead of silently emptying it too.
    client
        .batch_execute("TRUNCATE orgs, org_settings, members, providers, contacts, appointments")
        .await
        .context("deleting the tenant rows (--reset)")?;
    Ok(())
}

/// indicatif on a terminal, nothing otherwise.
struct ProgressBar {
    bar: Option<indicatif::ProgressBar>,
    appointments: std::sync::atomic::AtomicU64,
}

impl ProgressBar {
    fn new(orgs: u32, wanted: bool) -> ProgressBar {
        let bar = (wanted && report::stderr_is_terminal()).then(|| {
            let bar = indicatif::ProgressBar::new(orgs as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{spinner} seeding [{bar:30}] {pos}/{len} orgs, {msg} ({elapsed})",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar
        });
        ProgressBar {
            bar,
            appointments: Default::default(),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl copy::Progress for ProgressBar {
    fn rows(&self, table: Table, n: u64) {
        if let (Some(bar), Table::Appointments) = (&self.bar, table) {
            use std::sync::atomic::Ordering::Relaxed;
            let total = self.appointments.fetch_add(n, Relaxed) + n;
            bar.set_message(format!("{total} appointments"));
        }
    }

    fn org_done(&self, _slug: &str) {
        if let Some(bar) = &self.bar {
            bar.inc(1);
        }
    }
}

/// `dbkit seed`.
pub async fn command(database: &Database, args: &SeedArgs, format: Format) -> Result<Outcome> {
    let profile = match &args.profile {
        Some(path) => Profile::from_file(path)?,
        None => Profile::default_profile(),
    };
    let opts = SeedOptions {
        orgs: args.orgs,
        seed: args.seed,
        profile,
        anchor_date: args.anchor_date,
        reset: args.reset,
        yes: args.yes,
        allow_remote: args.allow_remote,
        progress: true,
    };
    let summary = match &args.to_files {
        Some(dir) => write_files(dir, &opts)?,
        None => seed_database(&database.url()?, &opts).await?,
    };
    report::print(&render(&summary, format))?;
    Ok(Outcome::Clean)
}

/// The summary in the chosen format.
pub fn render(summary: &SeedSummary, format: Format) -> String {
    if format == Format::Json {
        return serde_json::to_string_pretty(summary).expect("serializable") + "\n";
    }
    let mut rows: Vec<Vec<String>> = Table::ALL
        .iter()
        .map(|t| vec![t.name().to_string(), summary.tables.get(*t).to_string()])
        .collect();
    rows.push(vec!["total".into(), summary.rows.to_string()]);
    let mut out = report::render_rows(format, &["table", "rows"], &rows);
    out.push_str(&format!(
        "{} rows into {} in {:.1} s ({:.0} rows/s)\nseed {}, {} org{}, anchor {}, fingerprint {}\n",
        summary.rows,
        summary.target,
        summary.seconds,
        summary.rows_per_s,
        summary.seed,
        summary.orgs,
        if summary.orgs == 1 { "" } else { "s" },
        summary.anchor_date,
        summary.fingerprint
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::copy::CopyRow;
    use super::*;

    #[test]
    fn every_row_type_gives_one_value_per_column() {
        let profile = Profile::parse(
            "window: {past_days: 3, future_days: 3}\norgs: {largest_providers: 2, contacts_per_provider: 3}\n",
            "t.yaml",
        )
        .unwrap();
        let params = generate::Params {
            orgs: 1,
            seed: 1,
            profile: &profile,
            anchor: NaiveDate::from_ymd_opt(2026, 1, 14).unwrap(),
            chunk_rows: 10,
        };
        let mut seen = std::collections::HashSet::new();
        generate::generate(&params, |b| {
            if let Some(t) = b.table() {
                let n = copy::types(t).len();
                let len = match &b {
                    Batch::Orgs(r) => r[0].values().len(),
                    Batch::OrgSettings(r) => r[0].values().len(),
                    Batch::Members(r) => r[0].values().len(),
                    Batch::Providers(r) => r[0].values().len(),
                    Batch::Contacts(r) => r[0].values().len(),
                    Batch::Appointments(r) => r[0].values().len(),
                    Batch::OrgDone { .. } => unreachable!(),
                };
                assert_eq!(len, n, "{t:?}");
                seen.insert(t);
            }
            true
        })
        .unwrap();
        assert_eq!(seen.len(), 6);
    }

    #[test]
    fn json_summary_has_the_documented_fields() {
        let s = SeedSummary {
            tables: TableCounts::from_array([1, 1, 2, 3, 4, 5]),
            rows: 16,
            seconds: 2.0,
            rows_per_s: 8.0,
            fingerprint: "ab".into(),
            seed: 42,
            orgs: 1,
            anchor_date: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
            target: "x".into(),
        };
        let v: serde_json::Value = serde_json::from_str(&render(&s, Format::Json)).unwrap();
        assert_eq!(v["tables"]["appointments"], 5);
        assert_eq!(v["rows_per_s"], 8.0);
        assert_eq!(v["fingerprint"], "ab");
    }
}
