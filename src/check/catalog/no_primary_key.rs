//! `no-primary-key`: a table without a primary key cannot be updated row by row
//! reliably (PostgREST, logical replication) and usually hides duplicates.

use anyhow::Result;
use tokio_postgres::Client;

use super::{user_schema, Hit};
use crate::check::rule::Rule;

const SQL: &str = concat!(
    "SELECT CASE WHEN n.nspname = 'public' THEN c.relname ELSE n.nspname || '.' || c.relname END, c.relname
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
       AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conrelid = c.oid AND con.contype = 'p')
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
       AND ",
    user_schema!(),
    " ORDER BY 1"
);

pub async fn check(client: &Client) -> Result<Vec<Hit>> {
    Ok(client
        .query(SQL, &[])
        .await?
        .iter()
        .map(|r| {
            let table: String = r.get(0);
            let name: String = r.get(1);
            Hit::new(
                Rule::NoPrimaryKey,
                table.clone(),
                format!("table {table} has no primary key"),
                vec![format!("table:{name}")],
            )
        })
        .collect())
}
