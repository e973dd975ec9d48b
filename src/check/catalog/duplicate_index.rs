//! `duplicate-index`: two indexes with the same method, columns, operator classes,
//! expressions and predicate: one of them only costs writes.

use anyhow::Result;
use tokio_postgres::Client;

use super::{user_schema, Hit, Relation, Subject};
use crate::check::rule::Rule;

const SQL: &str = concat!(
    "SELECT n.nspname::text, c.relname::text,
            array_agg(ic.relname::text ORDER BY ic.relname),
            array_agg(i.indisunique ORDER BY ic.relname)
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
     ORDER BY 1, 2"
);

pub async fn check(client: &Client) -> Result<Vec<Hit>> {
    Ok(client
        .query(SQL, &[])
        .await?
        .iter()
        .map(|r| hit(&Relation::at(r, 0), r.get(2), r.get(3)))
        .collect())
}

/// One group of identical indexes. Any of them but one can go; a unique one is kept
/// (it enforces something). Reported on the droppable index defined last: the one a
/// new migration added.
fn hit(table: &Relation, indexes: Vec<String>, unique: Vec<bool>) -> Hit {
    let all = indexes.join(", ");
    let shown = table.display();
    let keeps_unique = unique.iter().any(|&u| u) && unique.iter().any(|&u| !u);
    let subjects = indexes
        .iter()
        .zip(&unique)
        .filter(|(_, &u)| !(keeps_unique && u))
        .map(|(extra, _)| {
            // An index lives in its table's schema.
            let index = Relation {
                schema: table.schema.clone(),
                name: extra.clone(),
            };
            Subject::new(
                index.display(),
                format!(
                    "indexes {all} on {shown} are identical: DROP INDEX CONCURRENTLY {}",
                    index.display()
                ),
                vec![index.key("index"), table.key("table")],
            )
        })
        .collect();
    Hit {
        rule: Rule::DuplicateIndex,
        subjects,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn objects(hit: &Hit) -> Vec<&str> {
        hit.subjects.iter().map(|s| s.object.as_str()).collect()
    }

    fn t() -> Relation {
        Relation {
            schema: "public".into(),
            name: "t".into(),
        }
    }

    #[test]
    fn any_but_a_unique_one_may_be_dropped() {
        let names = || {
            vec![
                "a_idx".to_string(),
                "b_key".to_string(),
                "c_idx".to_string(),
            ]
        };
        let h = hit(&t(), names(), vec![false, true, false]);
        assert_eq!(objects(&h), vec!["a_idx", "c_idx"]);
        assert!(h.subjects[1]
            .message
            .ends_with("a_idx, b_key, c_idx on t are identical: DROP INDEX CONCURRENTLY c_idx"));
        let h = hit(&t(), names(), vec![false; 3]);
        assert_eq!(objects(&h), vec!["a_idx", "b_key", "c_idx"]);
        let h = hit(&t(), names(), vec![true; 3]);
        assert_eq!(objects(&h).len(), 3);
    }
}
