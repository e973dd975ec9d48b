//! `rls-disabled`: a tenant table (it has `org_id`) without row-level security: every
//! API role reads every tenant's rows.

use anyhow::Result;
use tokio_postgres::Client;

use super::{user_schema, Hit};
use crate::check::rule::Rule;

const SQL: &str = concat!(
    "SELECT CASE WHEN n.nspname = 'public' THEN c.relname ELSE n.nspname || '.' || c.relname END, c.relname
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p') AND NOT c.relrowsecurity
       AND EXISTS (SELECT 1 FROM pg_attribute a
                   WHERE a.attrelid = c.oid AND a.attname = 'org_id' AND NOT a.attisdropped)
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
                Rule::RlsDisabled,
                table.clone(),
                format!(
                    "tenant table {table} has org_id but row-level security is off: every API role reads every org's rows (ALTER TABLE {table} ENABLE ROW LEVEL SECURITY)"
                ),
                vec![format!("table:{name}")],
            )
        })
        .collect())
}
