//! Loading bare tables, the way pg_restore does: before the rows go in, the secondary
//! indexes and the key, unique, exclusion and foreign-key constraints of the six tenant
//! tables are read from the catalog (`pg_get_indexdef`, `pg_get_constraintdef`) and
//! dropped; after the load they are built again from those definitions, each in one
//! pass over the finished table instead of one insertion per row.
//!
//! Everything runs inside the seed's one transaction, so a seed that is interrupted,
//! killed, or whose server crashes rolls the drops back with the rows: the schema is
//! never left without an index or a constraint, whatever happens. What cannot be
//! rebuilt faithfully from its definition alone is left in place: objects with a
//! comment, invalid indexes, the clustering and replica-identity indexes, and keys or
//! unique indexes that a table outside the six references.

use anyhow::{Context, Result};
use tokio_postgres::Client;

use crate::db::ident::quote;
use crate::progress::Indicator;

// $1: the six tenant tables. Foreign keys first (keys they reference are then free).
const CONSTRAINTS: &str = "\
SELECT c.conrelid::regclass::text, c.conname::text, pg_get_constraintdef(c.oid), c.contype = 'f'
  FROM pg_constraint c
 WHERE c.conrelid = ANY ($1::text[]::regclass[])
   AND c.contype IN ('f', 'p', 'u', 'x')
   AND obj_description(c.oid, 'pg_constraint') IS NULL
   AND (c.contype = 'f' OR NOT EXISTS (
        SELECT 1 FROM pg_constraint r
         WHERE r.contype = 'f' AND r.conindid = c.conindid
           AND r.conrelid <> ALL ($1::text[]::regclass[])))
   AND (c.contype = 'f' OR NOT EXISTS (
        SELECT 1 FROM pg_index i
         WHERE i.indexrelid = c.conindid
           AND (i.indisclustered OR i.indisreplident OR NOT i.indisvalid)))
 ORDER BY c.contype <> 'f', c.conrelid::regclass::text, c.conname";

// Indexes that no constraint owns.
const INDEXES: &str = "\
SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
  FROM pg_index i
 WHERE i.indrelid = ANY ($1::text[]::regclass[])
   AND i.indisvalid AND NOT i.indisclustered AND NOT i.indisreplident
   AND obj_description(i.indexrelid, 'pg_class') IS NULL
   AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid
                    AND c.contype IN ('p', 'u', 'x'))
   AND NOT EXISTS (SELECT 1 FROM pg_constraint r WHERE r.contype = 'f'
                    AND r.conindid = i.indexrelid
                    AND r.conrelid <> ALL ($1::text[]::regclass[]))
 ORDER BY 1";

/// One dropped index or constraint, and the statements that drop and rebuild it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deferred {
    /// `index appointments_org_time_idx`, `constraint orgs_pkey on orgs`.
    pub what: String,
    pub drop: String,
    pub build: String,
    /// Foreign keys are built last, once the keys they reference exist.
    pub foreign_key: bool,
}

impl Deferred {
    fn constraint(table: &str, name: &str, definition: &str, foreign_key: bool) -> Deferred {
        Deferred {
            what: format!("constraint {name} on {table}"),
            drop: format!("ALTER TABLE {table} DROP CONSTRAINT {}", quote(name)),
            build: format!(
                "ALTER TABLE {table} ADD CONSTRAINT {} {definition}",
                quote(name)
            ),
            foreign_key,
        }
    }

    fn index(name: &str, definition: &str) -> Deferred {
        Deferred {
            what: format!("index {name}"),
            drop: format!("DROP INDEX {name}"),
            build: definition.to_string(),
            foreign_key: false,
        }
    }
}

/// Read what can be deferred on `tables` and drop it (in the caller's transaction).
/// Returned in build order: indexes and keys, then foreign keys.
pub async fn defer(client: &Client, tables: &[&str]) -> Result<Vec<Deferred>> {
    let tables: Vec<String> = tables.iter().map(|t| t.to_string()).collect();
    let constraints = client
        .query(CONSTRAINTS, &[&tables])
        .await
        .context("reading the constraints of the tenant tables")?;
    let indexes = client
        .query(INDEXES, &[&tables])
        .await
        .context("reading the indexes of the tenant tables")?;
    // Drop order: foreign keys, the other constraints, then plain indexes.
    let mut dropped: Vec<Deferred> = constraints
        .iter()
        .map(|r| Deferred::constraint(r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    dropped.extend(indexes.iter().map(|r| Deferred::index(r.get(0), r.get(1))));
    for d in &dropped {
        client
            .batch_execute(&d.drop)
            .await
            .with_context(|| format!("dropping {} before the load", d.what))?;
    }
    dropped.sort_by_key(|d| d.foreign_key);
    Ok(dropped)
}

/// Build everything `defer` dropped, in order, from its definition.
pub async fn rebuild(client: &Client, deferred: &[Deferred]) -> Result<()> {
    let bar = Indicator::bar(
        deferred.len() as u64,
        "{spinner} building indexes and constraints [{bar:30}] {pos}/{len} {msg}",
    );
    for d in deferred {
        bar.set_message(d.what.clone());
        client
            .batch_execute(&d.build)
            .await
            .with_context(|| format!("building {} after the load", d.what))?;
        bar.inc(1);
    }
    bar.finish();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_quote_constraint_names_and_keep_definitions() {
        let c = Deferred::constraint(
            "appointments",
            "No \"overlap\"",
            "EXCLUDE USING gist (org_id WITH =)",
            false,
        );
        assert_eq!(
            c.drop,
            "ALTER TABLE appointments DROP CONSTRAINT \"No \"\"overlap\"\"\""
        );
        assert_eq!(
            c.build,
            "ALTER TABLE appointments ADD CONSTRAINT \"No \"\"overlap\"\"\" EXCLUDE USING gist (org_id WITH =)"
        );
        let i = Deferred::index(
            "contacts_org_id_idx",
            "CREATE INDEX contacts_org_id_idx ON public.contacts USING btree (org_id)",
        );
        assert_eq!(i.drop, "DROP INDEX contacts_org_id_idx");
        assert!(i.build.starts_with("CREATE INDEX"));
    }
}
