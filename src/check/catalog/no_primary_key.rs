//! `no-primary-key`: a table without a primary key cannot be updated row by row
//! reliably (PostgREST, logical replication) and usually hides duplicates.

use anyhow::Result;
use tokio_postgres::Client;

use super::{per_row, user_schema, Hit, Relation, Subject};
use crate::check::rule::Rule;

const SQL: &str = concat!(
    "SELECT n.nspname::text, c.relname::text
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
       AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conrelid = c.oid AND con.contype = 'p')
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
       AND ",
    user_schema!(),
    " ORDER BY 1, 2"
);

pub async fn check(client: &Client) -> Result<Vec<Hit>> {
    per_row(client, Rule::NoPrimaryKey, SQL, |r| {
        let table = Relation::at(r, 0);
        let shown = table.display();
        Subject::new(
            shown.clone(),
            format!("table {shown} has no primary key"),
            vec![table.key("table")],
        )
    })
    .await
}
