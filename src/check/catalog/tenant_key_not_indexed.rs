//! `tenant-key-not-indexed`: the column a policy compares with the claim (`org_id`) leads
//! no btree index, so every tenant query filters the whole table.

use anyhow::Result;
use tokio_postgres::Client;

use super::{policy_expr, Hit, Policy};
use crate::check::rule::Rule;

const LEADS_A_BTREE: &str = "
    SELECT EXISTS (
        SELECT 1 FROM pg_index i
        JOIN pg_class ic ON ic.oid = i.indexrelid
        JOIN pg_am am ON am.oid = ic.relam
        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
        WHERE i.indrelid = $1 AND am.amname = 'btree' AND i.indpred IS NULL AND a.attname = $2)";

pub async fn check(client: &Client, policies: &[Policy]) -> Result<Vec<Hit>> {
    let mut seen: Vec<(u32, String)> = Vec::new();
    let mut out = Vec::new();
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
                if !indexed {
                    out.push(Hit::new(
                        Rule::TenantKeyNotIndexed,
                        format!("{}.{column}", p.table),
                        format!(
                            "policy {} filters {} on {column}, which leads no btree index: every tenant query scans the table; CREATE INDEX CONCURRENTLY ON {} ({column}, ...)",
                            p.name, p.table, p.table
                        ),
                        p.locate(),
                    ));
                }
            }
        }
    }
    Ok(out)
}
