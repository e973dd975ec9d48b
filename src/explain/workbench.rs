//! What `explain --before V` needs from the rest of dbkit, behind one small boundary:
//! a scratch database, migrations to a version, seeding. `Dbkit` is the real thing
//! (db::scratch, migrate::migrate_url, seed::seed_database).

use std::path::Path;

use anyhow::{Context, Result};

use crate::db::scratch::ScratchDb;
use crate::db::DbUrl;
use crate::migrate::MigrationSet;

// Only dbkit implements and calls it, on one task: no Send bound needed.
#[allow(async_fn_in_trait)]
pub trait Workbench {
    /// A fresh, empty database on the server.
    async fn create_scratch(&mut self, server: &DbUrl) -> Result<DbUrl>;
    /// Apply migrations up to `target` (None: all); the version reached.
    async fn migrate_to(&mut self, url: &DbUrl, target: Option<i32>) -> Result<Option<i32>>;
    /// Seed `orgs` orgs deterministically (optionally with a profile); the number of
    /// appointments.
    async fn seed(
        &mut self,
        url: &DbUrl,
        orgs: u32,
        seed: u64,
        profile: Option<&Path>,
    ) -> Result<i64>;
    /// Drop the scratch database, or keep it and say which it is.
    async fn finish(&mut self, keep: bool) -> Result<Option<String>>;
}

pub struct Dbkit {
    pub migrations: MigrationSet,
    scratch: Option<ScratchDb>,
}

impl Dbkit {
    pub fn new(migrations: MigrationSet) -> Dbkit {
        Dbkit {
            migrations,
            scratch: None,
        }
    }
}

impl Workbench for Dbkit {
    async fn create_scratch(&mut self, server: &DbUrl) -> Result<DbUrl> {
        let scratch = ScratchDb::create(server, "explain", None)
            .await
            .context("cannot create the scratch database for --before")?;
        let url = scratch.url().clone();
        self.scratch = Some(scratch);
        Ok(url)
    }

    async fn migrate_to(&mut self, url: &DbUrl, target: Option<i32>) -> Result<Option<i32>> {
        let target = target.map(crate::migrate::Version::from);
        let report = crate::migrate::migrate_url(url, &self.migrations, target).await?;
        report.version().map(|v| v.to_i32()).transpose()
    }

    async fn seed(
        &mut self,
        url: &DbUrl,
        orgs: u32,
        seed: u64,
        profile: Option<&Path>,
    ) -> Result<i64> {
        let profile = match profile {
            Some(path) => crate::seed::Profile::from_file(path)?,
            None => crate::seed::Profile::default_profile(),
        };
        let opts = crate::seed::SeedOptions {
            orgs,
            seed,
            profile,
            ..crate::seed::SeedOptions::default()
        };
        let summary = crate::seed::seed_database(url, &opts)
            .await
            .context("seeding the scratch database")?;
        Ok(summary.tables.appointments as i64)
    }

    async fn finish(&mut self, keep: bool) -> Result<Option<String>> {
        let Some(scratch) = self.scratch.take() else {
            return Ok(None);
        };
        if keep {
            let name = scratch.name().to_string();
            scratch.keep();
            return Ok(Some(name));
        }
        scratch.drop_now().await?;
        Ok(None)
    }
}
