//! What `explain --before V` needs from the rest of dbkit, behind one small boundary:
//! a scratch database, migrations to a version, seeding. `Dbkit` is the real thing
//! (db::scratch, migrate::migrate_url); the seeding is an INTERIM SQL script here until
//! seed::seed_database lands on main.

use anyhow::{Context, Result};

use crate::db::scratch::ScratchDb;
use crate::db::{connect, DbUrl};
use crate::migrate::MigrationSet;

// Only dbkit implements and calls it, on one task: no Send bound needed.
#[allow(async_fn_in_trait)]
pub trait Workbench {
    /// A fresh, empty database on the server.
    async fn create_scratch(&mut self, server: &DbUrl) -> Result<DbUrl>;
    /// Apply migrations up to `target` (None: all); the version reached.
    async fn migrate_to(&mut self, url: &DbUrl, target: Option<i32>) -> Result<Option<i32>>;
    /// Seed `orgs` orgs deterministically; the number of appointments.
    async fn seed(&mut self, url: &DbUrl, orgs: u32, seed: u64) -> Result<i64>;
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
        let report = crate::migrate::migrate_url(url, &self.migrations, target).await?;
        Ok(report.version())
    }

    async fn seed(&mut self, url: &DbUrl, orgs: u32, seed: u64) -> Result<i64> {
        let sql = include_str!("interim_seed.sql")
            .replace("__ORGS__", &orgs.to_string())
            .replace("__APPTS__", &(u64::from(orgs) * 20_000).to_string());
        let _ = seed; // the interim data is fixed; the real seed module honours --seed
        let client = connect(url).await?;
        client
            .batch_execute(&sql)
            .await
            .context("seeding the scratch database")?;
        Ok(client
            .query_one("SELECT count(*) FROM appointments", &[])
            .await?
            .get(0))
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
