//! The project's schema, read once and typed, below every command: the catalog's facts
//! (relations, columns and types, keys, foreign keys, CHECKs, reachability, functions,
//! policies) and the tenancy model inferred from them and corrected by `dbkit.yaml`.
//! check, seed, explain, bench and rehearse all read it; none re-queries the catalog its
//! own way.

pub mod config;
pub mod facts;
pub mod policy;
pub mod policy_expr;
pub mod stats;
pub mod tenancy;

use anyhow::Result;
use tokio_postgres::Client;

pub use config::Config;
pub use facts::Facts;
pub use tenancy::Tenancy;

/// The schemas a project's migrations own: not PostgreSQL's, not Supabase-managed.
/// Used with the namespace aliased `n`.
macro_rules! user_schema {
    () => {
        "n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', 'auth', 'storage', \
         'realtime', 'extensions', 'graphql', 'graphql_public', 'vault', 'pgsodium', \
         'supabase_functions', 'net', 'cron') AND n.nspname NOT LIKE 'pg\\_%'"
    };
}
pub(crate) use user_schema;

/// The objects (aliased `$alias`, with the namespace aliased `n`) a project's migrations
/// made: in one of its schemas, and not part of an extension.
macro_rules! project_made {
    ($alias:literal) => {
        concat!(
            "NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = ",
            $alias,
            ".oid AND d.deptype = 'e') AND ",
            $crate::schema::user_schema!()
        )
    };
}
pub(crate) use project_made;

/// The facts of a database and the tenancy model inferred from them.
#[derive(Debug, Clone)]
pub struct Model {
    pub facts: Facts,
    pub tenancy: Tenancy,
}

/// Read the catalog and infer the model (`config` corrects it).
pub async fn model(client: &Client, config: &Config) -> Result<Model> {
    let facts = facts::load(client, &config.exposed_schemas()).await?;
    let tenancy = tenancy::infer(&facts, config);
    Ok(Model { facts, tenancy })
}
