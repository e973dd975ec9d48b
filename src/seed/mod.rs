//! `dbkit seed`: fill a migrated database with realistic multi-tenant rows, made by
//! deterministic generators (`generate`) from a profile (`profile`) and streamed with
//! binary COPY (`copy`) into bare tables (`bulk`) of a database checked and locked by
//! `target`. The engine takes plain `SeedOptions`, returns a `SeedSummary` and writes
//! nothing to stdout; `report::seed` renders the summary.
//!
//! Pipeline: a generator thread hands chunks of rows through a bounded channel to the
//! COPY loader, so generation overlaps loading and memory stays bounded by the channel
//! plus one org's contact ids, whatever `--orgs` is.
//!
//! One transaction: the indexes and constraints of the tenant tables are dropped, every
//! org is loaded, they are built again, the tables ANALYZEd, and it all commits at
//! once, with `synchronous_commit = on`, before the summary is returned. So what a seed
//! reports is on disk, and a seed that is interrupted (Ctrl-C, a lost connection, a
//! killed dbkit or server) leaves the tables as they were, with every index and
//! constraint: all orgs or none.
//!
//! The anchor ("today") defaults to the current date in UTC: appointments before its
//! midnight are past, the rest future. Two runs on the same UTC day (or with the same
//! `--anchor-date`) give identical rows and fingerprints.

mod bulk;
pub mod copy;
mod fingerprint;
pub mod generate;

pub mod profile;
pub mod rows;
pub mod target;

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use chrono::NaiveDate;
use serde::Serialize;
use tokio_postgres::Client;

use crate::db::{connect, DbUrl};
use crate::error::hinted;

pub use generate::Table;
pub use profile::Profile;
pub use target::TenantRows;

use generate::Batch;

/// The `--seed` used when none is given.
pub const DEFAULT_SEED: u64 = 42;
/// Rows per chunk through the channel, and chunks in flight: bounds memory.
const CHUNK_ROWS: usize = 4096;
const CHANNEL_CHUNKS: usize = 16;

// Session settings of the seed's transaction: the commit is durable whatever the
// server's or role's default, and index builds get room (server memory, not dbkit's).
const BEGIN: &str = "BEGIN; SET LOCAL synchronous_commit TO on; \
     SET LOCAL maintenance_work_mem TO '256MB'";
const ANALYZE: &str = "ANALYZE orgs, org_settings, members, providers, contacts, appointments";

/// What to seed, for `dbkit seed` and callers inside dbkit (explain --before, check,
/// bench).
#[derive(Debug, Clone)]
pub struct SeedOptions {
    pub orgs: u32,
    pub seed: u64,
    pub profile: Profile,
    /// None: today in UTC.
    pub anchor_date: Option<NaiveDate>,
    /// Delete the tenant rows first. The caller has confirmed it (`dbkit seed` asks).
    pub reset: bool,
    /// Allow `reset` on a database that is not on this machine.
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

    fn params(&self, anchor: NaiveDate) -> generate::Params<'_> {
        generate::Params {
            orgs: self.orgs,
            seed: self.seed,
            profile: &self.profile,
            anchor,
            chunk_rows: CHUNK_ROWS,
        }
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
    pub fn from_array(rows: [u64; 6]) -> TableCounts {
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

/// The tenant rows the database at `url` holds (after checking the schema is there):
/// what a `--reset` would delete.
pub async fn tenant_rows(url: &DbUrl, allow_remote: bool) -> Result<TenantRows> {
    target::refuse_remote_reset(url, true, allow_remote)?;
    let client = connect(url).await?;
    target::tenant_rows(&client, url).await
}

/// Seed the database at `url`. Refuses when tenant tables hold rows, unless `reset`
/// (then only on this machine, or with `allow_remote`), and while another seed of the
/// same database runs.
pub async fn seed_database(url: &DbUrl, opts: &SeedOptions) -> Result<SeedSummary> {
    target::refuse_remote_reset(url, opts.reset, opts.allow_remote)?;
    let client = connect(url).await?;
    target::lock(&client, url).await?;
    let held = target::tenant_rows(&client, url).await?;
    let anchor = opts.anchor();
    let started = Instant::now();
    let progress = copy::Progress::new(opts.orgs, opts.progress);
    let mut loaded = copy::Loaded::default();
    let outcome = tokio::select! {
        r = load_in_one_transaction(&client, url, held, opts, anchor, &progress, &mut loaded) => r,
        _ = crate::signal::wait() => Err(hinted(
            format!(
                "interrupted after {} of {} orgs: nothing was kept (a seed commits all orgs or none)",
                loaded.orgs, opts.orgs
            ),
            "run the same `dbkit seed` again",
        )),
    };
    progress.finish();
    // On any error the transaction is still open: dropping the connection rolls it back.
    let fingerprint = outcome?;
    Ok(summary(
        loaded.rows,
        fingerprint,
        started,
        opts,
        anchor,
        url.target(),
    ))
}

/// The seed's transaction: make room, defer indexes and constraints, load every org,
/// rebuild, ANALYZE, commit. The fingerprint of what was loaded.
async fn load_in_one_transaction(
    client: &Client,
    url: &DbUrl,
    held: TenantRows,
    opts: &SeedOptions,
    anchor: NaiveDate,
    progress: &copy::Progress,
    loaded: &mut copy::Loaded,
) -> Result<String> {
    client
        .batch_execute(BEGIN)
        .await
        .context("starting the seed's transaction")?;
    target::make_room(client, url, held, opts.reset).await?;
    let deferred = bulk::defer(client, &target::TENANT_TABLES).await?;

    let (tx, mut rx) = tokio::sync::mpsc::channel(CHANNEL_CHUNKS);
    let gen_opts = opts.clone();
    let generator = std::thread::Builder::new()
        .name("seed-generator".into())
        .spawn(move || {
            generate::generate(&gen_opts.params(anchor), |batch| {
                tx.blocking_send(batch).is_ok()
            })
        })
        .context("starting the generator thread")?;
    let loading = copy::load(client, &mut rx, progress, loaded).await;
    drop(rx);
    let generated = generator
        .join()
        .map_err(|_| anyhow::anyhow!("the generator thread panicked"))?;
    loading.with_context(|| {
        format!(
            "seeding stopped after {} of {} orgs; nothing was kept",
            loaded.orgs, opts.orgs
        )
    })?;
    let generated = generated.map_err(|_| anyhow::anyhow!("the generator stopped early"))?;
    anyhow::ensure!(
        generated.rows == loaded.rows,
        "COPY loaded {:?} rows but {:?} were generated",
        loaded.rows,
        generated.rows
    );
    bulk::rebuild(client, &deferred).await?;
    client
        .batch_execute(ANALYZE)
        .await
        .context("running ANALYZE")?;
    client
        .batch_execute("COMMIT")
        .await
        .context("committing the seed")?;
    Ok(generated.fingerprint)
}

/// Write the rows `seed_database` would load as binary COPY files into `dir`.
pub fn write_files(dir: &Path, opts: &SeedOptions) -> Result<SeedSummary> {
    let anchor = opts.anchor();
    let started = Instant::now();
    let mut files = copy::CopyFiles::create(dir)?;
    let progress = copy::Progress::new(opts.orgs, opts.progress);
    let mut failure = None;
    let generated = generate::generate(&opts.params(anchor), |batch| {
        if let Batch::OrgDone { .. } = &batch {
            progress.org_done();
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
    progress.finish();
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
}
