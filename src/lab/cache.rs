//! Templates of what the lab built, reused through `CREATE DATABASE … TEMPLATE`.
//!
//! A template is a database named `dbkit_cache_<hash>`, where the hash covers everything
//! that determines its contents: the migration files applied (names and exact SQL), the
//! seed inputs (seed, orgs, profile, anchor date), dbkit's version and the server's major
//! version. Change any of them and the key changes: a stale template is never used. A
//! template is marked complete (a comment on the database) only after it was copied
//! whole, so one interrupted while being made is ignored and replaced.
//!
//! Caching is on by default on dbkit's own local cluster and off elsewhere unless asked
//! (`--cache`): dbkit never leaves large databases on someone's server unasked.

use std::time::SystemTime;

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use tokio_postgres::error::SqlState;
use tokio_postgres::Client;

use crate::db::ident::quote;
use crate::db::{connect, DbUrl};

pub const PREFIX: &str = "dbkit_cache_";
/// The comment that marks a template complete; the build time follows it.
const COMPLETE: &str = "dbkit cache complete at ";

/// Whether a lab may read and write templates on its server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CachePolicy {
    /// Build every time, leave nothing behind.
    #[default]
    Off,
    /// Reuse templates, and keep what was built as templates.
    On,
}

impl CachePolicy {
    /// On for dbkit's local cluster, else only when asked (`--cache`).
    pub fn for_target(local_cluster: bool, asked: bool) -> CachePolicy {
        if local_cluster || asked {
            CachePolicy::On
        } else {
            CachePolicy::Off
        }
    }
}

/// Everything that determines a template, fed into its hash.
#[derive(Debug, Clone, Default)]
pub struct CacheKey {
    hasher: Sha256,
}

impl CacheKey {
    /// A key for this dbkit and this server major version.
    pub fn new(server_major: u32) -> CacheKey {
        let mut key = CacheKey::default();
        key.part("dbkit", env!("CARGO_PKG_VERSION"));
        key.part("server", &server_major.to_string());
        key
    }

    /// Add one named input. Parts are length-prefixed, so `("ab","c")` and `("a","bc")`
    /// differ.
    pub fn part(&mut self, name: &str, value: &str) -> &mut CacheKey {
        for bytes in [name.as_bytes(), value.as_bytes()] {
            self.hasher.update((bytes.len() as u64).to_le_bytes());
            self.hasher.update(bytes);
        }
        self
    }

    /// Add a migration file: its name and its exact SQL.
    pub fn migration(&mut self, file_name: &str, sql: &str) -> &mut CacheKey {
        self.part("migration", file_name).part("sql", sql)
    }

    /// The template's database name: the prefix and 24 hex digits of the hash.
    pub fn database_name(&self) -> String {
        let digest = self.hasher.clone().finalize();
        let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
        format!("{PREFIX}{hex}")
    }
}

/// The server's major version (15 for 15.4), part of every key.
pub async fn server_major(client: &Client) -> Result<u32> {
    let num: i32 = client
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .await
        .context("cannot read the server version")?
        .get(0);
    Ok(u32::try_from(num / 10_000).unwrap_or(0))
}

/// Whether a complete template of that name exists.
pub async fn has_template(client: &Client, name: &str) -> Result<bool> {
    let row = client
        .query_opt(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
            &[&name],
        )
        .await
        .context("cannot look up the lab's templates")?;
    Ok(row
        .and_then(|r| r.get::<_, Option<String>>(0))
        .is_some_and(|c| c.starts_with(COMPLETE)))
}

/// Copy the database `source` (nobody may be connected to it) into the template `name`,
/// then mark it complete. An incomplete template of that name is replaced. Returns false
/// when another process made it first.
pub async fn store(client: &Client, source: &str, name: &str) -> Result<bool> {
    if has_template(client, name).await? {
        return Ok(false);
    }
    client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {}", quote(name)))
        .await
        .with_context(|| format!("cannot replace the incomplete template {name}"))?;
    // The lab's own sessions may take a moment to end after their clients are dropped.
    let mut attempt = 0;
    loop {
        attempt += 1;
        match client.batch_execute(&copy_sql(name, source)).await {
            Ok(()) => break,
            Err(e) if e.code() == Some(&SqlState::DUPLICATE_DATABASE) => return Ok(false),
            Err(e) if attempt < 50 && e.code() == Some(&SqlState::OBJECT_IN_USE) => {
                tokio::time::sleep(std::time::Duration::from_millis(100)).await
            }
            Err(e) => return Err(e).with_context(|| format!("cannot store the template {name}")),
        }
    }
    let stamp = chrono::DateTime::<chrono::Utc>::from(SystemTime::now()).to_rfc3339();
    client
        .batch_execute(&format!(
            "COMMENT ON DATABASE {} IS '{COMPLETE}{stamp}'",
            quote(name)
        ))
        .await
        .with_context(|| format!("cannot mark the template {name} complete"))?;
    Ok(true)
}

/// `CREATE DATABASE name TEMPLATE source`, by file copy: on PostgreSQL 15+ the default
/// WAL_LOG strategy writes every block through the WAL, several times slower for the
/// gigabyte a 50-org lab holds.
pub fn copy_sql(name: &str, source: &str) -> String {
    format!(
        "CREATE DATABASE {} TEMPLATE {} STRATEGY = FILE_COPY",
        quote(name),
        quote(source)
    )
}

/// One template on the server, for `db status` and `db prune-cache`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Template {
    pub name: String,
    pub bytes: i64,
    /// RFC 3339 build time; None for an incomplete one.
    pub built_at: Option<String>,
}

/// The server's templates, largest first.
pub async fn list(server: &DbUrl) -> Result<Vec<Template>> {
    let client = connect(server).await?;
    let rows = client
        .query(
            "SELECT datname, pg_database_size(oid), shobj_description(oid, 'pg_database') \
             FROM pg_database WHERE starts_with(datname, $1) ORDER BY 2 DESC, 1",
            &[&PREFIX],
        )
        .await
        .context("cannot list the lab's templates")?;
    Ok(rows
        .iter()
        .map(|r| Template {
            name: r.get(0),
            bytes: r.get(1),
            built_at: r
                .get::<_, Option<String>>(2)
                .and_then(|c| c.strip_prefix(COMPLETE).map(str::to_string)),
        })
        .collect())
}

/// Drop every template on the server; the names dropped.
pub async fn prune(server: &DbUrl) -> Result<Vec<String>> {
    let client = connect(server).await?;
    let mut dropped = Vec::new();
    for template in list(server).await? {
        client
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                quote(&template.name)
            ))
            .await
            .with_context(|| format!("cannot drop the template {}", template.name))?;
        dropped.push(template.name);
    }
    Ok(dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_input_changes_the_key() {
        let key = |server, sql, seed| {
            let mut k = CacheKey::new(server);
            k.migration("V1__a.sql", sql).part("seed", seed);
            k.database_name()
        };
        let name = key(15, "select 1;", "42");
        assert!(
            name.starts_with(PREFIX) && name.len() == PREFIX.len() + 24,
            "{name}"
        );
        assert_eq!(name, key(15, "select 1;", "42"), "deterministic");
        assert_ne!(
            key(15, "select 2;", "42"),
            name,
            "an edited migration misses"
        );
        assert_ne!(key(15, "select 1;", "43"), name, "another seed misses");
        assert_ne!(key(16, "select 1;", "42"), name, "another server misses");
        let mut a = CacheKey::new(15);
        a.part("ab", "c");
        let mut b = CacheKey::new(15);
        b.part("a", "bc");
        assert_ne!(a.database_name(), b.database_name(), "parts are delimited");
    }

    #[test]
    fn caching_is_local_by_default() {
        assert_eq!(CachePolicy::for_target(true, false), CachePolicy::On);
        assert_eq!(CachePolicy::for_target(false, false), CachePolicy::Off);
        assert_eq!(CachePolicy::for_target(false, true), CachePolicy::On);
    }

    #[test]
    fn templates_are_copied_by_file() {
        assert_eq!(
            copy_sql("dbkit_cache_x", "dbkit_scratch_a_1_0"),
            "CREATE DATABASE \"dbkit_cache_x\" TEMPLATE \"dbkit_scratch_a_1_0\" STRATEGY = FILE_COPY"
        );
    }
}
