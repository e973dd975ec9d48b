//! The migration history on the database: refinery's `refinery_schema_history` for the
//! dbkit layout (written exactly as refinery writes it, so its tools agree), and the
//! Supabase CLI's `supabase_migrations.schema_migrations (version text, statements
//! text[], name text)` for Supabase projects (so `supabase migration list` agrees),
//! with dbkit's checksums beside it in `supabase_migrations.dbkit_checksums` — the
//! CLI's table has none, and divergence detection needs them. A database carrying both
//! histories is accepted only while they record the same versions.

use std::collections::BTreeSet;

use anyhow::{Context, Result};
use tokio_postgres::{Client, GenericClient, Transaction};

use super::layout::Layout;
use super::plan::HistoryRow;
use super::source::MigrationFile;
use super::version::Version;
use crate::error::hinted;

/// refinery's default history table name.
pub const REFINERY_TABLE: &str = "refinery_schema_history";

/// The Supabase CLI's history table.
pub const SUPABASE_TABLE: &str = "supabase_migrations.schema_migrations";

/// dbkit's checksums of the Supabase-layout migrations it applied.
pub const CHECKSUM_TABLE: &str = "supabase_migrations.dbkit_checksums";

/// refinery's DDL for the history table (its `ASSERT_MIGRATIONS_TABLE_QUERY` with int4
/// versions, which is what the `tokio-postgres` feature uses).
const CREATE_REFINERY: &str = "CREATE TABLE IF NOT EXISTS refinery_schema_history(
             version int4 PRIMARY KEY,
             name VARCHAR(255),
             applied_on VARCHAR(255),
             checksum VARCHAR(255));";

/// The Supabase CLI's history table as it creates it (columns added one by one, as
/// its releases did), and dbkit's checksum table.
const CREATE_SUPABASE: &str = "CREATE SCHEMA IF NOT EXISTS supabase_migrations;
CREATE TABLE IF NOT EXISTS supabase_migrations.schema_migrations (version text NOT NULL PRIMARY KEY);
ALTER TABLE supabase_migrations.schema_migrations ADD COLUMN IF NOT EXISTS statements text[];
ALTER TABLE supabase_migrations.schema_migrations ADD COLUMN IF NOT EXISTS name text;
CREATE TABLE IF NOT EXISTS supabase_migrations.dbkit_checksums (
    version text PRIMARY KEY,
    checksum text NOT NULL,
    applied_on text NOT NULL);";

const REFINERY_EXISTS: &str = "SELECT to_regclass('refinery_schema_history') IS NOT NULL";
const SUPABASE_EXISTS: &str =
    "SELECT to_regclass('supabase_migrations.schema_migrations') IS NOT NULL";
const CHECKSUMS_EXIST: &str =
    "SELECT to_regclass('supabase_migrations.dbkit_checksums') IS NOT NULL";

// Read ourselves rather than through refinery's reader, which panics on a row whose
// applied_on or checksum does not parse; here such a row just compares as divergent.
const READ_REFINERY: &str = "SELECT version::int8, coalesce(name, ''), coalesce(applied_on, ''), \
     coalesce(checksum, '') FROM refinery_schema_history ORDER BY version";
const READ_SUPABASE: &str = "SELECT m.version, coalesce(m.name, ''), c.applied_on, c.checksum \
     FROM supabase_migrations.schema_migrations m \
     LEFT JOIN supabase_migrations.dbkit_checksums c ON c.version = m.version";
const READ_SUPABASE_ONLY: &str = "SELECT version, coalesce(name, ''), NULL::text, NULL::text \
     FROM supabase_migrations.schema_migrations";

const INSERT_SUPABASE: &str = "INSERT INTO supabase_migrations.schema_migrations \
     (version, name, statements) VALUES ($1, $2, $3)";
const INSERT_CHECKSUM: &str = "INSERT INTO supabase_migrations.dbkit_checksums \
     (version, checksum, applied_on) VALUES ($1, $2, $3) \
     ON CONFLICT (version) DO UPDATE SET checksum = EXCLUDED.checksum, applied_on = EXCLUDED.applied_on";

/// Where a layout's history lives, for messages.
pub fn table_of(layout: Layout) -> &'static str {
    match layout {
        Layout::Supabase => SUPABASE_TABLE,
        Layout::Dbkit | Layout::Embedded => REFINERY_TABLE,
    }
}

/// The version as the Supabase CLI writes it: the file's 14 digits.
pub fn supabase_version_text(version: Version) -> String {
    format!("{:014}", version.get())
}

async fn exists(client: &impl GenericClient, sql: &str) -> Result<bool> {
    Ok(client
        .query_one(sql, &[])
        .await
        .context("cannot look for the migration history tables")?
        .get(0))
}

/// refinery's rows (empty without its table).
pub async fn read_refinery(client: &impl GenericClient) -> Result<Vec<HistoryRow>> {
    if !exists(client, REFINERY_EXISTS).await? {
        return Ok(Vec::new());
    }
    let context = "cannot read refinery_schema_history";
    crate::db::read_rows(client, READ_REFINERY, context, |r| HistoryRow {
        version: Version::new(r.get(0)),
        name: r.get(1),
        applied_on: Some(r.get(2)),
        checksum: Some(r.get(3)),
    })
    .await
}

/// The Supabase CLI's rows with dbkit's checksums (empty without its table).
pub async fn read_supabase(client: &impl GenericClient) -> Result<Vec<HistoryRow>> {
    if !exists(client, SUPABASE_EXISTS).await? {
        return Ok(Vec::new());
    }
    let sql = if exists(client, CHECKSUMS_EXIST).await? {
        READ_SUPABASE
    } else {
        READ_SUPABASE_ONLY
    };
    let rows = client
        .query(sql, &[])
        .await
        .with_context(|| format!("cannot read {SUPABASE_TABLE}"))?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let text: String = r.get(0);
        let version = text.trim().parse::<i64>().map_err(|_| {
            hinted(
                format!("{SUPABASE_TABLE} holds version `{text}`, which is not a timestamp"),
                "versions there are the 14 digits of a migration file's name; fix the row with `supabase migration repair`",
            )
        })?;
        out.push(HistoryRow {
            version: Version::new(version),
            name: r.get(1),
            applied_on: r.get(2),
            checksum: r.get(3),
        });
    }
    out.sort_by_key(|row| row.version);
    Ok(out)
}

/// The history of the layout's table, oldest first (empty when it does not exist yet).
/// Refused when the database also has the other history and the two disagree: dbkit
/// cannot tell which one describes the schema.
pub async fn read(client: &impl GenericClient, layout: Layout) -> Result<Vec<HistoryRow>> {
    let refinery = read_refinery(client).await?;
    let supabase = read_supabase(client).await?;
    if let Some(refusal) = disagreement(&refinery, &supabase, layout) {
        return Err(refusal);
    }
    Ok(match layout {
        Layout::Supabase => supabase,
        Layout::Dbkit | Layout::Embedded => refinery,
    })
}

/// The refusal for a database whose two histories both have rows and record different
/// versions; None when they agree or one of them is empty.
pub fn disagreement(
    refinery: &[HistoryRow],
    supabase: &[HistoryRow],
    layout: Layout,
) -> Option<anyhow::Error> {
    let versions =
        |rows: &[HistoryRow]| -> BTreeSet<Version> { rows.iter().map(|r| r.version).collect() };
    if refinery.is_empty() || supabase.is_empty() || versions(refinery) == versions(supabase) {
        return None;
    }
    let span = |rows: &[HistoryRow], layout: Layout| match rows {
        [only] => format!("1 version: {}", layout.label(only.version)),
        [first, .., last] => format!(
            "{} versions: {}..{}",
            rows.len(),
            layout.label(first.version),
            layout.label(last.version)
        ),
        [] => "empty".to_string(),
    };
    Some(hinted(
        format!(
            "this database has two migration histories that disagree: {REFINERY_TABLE} ({}) and {SUPABASE_TABLE} ({}); nothing was run",
            span(refinery, Layout::Dbkit),
            span(supabase, Layout::Supabase),
        ),
        format!(
            "dbkit reads {} for this project; drop the history that does not describe this database's schema (after checking which one does)",
            table_of(layout)
        ),
    ))
}

/// Create the layout's history table when missing; the name to insert into.
pub async fn ensure(client: &Client, layout: Layout) -> Result<String> {
    match layout {
        Layout::Supabase => {
            client
                .batch_execute(CREATE_SUPABASE)
                .await
                .with_context(|| format!("cannot create {SUPABASE_TABLE}"))?;
            Ok(SUPABASE_TABLE.to_string())
        }
        Layout::Dbkit | Layout::Embedded => {
            client
                .batch_execute(CREATE_REFINERY)
                .await
                .context("cannot create refinery_schema_history")?;
            // refinery's table is found through the search_path; insert where it is.
            let row = client
                .query_one(
                    "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c \
                     JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE c.oid = to_regclass('refinery_schema_history')",
                    &[],
                )
                .await
                .context("cannot locate refinery_schema_history")?;
            Ok(row.get(0))
        }
    }
}

/// Record `file` as applied, inside the transaction that commits it.
pub async fn record(
    tx: &Transaction<'_>,
    table: &str,
    file: &MigrationFile,
) -> std::result::Result<(), tokio_postgres::Error> {
    let applied_on = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    match file.layout {
        Layout::Supabase => {
            let version = supabase_version_text(file.version);
            let statements: Vec<String> = file.statements().into_iter().map(|s| s.text).collect();
            tx.execute(INSERT_SUPABASE, &[&version, &file.name, &statements])
                .await?;
            tx.execute(INSERT_CHECKSUM, &[&version, &file.checksum, &applied_on])
                .await?;
        }
        Layout::Dbkit | Layout::Embedded => {
            // As refinery's `insert_migration_query` writes it; `$1::int8` so the
            // assignment to its int4 column is checked by PostgreSQL, never truncated.
            let sql = format!(
                "INSERT INTO {table} (version, name, applied_on, checksum) VALUES ($1::int8, $2, $3, $4)"
            );
            tx.execute(
                &sql,
                &[&file.version.get(), &file.name, &applied_on, &file.checksum],
            )
            .await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(versions: &[i64]) -> Vec<HistoryRow> {
        versions
            .iter()
            .map(|&v| HistoryRow {
                version: Version::new(v),
                name: "x".into(),
                applied_on: None,
                checksum: None,
            })
            .collect()
    }

    #[test]
    fn two_histories_must_agree() {
        assert!(disagreement(&rows(&[1, 2]), &[], Layout::Dbkit).is_none());
        assert!(disagreement(&[], &rows(&[20_240_101_000_000]), Layout::Supabase).is_none());
        assert!(disagreement(&rows(&[1]), &rows(&[1]), Layout::Dbkit).is_none());
        let err = disagreement(
            &rows(&[1, 6]),
            &rows(&[20_240_101_000_000]),
            Layout::Supabase,
        )
        .unwrap();
        let text = err.to_string();
        assert!(
            text.contains("refinery_schema_history (2 versions: V1..V6)")
                && text
                    .contains("supabase_migrations.schema_migrations (1 version: 20240101000000)"),
            "{text}"
        );
        let hint = crate::error::hint(&err);
        assert!(
            hint.contains("dbkit reads supabase_migrations.schema_migrations"),
            "{hint}"
        );
    }

    #[test]
    fn supabase_versions_keep_their_14_digits() {
        assert_eq!(
            supabase_version_text(Version::new(20_240_101_000_000)),
            "20240101000000"
        );
    }
}
