//! What `explain --before V` needs from the rest of dbkit, behind one small boundary:
//! a scratch database, migrations to a version, seeding. `Dbkit` is the real thing
//! (migrate::migrate_url); the scratch database and the seeding are INTERIM
//! implementations here until db::scratch and seed::seed_database land on main.

use anyhow::{Context, Result};

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
    scratch: Option<(DbUrl, String)>,
}

impl Dbkit {
    pub fn new(migrations: MigrationSet) -> Dbkit {
        Dbkit {
            migrations,
            scratch: None,
        }
    }
}

fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

impl Workbench for Dbkit {
    async fn create_scratch(&mut self, server: &DbUrl) -> Result<DbUrl> {
        let name = format!(
            "dbkit_explain_{}_{}",
            std::process::id(),
            chrono::Utc::now().timestamp_millis() % 1_000_000
        );
        let client = connect(server).await?;
        client
            .batch_execute(&format!("CREATE DATABASE {}", quote(&name)))
            .await
            .with_context(|| format!("cannot create scratch database {name}"))?;
        self.scratch = Some((server.clone(), name.clone()));
        Ok(server.with_dbname(&name))
    }

    async fn migrate_to(&mut self, url: &DbUrl, target: Option<i32>) -> Result<Option<i32>> {
        let report = crate::migrate::migrate_url(url, &self.migrations, target).await?;
        Ok(report.version())
    }

    async fn seed(&mut self, url: &DbUrl, orgs: u32, seed: u64) -> Result<i64> {
        let sql = include_str!("interim_seed.sql")
            .replace("__ORGS__", &orgs.to_string())
            .replace("__APPTS__", &(u64::from(orgs) * 20_000).to_string())
            .replace(
                "setseed(0.42)",
                &format!("setseed({})", (seed % 1000) as f64 / 1000.0),
            );
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
        let Some((server, name)) = self.scratch.take() else {
            return Ok(None);
        };
        if keep {
            return Ok(Some(name));
        }
        let client = connect(&server).await?;
        client
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                quote(&name)
            ))
            .await
            .with_context(|| format!("cannot drop scratch database {name}"))?;
        Ok(None)
    }
}
