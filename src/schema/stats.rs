//! How big and how busy each table of a production (or staging) database is, read
//! from PostgreSQL's statistics only — `pg_class` (reltuples, size) and
//! `pg_stat_user_tables` (rows written since the statistics were reset) — inside a
//! READ ONLY transaction that is rolled back. `dbkit check --stats-from` grades
//! lock-taking lint findings with it.

use std::collections::HashMap;

use anyhow::{Context, Result};
use tokio_postgres::Client;

/// One table's size and write rate.
#[derive(Debug, Clone, PartialEq)]
pub struct TableStats {
    /// Rows: the planner's estimate (`reltuples`), or the live rows counted by the
    /// statistics collector when that is larger (a table never analysed has -1).
    pub rows: f64,
    /// Heap, indexes and TOAST, in bytes.
    pub bytes: i64,
    /// Rows inserted, updated and deleted per second since the statistics were reset
    /// (or the server started).
    pub writes_per_s: f64,
}

/// The tables' (and indexes', for REINDEX INDEX) statistics by name (schema left out,
/// as the lints name tables; of two relations with one name, the larger is kept).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TableSizes {
    tables: HashMap<String, TableStats>,
}

const STATS: &str = "
SELECT c.relname,
       GREATEST(c.reltuples, COALESCE(s.n_live_tup, 0))::float8 AS rows,
       pg_total_relation_size(c.oid)::int8 AS bytes,
       COALESCE(s.n_tup_ins + s.n_tup_upd + s.n_tup_del, 0)::float8
         / GREATEST(EXTRACT(epoch FROM now() - COALESCE(
               (SELECT stats_reset FROM pg_stat_database WHERE datname = current_database()),
               pg_postmaster_start_time())), 1)::float8 AS writes_per_s
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
WHERE c.relkind IN ('r', 'p', 'm', 'i')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%'";

impl TableSizes {
    /// Read every table's statistics (read-only, rolled back).
    pub async fn read(client: &mut Client) -> Result<TableSizes> {
        let tx = client
            .build_transaction()
            .read_only(true)
            .start()
            .await
            .context("starting a READ ONLY transaction on the --stats-from database")?;
        let rows = tx
            .query(STATS, &[])
            .await
            .context("reading pg_class and pg_stat_user_tables on the --stats-from database")?;
        tx.rollback().await?;
        let mut sizes = TableSizes::default();
        for row in rows {
            sizes.insert(
                row.get(0),
                TableStats {
                    rows: row.get::<_, f64>(1).max(0.0),
                    bytes: row.get(2),
                    writes_per_s: row.get(3),
                },
            );
        }
        Ok(sizes)
    }

    /// Add a table (the larger of two with one name is kept).
    pub fn insert(&mut self, table: String, stats: TableStats) {
        let keep = self.tables.get(&table).is_none_or(|t| t.rows < stats.rows);
        if keep {
            self.tables.insert(table, stats);
        }
    }

    pub fn get(&self, table: &str) -> Option<&TableStats> {
        self.tables.get(table)
    }
}
