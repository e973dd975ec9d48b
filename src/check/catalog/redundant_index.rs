//! `redundant-index`: a non-unique btree whose key columns are a leading prefix of
//! another btree on the same table; the longer index answers the same lookups.

use anyhow::Result;
use tokio_postgres::Client;

use super::{user_schema, Hit, Relation};
use crate::check::rule::Rule;

const SQL: &str = concat!(
    "SELECT n.nspname::text, c.relname::text, a.relname::text, b.relname::text
     FROM pg_index ia
     JOIN pg_index ib ON ib.indrelid = ia.indrelid AND ib.indexrelid <> ia.indexrelid
     JOIN pg_class a ON a.oid = ia.indexrelid
     JOIN pg_class b ON b.oid = ib.indexrelid
     JOIN pg_am ama ON ama.oid = a.relam
     JOIN pg_am amb ON amb.oid = b.relam
     JOIN pg_class c ON c.oid = ia.indrelid
     JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE ama.amname = 'btree' AND amb.amname = 'btree'
       AND NOT ia.indisunique AND ia.indpred IS NULL AND ib.indpred IS NULL
       AND ia.indexprs IS NULL AND ib.indexprs IS NULL
       AND ia.indnkeyatts < ib.indnkeyatts
       AND (string_to_array(ib.indkey::text, ' ')::int2[])[1:ia.indnkeyatts]
           = (string_to_array(ia.indkey::text, ' ')::int2[])[1:ia.indnkeyatts]
       AND (string_to_array(ib.indclass::text, ' ')::oid[])[1:ia.indnkeyatts]
           = (string_to_array(ia.indclass::text, ' ')::oid[])[1:ia.indnkeyatts]
       AND ",
    user_schema!(),
    " ORDER BY 1, 2, 3, 4"
);

pub async fn check(client: &Client) -> Result<Vec<Hit>> {
    let rows = client.query(SQL, &[]).await?;
    let mut out: Vec<Hit> = Vec::new();
    for r in &rows {
        let table = Relation::at(r, 0);
        let index = Relation {
            schema: table.schema.clone(),
            name: r.get(2),
        };
        let covering: String = r.get(3);
        let (redundant, shown) = (index.display(), table.display());
        // One finding per redundant index, naming the first index that covers it.
        if out.iter().any(|h| h.subjects[0].object == redundant) {
            continue;
        }
        out.push(Hit::new(
            Rule::RedundantIndex,
            redundant.clone(),
            format!(
                "{redundant} on {shown} is a prefix of {covering}, which serves the same lookups: DROP INDEX CONCURRENTLY {redundant}"
            ),
            vec![index.key("index"), table.key("table")],
        ));
    }
    Ok(out)
}
