//! `duplicate-index`: two indexes with the same method, columns, operator classes,
//! expressions and predicate: one of them only costs writes.

use anyhow::Result;
use tokio_postgres::Client;

use super::{user_schema, Hit};
use crate::check::rule::Rule;

const SQL: &str = concat!(
    "SELECT CASE WHEN n.nspname = 'public' THEN c.relname ELSE n.nspname || '.' || c.relname END,
            array_agg(ic.relname::text ORDER BY i.indisunique DESC, ic.relname)
     FROM pg_index i
     JOIN pg_class ic ON ic.oid = i.indexrelid
     JOIN pg_class c ON c.oid = i.indrelid
     JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE ",
    user_schema!(),
    " GROUP BY n.nspname, c.relname, ic.relam, i.indkey::text, i.indclass::text, i.indcollation::text,
               coalesce(pg_get_expr(i.indexprs, i.indrelid), ''),
               coalesce(pg_get_expr(i.indpred, i.indrelid), '')
     HAVING count(*) > 1
     ORDER BY 1"
);

pub async fn check(client: &Client) -> Result<Vec<Hit>> {
    Ok(client
        .query(SQL, &[])
        .await?
        .iter()
        .map(|r| {
            let table: String = r.get(0);
            let indexes: Vec<String> = r.get(1);
            let extra = &indexes[indexes.len() - 1];
            Hit {
                rule: Rule::DuplicateIndex,
                object: extra.clone(),
                message: format!(
                    "indexes {} on {table} are identical: DROP INDEX CONCURRENTLY {extra}",
                    indexes.join(", ")
                ),
                locate: vec![format!("index:{extra}"), format!("table:{table}")],
            }
        })
        .collect())
}
