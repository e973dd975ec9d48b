//! Extensions a project needs that the server lacks: which ones (the `CREATE
//! EXTENSION` statements of the migrations about to run, against
//! `pg_available_extensions`), and the Debian package that brings each, so dbkit can
//! refuse with one error naming them before anything runs, not fail halfway through.

use anyhow::{Context, Result};
use tokio_postgres::Client;

use crate::error::hinted;

/// An extension a migration creates: where, and its name as PostgreSQL stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionUse {
    pub name: String,
    /// `file:line` of the CREATE EXTENSION.
    pub place: String,
}

/// Debian/PGDG package suffixes (`postgresql-<major>-<suffix>`) of the extensions
/// Supabase projects use that the PostgreSQL server package does not ship.
const PACKAGES: &[(&str, &str)] = &[
    ("vector", "pgvector"),
    ("http", "http"),
    ("plv8", "plv8"),
    ("postgis", "postgis-3"),
    ("postgis_raster", "postgis-3"),
    ("postgis_topology", "postgis-3"),
    ("postgis_tiger_geocoder", "postgis-3"),
    ("address_standardizer", "postgis-3"),
    ("pgrouting", "pgrouting"),
    ("pg_cron", "cron"),
    ("pgtap", "pgtap"),
    ("hypopg", "hypopg"),
    ("pg_partman", "partman"),
    ("pg_repack", "repack"),
    ("pgaudit", "pgaudit"),
    ("plpgsql_check", "plpgsql-check"),
    ("rum", "rum"),
    ("hll", "hll"),
    ("pg_hashids", "hashids"),
    ("pgjwt", "pgjwt"),
    ("pg_jsonschema", "pg-jsonschema"),
    ("pgsodium", "pgsodium"),
];

/// Supabase's own extensions: no Debian package brings them.
const SUPABASE_ONLY: &[&str] = &[
    "pg_net",
    "pg_graphql",
    "supabase_vault",
    "wrappers",
    "pg_stat_monitor",
    "pgmq",
];

/// How to get `extension` on a Debian server of PostgreSQL `major`.
pub fn install_advice(extension: &str, major: u32) -> String {
    if let Some((_, suffix)) = PACKAGES.iter().find(|(name, _)| *name == extension) {
        return format!("postgresql-{major}-{suffix}");
    }
    if SUPABASE_ONLY.contains(&extension) {
        return format!("{extension} (Supabase's own: no Debian package; build it from source)");
    }
    format!(
        "the package that ships {extension} (often postgresql-{major}-{})",
        extension.replace('_', "-")
    )
}

/// Refuse, naming every extension of `uses` the server cannot create and the package
/// for each; Ok when all are available (or installed).
pub async fn require_available(client: &Client, uses: &[ExtensionUse]) -> Result<()> {
    if uses.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = uses.iter().map(|u| u.name.as_str()).collect();
    let available: Vec<String> = client
        .query(
            "SELECT name FROM pg_available_extensions WHERE name = ANY ($1)",
            &[&names],
        )
        .await
        .context("cannot read pg_available_extensions")?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut missing: Vec<&ExtensionUse> = Vec::new();
    for u in uses {
        if !available.contains(&u.name) && !missing.iter().any(|m| m.name == u.name) {
            missing.push(u);
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let major: i32 = client
        .query_one(
            "SELECT current_setting('server_version_num')::int / 10000",
            &[],
        )
        .await
        .context("cannot read the server version")?
        .get(0);
    let major = major as u32;
    let listed = missing
        .iter()
        .map(|m| format!("{} ({})", m.name, m.place))
        .collect::<Vec<_>>()
        .join(", ");
    let packages = missing
        .iter()
        .map(|m| install_advice(&m.name, major))
        .collect::<Vec<_>>()
        .join(", ");
    Err(hinted(
        format!(
            "the server lacks the extension{} {listed} that the migrations create; nothing was run",
            if missing.len() == 1 { "" } else { "s" }
        ),
        format!("install {packages} on the PostgreSQL server (apt-get install), then run again"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packages_for_known_unknown_and_supabase_only_extensions() {
        assert_eq!(install_advice("vector", 15), "postgresql-15-pgvector");
        assert_eq!(install_advice("postgis", 16), "postgresql-16-postgis-3");
        assert_eq!(install_advice("pg_cron", 15), "postgresql-15-cron");
        assert!(install_advice("pg_net", 15).contains("no Debian package"));
        assert_eq!(
            install_advice("pg_foo", 15),
            "the package that ships pg_foo (often postgresql-15-pg-foo)"
        );
    }
}
