//! The lab: dbkit's one scratch-database workflow. Every command that must not touch
//! the target's data (`explain --before`, `bench --before`, `check`'s apply and upgrade
//! runs, and later `rehearse`) builds its database here: create on a server, migrate to
//! V, seed, ANALYZE, migrate on, then keep or drop — named and cleaned up one way
//! (`db::scratch`: `dbkit_scratch_<purpose>_<pid>_<n>`, leftovers of dead processes
//! dropped by the next run on a local server).
//!
//! A `Lab` owns its database until `finish`. It writes nothing to stdout; what it did is
//! returned (`Built`, `Finished`) for the command layer to report.
//!
//! With a `CachePolicy::On`, what was built is kept as a template (`cache`): the seeded
//! database at V, and the database migrated on from it. A later lab with the same inputs
//! clones the template instead of migrating and seeding again.

pub mod cache;

use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::db::scratch::ScratchDb;
use crate::db::{connect, DbUrl};
use crate::migrate::apply::migrate_url;
use crate::migrate::{MigrationSet, Version};
use crate::seed::{SeedOptions, SeedSummary};
use cache::CacheKey;
pub use cache::CachePolicy;

/// One scratch database and the migrations it is built from.
#[derive(Debug)]
pub struct Lab {
    scratch: ScratchDb,
    migrations: MigrationSet,
    /// The version the database is at (None: nothing applied yet).
    version: Option<Version>,
    /// Where the lab's server is and whether templates are used.
    server: DbUrl,
    policy: CachePolicy,
    /// The key of what the database holds now (seeded at V, then migrated on), when
    /// caching: what a template of it would be named after.
    key: Option<CacheKey>,
}

/// Whether a build came from a template.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CacheUse {
    /// Caching off: built from scratch, nothing kept.
    #[default]
    Off,
    /// Cloned from this template.
    Hit(String),
    /// Built, then stored as this template.
    Stored(String),
    /// Built; storing it failed (the reason). The work itself succeeded.
    NotStored(String),
}

/// How long each step of `Lab::seeded_at` took.
#[derive(Debug, Clone, Default)]
pub struct Built {
    pub version: Option<Version>,
    pub seed: Option<SeedSummary>,
    pub create: Duration,
    pub migrate: Duration,
    pub seeding: Duration,
    pub cache: CacheUse,
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
        let scratch = open_scratch(server, purpose, None, &migrations)
            .await
            .with_context(|| format!("cannot create the scratch database for {purpose}"))?;
        Ok(Lab {
            scratch,
            migrations,
            version: None,
            server: server.clone(),
            policy: CachePolicy::Off,
            key: None,
        })
    }

    /// A copy of the database `source` on the server `server` points at, as a lab of
    /// its own at `version` (`CREATE DATABASE … TEMPLATE`: nobody may be connected to
    /// `source`). Work that changes the schema to measure it — index advice builds
    /// candidate indexes — happens on the copy; `source` is never touched.
    pub async fn copy_of(
        server: &DbUrl,
        source: &str,
        purpose: &str,
        migrations: MigrationSet,
        version: Option<Version>,
    ) -> Result<Lab> {
        // A session on `source` itself would make it busy: connect elsewhere on the server.
        let admin = if server.dbname() == source {
            server.with_dbname("postgres")
        } else {
            server.clone()
        };
        let scratch = open_scratch(&admin, purpose, Some(source), &migrations)
            .await
            .with_context(|| format!("cannot copy the database {source} for {purpose}"))?;
        Ok(Lab {
            scratch,
            migrations,
            version,
            server: admin,
            policy: CachePolicy::Off,
            key: None,
        })
    }

    /// A copy of this lab's database (see `copy_of`).
    pub async fn copy(&self, purpose: &str) -> Result<Lab> {
        Lab::copy_of(
            &self.server,
            self.name(),
            purpose,
            self.migrations.clone(),
            self.version,
        )
        .await
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
        let built = lab.prepare(version, seed, CachePolicy::Off).await?;
        Ok((lab, Built { create, ..built }))
    }

    /// The seeded lab a command measures on (`bench --before`, `rehearse`): said on
    /// stderr (`who`: the command), created, migrated to `version` and seeded with
    /// `orgs` orgs through the cache `policy`. A stop signal during the build ends it
    /// with `interrupted()` — also when the seed noticed the stop first and said so in
    /// its own words — and on any error the lab is dropped before the error returns.
    #[allow(clippy::too_many_arguments)]
    pub async fn seeded_for(
        server: &DbUrl,
        who: &str,
        purpose: &str,
        migrations: MigrationSet,
        version: Version,
        orgs: u32,
        policy: CachePolicy,
        interrupted: impl Fn() -> anyhow::Error,
    ) -> Result<(Lab, Built)> {
        crate::progress::say(&format!(
            "{who}: building a lab database at {} with {orgs} orgs",
            migrations.label(version)
        ));
        let seed = SeedOptions {
            orgs,
            progress: crate::progress::enabled(),
            ..SeedOptions::default()
        };
        let mut lab = Lab::create(server, purpose, migrations).await?;
        let built = tokio::select! {
            built = lab.prepare(version, Some(&seed), policy) => built,
            _ = crate::signal::wait() => Err(interrupted()),
        };
        match built {
            Ok(built) => Ok((lab, built)),
            Err(e) => {
                let _ = lab.finish(false).await;
                Err(match crate::signal::stopped() {
                    Some(_) => interrupted(),
                    None => e,
                })
            }
        }
    }

    /// `seeded_at`, reusing a template when `policy` allows: on a hit the database is a
    /// clone of the template (no migrating, no seeding); on a miss it is built and then
    /// stored as the template. A hit and a miss hold the same rows and statistics.
    pub async fn seeded_at_with(
        server: &DbUrl,
        purpose: &str,
        migrations: MigrationSet,
        version: impl Into<Version>,
        seed: Option<&SeedOptions>,
        policy: CachePolicy,
    ) -> Result<(Lab, Built)> {
        let version = version.into();
        if policy == CachePolicy::Off {
            return Lab::seeded_at(server, purpose, migrations, version, seed).await;
        }
        let mut lab = Lab::create(server, purpose, migrations).await?;
        let built = lab.prepare(version, seed, policy).await?;
        Ok((lab, built))
    }

    /// On a lab just created (empty): bring it to `version` and seed it, reusing a
    /// template when `policy` allows (the lab's database is then replaced by a clone, so
    /// read its URL again). What `seeded_at_with` does, for callers that create the lab
    /// first so that a stop during the build can drop it.
    pub async fn prepare(
        &mut self,
        version: Version,
        seed: Option<&SeedOptions>,
        policy: CachePolicy,
    ) -> Result<Built> {
        let started = Instant::now();
        self.policy = policy;
        let (admin, key) = if policy == CachePolicy::On {
            let admin = connect(&self.server).await?;
            let mut key = CacheKey::new(cache::server_major(&admin).await?);
            key_migrations(&mut key, &self.migrations, Some(version));
            key_seed(&mut key, seed);
            (Some(admin), Some(key))
        } else {
            (None, None)
        };
        if let (Some(admin), Some(key)) = (&admin, &key) {
            let name = key.database_name();
            if cache::has_template(admin, &name).await? {
                self.replace_with_clone(&name).await?;
                self.version = Some(version);
                self.key = Some(key.clone());
                return Ok(Built {
                    version: self.version,
                    create: started.elapsed(),
                    cache: CacheUse::Hit(name),
                    ..Built::default()
                });
            }
        }
        self.migrate_to(Some(version)).await?;
        let migrate = started.elapsed();
        let started = Instant::now();
        let summary = match seed {
            Some(opts) => Some(self.seed(opts).await?),
            None => None,
        };
        let mut built = Built {
            version: self.version,
            seed: summary,
            migrate,
            seeding: started.elapsed(),
            ..Built::default()
        };
        if let (Some(admin), Some(key)) = (admin, key) {
            built.cache = self.store(&admin, &key.database_name()).await;
            self.key = Some(key);
        }
        Ok(built)
    }

    fn cached_key(&self) -> Option<CacheKey> {
        self.key.clone().filter(|_| self.policy == CachePolicy::On)
    }

    /// Migrate on to `target` (None: the head) and ANALYZE, reusing a template of the
    /// result when the lab caches: on a hit the lab's database is replaced by a clone.
    /// The lab's URL may change: read it again afterwards.
    pub async fn migrate_on(&mut self, target: Option<Version>) -> Result<CacheUse> {
        let Some(mut key) = self.cached_key() else {
            self.migrate_to(target).await?;
            self.analyze().await?;
            return Ok(CacheUse::Off);
        };
        key.part("migrated-on", "");
        key_migrations(&mut key, &self.migrations, target);
        let name = key.database_name();
        let admin = connect(&self.server).await?;
        if cache::has_template(&admin, &name).await? {
            self.replace_with_clone(&name).await?;
            self.version = target.or_else(|| self.migrations.latest());
            self.key = Some(key);
            return Ok(CacheUse::Hit(name));
        }
        self.migrate_to(target).await?;
        self.analyze().await?;
        self.key = Some(key);
        Ok(self.store(&admin, &name).await)
    }

    /// Swap the lab's database for a clone of the template `name` (the old one is
    /// dropped).
    async fn replace_with_clone(&mut self, name: &str) -> Result<()> {
        let clone = open_scratch(&self.server, "lab", Some(name), &self.migrations)
            .await
            .with_context(|| format!("cannot clone the template {name}"))?;
        let old = std::mem::replace(&mut self.scratch, clone);
        old.drop_now().await
    }

    /// Keep a copy of the database as the template `name`. Never fails the work: the
    /// reason is returned instead.
    async fn store(&self, admin: &tokio_postgres::Client, name: &str) -> CacheUse {
        match cache::store(admin, self.scratch.name(), name).await {
            Ok(_) => CacheUse::Stored(name.to_string()),
            Err(e) => CacheUse::NotStored(crate::error::one_line(&e)),
        }
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
            // Settings for the build are not for whoever inspects the database.
            let _ = untune(self.scratch.url()).await;
        }
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

/// A scratch database (empty, or a clone of `template`) tuned for building, with the
/// Supabase platform when the migrations want it — provided again on a clone, which
/// lacks its template's database settings (search_path).
async fn open_scratch(
    server: &DbUrl,
    purpose: &str,
    template: Option<&str>,
    migrations: &MigrationSet,
) -> Result<ScratchDb> {
    let scratch = ScratchDb::create(server, purpose, template).await?;
    let ready = async {
        tune(scratch.url()).await?;
        crate::platform::provide_if_wanted(scratch.url(), migrations).await
    };
    match ready.await {
        Ok(_) => Ok(scratch),
        // Not half-made and left behind: dropped before the error is returned.
        Err(e) => {
            let _ = scratch.drop_now().await;
            Err(e)
        }
    }
}

/// The migrations up to `upto` (all when None), by file name and exact SQL.
fn key_migrations(key: &mut CacheKey, set: &MigrationSet, upto: Option<Version>) {
    for m in &set.migrations {
        if upto.is_none_or(|v| m.version <= v) {
            key.migration(&m.file_name, &m.sql);
        }
    }
}

/// The seed inputs; the anchor date resolved (it defaults to today, so a template of
/// yesterday's seed is not today's).
fn key_seed(key: &mut CacheKey, seed: Option<&SeedOptions>) {
    let Some(opts) = seed else {
        key.part("seed", "none");
        return;
    };
    let anchor = opts
        .anchor_date
        .unwrap_or_else(|| chrono::Utc::now().date_naive());
    key.part("seed", &opts.seed.to_string())
        .part("orgs", &opts.orgs.to_string())
        .part("profile", &format!("{:?}", opts.profile))
        .part("anchor", &anchor.to_string());
}

/// Settings for building: index and constraint builds get memory and parallel
/// workers; commits need not wait for the disk (a lab database is thrown away).
const TUNE: &[(&str, &str)] = &[
    ("maintenance_work_mem", "512MB"),
    ("max_parallel_maintenance_workers", "2"),
    ("synchronous_commit", "off"),
];

async fn tune(url: &DbUrl) -> Result<()> {
    build_settings(url, true)
        .await
        .context("cannot tune the scratch database for the build")
}

async fn untune(url: &DbUrl) -> Result<()> {
    build_settings(url, false).await
}

/// Set the `TUNE` settings on the database (`on`), or reset them.
async fn build_settings(url: &DbUrl, on: bool) -> Result<()> {
    let client = connect(url).await?;
    let db = crate::db::ident::quote(&url.dbname());
    let sql: String = TUNE
        .iter()
        .map(|(name, value)| match on {
            true => format!("ALTER DATABASE {db} SET {name} = '{value}';"),
            false => format!("ALTER DATABASE {db} RESET {name};"),
        })
        .collect();
    client.batch_execute(&sql).await?;
    Ok(())
}
