//! `unindexed-foreign-key`: a foreign key whose columns lead no index. Deleting or
//! re-keying a referenced row then scans the referencing table (under a lock).

use anyhow::Result;
use tokio_postgres::Client;

use super::{user_schema, Hit};
use crate::check::rule::Rule;

const SQL: &str = concat!(
    "SELECT CASE WHEN n.nspname = 'public' THEN c.relname ELSE n.nspname || '.' || c.relname END,
            c.relname, con.conname,
            ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY k(attnum, i)
                  JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum ORDER BY k.i)
     FROM pg_constraint con
     JOIN pg_class c ON c.oid = con.conrelid
     JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE con.contype = 'f'
       AND NOT EXISTS (
           SELECT 1 FROM pg_index i
           WHERE i.indrelid = con.conrelid AND i.indpred IS NULL
             AND (string_to_array(i.indkey::text, ' ')::int2[])[1:cardinality(con.conkey)] @> con.conkey
             AND (string_to_array(i.indkey::text, ' ')::int2[])[1:cardinality(con.conkey)] <@ con.conkey)
       AND ",
    user_schema!(),
    " ORDER BY 1, 3"
);

pub async fn check(client: &Client) -> Result<Vec<Hit>> {
    Ok(client
        .query(SQL, &[])
        .await?
        .iter()
        .map(|r| {
            let table: String = r.get(0);
            let name: String = r.get(1);
            let constraint: String = r.get(2);
            let columns: Vec<String> = r.get(3);
            let columns = columns.join(", ");
            Hit::new(
                Rule::UnindexedForeignKey,
                format!("{table}.{constraint}"),
                format!(
                    "foreign key {constraint} on {table} ({columns}) leads no index: deleting a referenced row scans {table}; CREATE INDEX CONCURRENTLY ON {table} ({columns})"
                ),
                vec![format!("table:{name}")],
            )
        })
        .collect())
}
