//! `unindexed-foreign-key`: a foreign key whose columns lead no index. Deleting or
//! re-keying a referenced row then scans the referencing table (under a lock).
//! A key led by an unindexed tenant column is reported as `tenant-key-not-indexed`
//! instead (see `catalog::check`): one index fixes both.

use anyhow::Result;
use tokio_postgres::Client;

use super::{user_schema, Hit, Relation};
use crate::check::rule::Rule;
use crate::db::read_rows;

const SQL: &str = concat!(
    "SELECT n.nspname::text, c.relname::text, con.conname::text, con.oid, c.oid,
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
    " ORDER BY 1, 2, 3"
);

/// A foreign key no index leads with its columns.
#[derive(Debug, Clone)]
pub struct UnindexedKey {
    pub table: Relation,
    pub table_oid: u32,
    pub constraint: String,
    pub constraint_oid: u32,
    pub columns: Vec<String>,
}

pub async fn unindexed(client: &Client) -> Result<Vec<UnindexedKey>> {
    let context = "catalog rule unindexed-foreign-key: cannot read pg_constraint";
    read_rows(client, SQL, context, |r| UnindexedKey {
        table: Relation::at(r, 0),
        constraint: r.get(2),
        constraint_oid: r.get(3),
        table_oid: r.get(4),
        columns: r.get(5),
    })
    .await
}

pub fn hit(fk: &UnindexedKey) -> Hit {
    let table = fk.table.display();
    let columns = fk.columns.join(", ");
    Hit::new(
        Rule::UnindexedForeignKey,
        format!("{table}.{}", fk.constraint),
        format!(
            "foreign key {} on {table} ({columns}) leads no index: deleting a referenced row scans {table}; CREATE INDEX CONCURRENTLY ON {table} ({columns})",
            fk.constraint
        ),
        vec![
            format!("constraint:{}.{}.{}", fk.table.schema, fk.table.name, fk.constraint),
            fk.table.key("table"),
        ],
    )
}
