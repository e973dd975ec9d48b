//! The indexes of the project's tables as the catalog holds them: name, table, key
//! columns in order, and whether the index is a plain btree (no predicate, no
//! expression) whose key prefixes can serve a lookup. Invalid indexes (a failed
//! concurrent build) are left out: the planner does not use them.

use anyhow::{Context, Result};
use tokio_postgres::Client;

use super::user_schema;

/// One valid index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Index {
    pub schema: String,
    pub table: String,
    pub name: String,
    /// Key columns in order (INCLUDE columns and expressions left out).
    pub key: Vec<String>,
    /// A btree without predicate or expressions.
    pub plain_btree: bool,
}

const INDEXES: &str = concat!(
    "SELECT n.nspname::text, t.relname::text, ix.relname::text,
            array(SELECT a.attname::text
                  FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k (attnum, n)
                  JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
                  WHERE k.n <= i.indnkeyatts
                  ORDER BY k.n),
            am.amname = 'btree' AND i.indpred IS NULL AND i.indexprs IS NULL
     FROM pg_index i
     JOIN pg_class t ON t.oid = i.indrelid
     JOIN pg_class ix ON ix.oid = i.indexrelid
     JOIN pg_am am ON am.oid = ix.relam
     JOIN pg_namespace n ON n.oid = t.relnamespace
     WHERE i.indisvalid AND ",
    user_schema!(),
    " ORDER BY 1, 2, 3"
);

/// Every valid index on the project's tables.
pub async fn load(client: &Client) -> Result<Vec<Index>> {
    let rows = client
        .query(INDEXES, &[])
        .await
        .context("reading the indexes")?;
    Ok(rows
        .iter()
        .map(|r| Index {
            schema: r.get(0),
            table: r.get(1),
            name: r.get(2),
            key: r.get(3),
            plain_btree: r.get(4),
        })
        .collect())
}
