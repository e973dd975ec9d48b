//! The lab: dbkit's one scratch-database workflow. Every command that must not touch
//! the target's data (`explain --before`, `bench --before`, `check`'s apply and upgrade
//! runs, and later `rehearse`) builds its database here: create on a server, migrate to
//! V, seed, ANALYZE, migrate on, then keep or drop — named and cleaned up one way
//! (`db::scratch`: `dbkit_scratch_<purpose>_<pid>_<n>`, leftovers of dead processes
//! dropped by the next run on a local server).
//!
//! A `Lab` owns its database until `finish`. It writes nothing to stdout; what it did is
//! returned (`Built`, `Finished`) for the command layer to report.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::db::scratch::ScratchDb;
use crate::db::{connect, DbUrl};
use crate::migrate::apply::migrate_url;
use crate::migrate::{MigrationSet, Version};
use crate::seed::{SeedOptions, SeedSummary};

/// One scratch database and the migrations it is built from.
#[derive(Debug)]
pub struct Lab {
    scratch: ScratchDb,
    migrations: MigrationSet,
    /// The version the database is at (None: nothing applied yet).
    version: Option<Version>,
}

/// How long each step of `Lab::seeded_at` took.
#[derive(Debug, Clone, Default)]
pub struct Built {
    pub version: Option<Version>,
    pub seed: Option<SeedSummary>,
    pub create: Duration,
    pub migrate: Duration,
    pub seeding: Duration,
}

/// What `finish` did with the database.
#[derive(Debug, Clone)]
pub enum Finished {
    Dropped,
    /// Left on the server on purpose (`--keep`): its name and URL (shown through
    /// `DbUrl`'s redacting `Display`).
    Kept {
        name: String,
        url: Box<DbUrl>,
    },
}

impl Lab {
    /// A fresh, empty scratch database on the server `server` points at. `purpose`
    /// names it (`explain`, `bench`, `check_apply`, …).
    pub async fn create(server: &DbUrl, purpose: &str, migrations: MigrationSet) -> Result<Lab> {
        let scratch = ScratchDb::create(server, purpose, None)
            .await
            .with_context(|| format!("cannot create the scratch database for {purpose}"))?;
        Ok(Lab {
            scratch,
            migrations,
            version: None,
        })
    }

    /// Create, migrate to `version` and, when `seed` is given, seed and ANALYZE: the
    /// database `--before V` starts from.
    pub async fn seeded_at(
        server: &DbUrl,
        purpose: &str,
        migrations: MigrationSet,
        version: Version,
        seed: Option<&SeedOptions>,
    ) -> Result<(Lab, Built)> {
        let started = Instant::now();
        let mut lab = Lab::create(server, purpose, migrations).await?;
        let create = started.elapsed();
        let started = Instant::now();
        lab.migrate_to(Some(version)).await?;
        let migrate = started.elapsed();
        let started = Instant::now();
        let summary = match seed {
            Some(opts) => Some(lab.seed(opts).await?),
            None => None,
        };
        let seeding = started.elapsed();
        let built = Built {
            version: lab.version,
            seed: summary,
            create,
            migrate,
            seeding,
        };
        Ok((lab, built))
    }

    pub fn url(&self) -> &DbUrl {
        self.scratch.url()
    }

    pub fn name(&self) -> &str {
        self.scratch.name()
    }

    pub fn migrations(&self) -> &MigrationSet {
        &self.migrations
    }

    /// The version the database is at.
    pub fn version(&self) -> Option<Version> {
        self.version
    }

    /// Apply the migrations up to `target` (None: all) with the `migrate` engine; the
    /// version reached. A rejected migration is the engine's `MigrationFailed` error.
    pub async fn migrate_to(&mut self, target: Option<Version>) -> Result<Option<Version>> {
        let report = migrate_url(self.scratch.url(), &self.migrations, target).await?;
        if let Some(v) = report.version() {
            self.version = Some(v);
        }
        Ok(self.version)
    }

    /// Seed like `dbkit seed` (the summary says what was loaded), then ANALYZE.
    pub async fn seed(&mut self, opts: &SeedOptions) -> Result<SeedSummary> {
        let summary = crate::seed::seed_database(self.scratch.url(), opts)
            .await
            .context("seeding the scratch database")?;
        self.analyze().await?;
        Ok(summary)
    }

    /// Refresh the planner's statistics (after seeding, after migrating on).
    pub async fn analyze(&self) -> Result<()> {
        let client = connect(self.scratch.url()).await?;
        client
            .batch_execute("ANALYZE")
            .await
            .context("ANALYZE on the scratch database")
    }

    /// Drop the database, or keep it (`keep`) and say which it is.
    pub async fn finish(self, keep: bool) -> Result<Finished> {
        if keep {
            let name = self.scratch.name().to_string();
            let url = self.scratch.keep();
            return Ok(Finished::Kept {
                name,
                url: Box::new(url),
            });
        }
        self.scratch.drop_now().await?;
        Ok(Finished::Dropped)
    }
}
