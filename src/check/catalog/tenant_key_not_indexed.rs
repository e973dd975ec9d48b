//! `tenant-key-not-indexed`: the column a policy compares with the claim (`org_id`) leads
//! no btree index, so every tenant query filters the whole table. When that column
//! also leads an unindexed foreign key, this finding covers the key too (one index on
//! the key's columns fixes both), and the key is not reported a second time.

use anyhow::Result;
use tokio_postgres::Client;

use super::unindexed_foreign_key::UnindexedKey;
use super::Hit;
use crate::check::rule::Rule;
use crate::schema::policy::Policy;
use crate::schema::policy_expr;

const LEADS_A_BTREE: &str = "
    SELECT EXISTS (
        SELECT 1 FROM pg_index i
        JOIN pg_class ic ON ic.oid = i.indexrelid
        JOIN pg_am am ON am.oid = ic.relam
        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
        WHERE i.indrelid = $1 AND am.amname = 'btree' AND i.indpred IS NULL AND a.attname = $2)";

/// The hits, and the foreign keys (constraint oids) they cover.
pub async fn check(
    client: &Client,
    policies: &[Policy],
    foreign_keys: &[UnindexedKey],
) -> Result<(Vec<Hit>, Vec<u32>)> {
    let mut seen: Vec<(u32, String)> = Vec::new();
    let mut out = Vec::new();
    let mut covered = Vec::new();
    for p in policies {
        for text in [&p.using, &p.with_check].into_iter().flatten() {
            let Ok(expr) = policy_expr::parse(text) else {
                continue;
            };
            for column in policy_expr::tenant_columns(&expr) {
                if seen.contains(&(p.table_oid, column.clone())) {
                    continue;
                }
                seen.push((p.table_oid, column.clone()));
                let indexed: bool = client
                    .query_one(LEADS_A_BTREE, &[&p.table_oid, &column])
                    .await?
                    .get(0);
                if indexed {
                    continue;
                }
                let keys: Vec<&UnindexedKey> = foreign_keys
                    .iter()
                    .filter(|fk| fk.table_oid == p.table_oid && fk.columns[0] == column)
                    .collect();
                covered.extend(keys.iter().map(|fk| fk.constraint_oid));
                out.push(Hit::new(
                    Rule::TenantKeyNotIndexed,
                    format!("{}.{column}", p.table),
                    message(p, &column, &keys),
                    p.locate(),
                ));
            }
        }
    }
    Ok((out, covered))
}

fn message(p: &Policy, column: &str, keys: &[&UnindexedKey]) -> String {
    let table = &p.table;
    let head = format!(
        "policy {} filters {table} on {column}, which leads no btree index: every tenant query scans the table",
        p.name
    );
    match keys.iter().max_by_key(|fk| fk.columns.len()) {
        None => format!("{head}; CREATE INDEX CONCURRENTLY ON {table} ({column}, ...)"),
        Some(widest) => {
            let names: Vec<&str> = keys.iter().map(|fk| fk.constraint.as_str()).collect();
            format!(
                "{head}, and foreign key {} has no index either (deleting a referenced row scans {table}); CREATE INDEX CONCURRENTLY ON {table} ({}) fixes both",
                names.join(", "),
                widest.columns.join(", ")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::catalog::Relation;

    fn policy() -> Policy {
        Policy {
            table_oid: 1,
            table: "notes".into(),
            name: "notes_tenant".into(),
            permissive: true,
            cmd: "*".into(),
            roles: vec!["authenticated".into()],
            using: None,
            with_check: None,
        }
    }

    fn key(columns: &[&str]) -> UnindexedKey {
        UnindexedKey {
            table: Relation {
                schema: "public".into(),
                name: "notes".into(),
            },
            table_oid: 1,
            constraint: "notes_org_id_fkey".into(),
            constraint_oid: 7,
            columns: columns.iter().map(|c| c.to_string()).collect(),
        }
    }

    #[test]
    fn the_message_names_the_key_it_covers() {
        let m = message(&policy(), "org_id", &[]);
        assert!(
            m.ends_with("CREATE INDEX CONCURRENTLY ON notes (org_id, ...)"),
            "{m}"
        );
        let fk = key(&["org_id", "contact_id"]);
        let m = message(&policy(), "org_id", &[&fk]);
        assert!(
            m.contains("foreign key notes_org_id_fkey has no index either")
                && m.ends_with("ON notes (org_id, contact_id) fixes both"),
            "{m}"
        );
    }
}
