//! `no-primary-key`: a table without a primary key cannot be updated row by row
//! reliably (PostgREST, logical replication) and usually hides duplicates.

use anyhow::Result;
use tokio_postgres::Client;

use super::{per_row, project_made, Hit, Relation};
use crate::check::rule::Rule;

const SQL: &str = concat!(
    "SELECT n.nspname::text, c.relname::text
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE ",
    project_made!("c"),
    " AND c.relkind IN ('r', 'p') AND NOT c.relispartition
       AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conrelid = c.oid AND con.contype = 'p')
     ORDER BY 1, 2"
);

pub async fn check(client: &Client) -> Result<Vec<Hit>> {
    per_row(client, Rule::NoPrimaryKey, SQL, |r| {
        let table = Relation::at(r, 0);
        let message = format!("table {} has no primary key", table.display());
        table.subject("table", table.display(), message)
    })
    .await
}
