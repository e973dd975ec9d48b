//! The workload: the queries a project runs, in one catalog format (`catalog`: catalog.yaml
//! and one .sql file per query, typed `$n` parameters with samplers over the seeded
//! data). A catalog is written by hand, derived from the schema model (`derive`, what
//! `dbkit queries init` writes) or read from pg_stat_statements (`from_stats`). Below
//! explain, bench and rehearse, which all run whatever catalog the project has.
//!
//! Owns: the format (`catalog`), parameter types and values (`param`), sampling the
//! orgs and every query's parameters from the data (`sample`), checking a catalog
//! against a database (`validate`), deriving one (`derive`), reading live traffic
//! (`from_stats`) and writing a catalog as files (`write`).

pub mod catalog;
pub mod derive;
pub mod param;
pub mod sample;
pub mod validate;

pub use catalog::{Catalog, CatalogError, Origin, Query};
pub use param::{ParamType, ParamValue};

use std::path::{Path, PathBuf};

use anyhow::Result;
use tokio_postgres::Client;

use crate::migrate::source::Origin as MigrationOrigin;
use crate::migrate::MigrationSet;
use crate::schema::Config;

/// The queries directory a project keeps its catalog in.
pub const DEFAULT_DIR: &str = "queries";

/// Where a command's catalog comes from: loaded (a directory, or the booking queries
/// shipped in the binary), or derived from the schema of the database the command
/// runs on — a project without `queries/`.
#[derive(Debug, Clone)]
pub enum CatalogSource {
    Loaded(Catalog),
    Derived {
        config: Config,
        /// `--only`: the derived queries to keep.
        only: Vec<String>,
    },
}

impl CatalogSource {
    /// `--queries DIR` when given; else `./queries` when it holds a catalog; else the
    /// shipped booking queries for the built-in booking schema; else derived from the
    /// schema of the project's migrations. A directory is loaded now, so a broken
    /// catalog.yaml is reported before anything connects.
    pub fn locate(
        queries: Option<&Path>,
        migrations: &MigrationSet,
        only: &[String],
    ) -> Result<CatalogSource> {
        let default = Path::new(DEFAULT_DIR);
        let loaded = match queries {
            Some(dir) => Some(Catalog::load(dir)?),
            None if default.join("catalog.yaml").exists() => Some(Catalog::load(default)?),
            None if migrations.origin == MigrationOrigin::Embedded => Some(Catalog::embedded()?),
            None => None,
        };
        match loaded {
            Some(mut catalog) => {
                catalog.retain(only)?;
                Ok(CatalogSource::Loaded(catalog))
            }
            None => {
                let dir: PathBuf = match &migrations.origin {
                    MigrationOrigin::Dir(dir) => dir.clone(),
                    MigrationOrigin::Embedded => PathBuf::from(crate::migrate::layout::DEFAULT_DIR),
                };
                Ok(CatalogSource::Derived {
                    config: Config::find(&dir)?,
                    only: only.to_vec(),
                })
            }
        }
    }

    /// The catalog, on the database `client` is connected to: a derived one from its
    /// schema model, said on stderr in one line (`who`: the command).
    pub async fn resolve(&self, client: &Client, who: &str) -> Result<Catalog> {
        match self {
            CatalogSource::Loaded(catalog) => Ok(catalog.clone()),
            CatalogSource::Derived { config, only } => {
                let model = crate::schema::model(client, config).await?;
                let mut catalog = derive::catalog(&model)?;
                catalog.retain(only)?;
                eprintln!(
                    "{who}: no {DEFAULT_DIR}/ here: running {} queries derived from the schema (`dbkit queries init` writes them to edit)",
                    catalog.queries.len()
                );
                Ok(catalog)
            }
        }
    }
}
