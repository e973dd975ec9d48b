//! Extensions a project needs that the server lacks: which ones (the `CREATE
//! EXTENSION` statements of the migrations about to run, against
//! `pg_available_extensions`), and the Debian package that brings each, so dbkit can
//! refuse with one error naming them before anything runs (`migrate::guard`), not
//! fail halfway through.

use anyhow::{Context, Result};
use tokio_postgres::Client;

use crate::migrate::version::Version;

/// An extension a migration creates: its name as PostgreSQL stores it, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionUse {
    pub name: String,
    /// The migration's version and the line of its CREATE EXTENSION.
    pub version: Version,
    pub line: usize,
}

/// An extension the server cannot create, and what to install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Missing {
    pub usage: ExtensionUse,
    /// `install postgresql-15-pgvector`, or what to do where no package exists.
    pub install: String,
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

/// How to get `extension` on a Debian server of PostgreSQL `major`: `install
/// postgresql-15-pgvector`.
pub fn install_advice(extension: &str, major: u32) -> String {
    if let Some((_, suffix)) = PACKAGES.iter().find(|(name, _)| *name == extension) {
        return format!("install postgresql-{major}-{suffix}");
    }
    if super::stubs::Stub::of_extension(extension).is_some() {
        return "Supabase's own: `--platform supabase` stubs it on a plain PostgreSQL".to_string();
    }
    if SUPABASE_ONLY.contains(&extension) {
        return "Supabase's own: no Debian package, build it from source".to_string();
    }
    format!(
        "install the package that ships it, often postgresql-{major}-{}",
        extension.replace('_', "-")
    )
}

/// The extensions of `uses` the server can neither create nor has (first use of each,
/// in order), with the package for each.
pub async fn missing(client: &Client, uses: &[ExtensionUse]) -> Result<Vec<Missing>> {
    if uses.is_empty() {
        return Ok(Vec::new());
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
    let mut out: Vec<Missing> = Vec::new();
    for u in uses {
        if !available.contains(&u.name) && !out.iter().any(|m| m.usage.name == u.name) {
            out.push(Missing {
                usage: u.clone(),
                install: String::new(),
            });
        }
    }
    if out.is_empty() {
        return Ok(out);
    }
    let major: i32 = client
        .query_one(
            "SELECT current_setting('server_version_num')::int / 10000",
            &[],
        )
        .await
        .context("cannot read the server version")?
        .get(0);
    for m in &mut out {
        m.install = install_advice(&m.usage.name, major as u32);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packages_for_known_unknown_and_supabase_only_extensions() {
        assert_eq!(
            install_advice("vector", 15),
            "install postgresql-15-pgvector"
        );
        assert_eq!(
            install_advice("postgis", 16),
            "install postgresql-16-postgis-3"
        );
        assert_eq!(install_advice("pg_cron", 15), "install postgresql-15-cron");
        assert!(install_advice("pg_net", 15).contains("`--platform supabase` stubs it"));
        assert!(install_advice("pgmq", 15).contains("no Debian package"));
        assert_eq!(
            install_advice("pg_foo", 15),
            "install the package that ships it, often postgresql-15-pg-foo"
        );
    }
}
