//! `policy-exists-rls-disabled`: policies were written but row-level security is off, so
//! they are not applied — the table looks protected and is not.

use anyhow::Result;
use tokio_postgres::Client;

use super::{user_schema, Hit};
use crate::check::rule::Rule;

const SQL: &str = concat!(
    "SELECT CASE WHEN n.nspname = 'public' THEN c.relname ELSE n.nspname || '.' || c.relname END,
            c.relname, string_agg(p.polname, ', ' ORDER BY p.polname)
     FROM pg_class c
     JOIN pg_namespace n ON n.oid = c.relnamespace
     JOIN pg_policy p ON p.polrelid = c.oid
     WHERE NOT c.relrowsecurity AND ",
    user_schema!(),
    " GROUP BY 1, 2 ORDER BY 1"
);

pub async fn check(client: &Client) -> Result<Vec<Hit>> {
    Ok(client
        .query(SQL, &[])
        .await?
        .iter()
        .map(|r| {
            let table: String = r.get(0);
            let name: String = r.get(1);
            let policies: String = r.get(2);
            Hit::new(
                Rule::PolicyExistsRlsDisabled,
                table.clone(),
                format!(
                    "{table} has policies ({policies}) but row-level security is off, so none of them applies"
                ),
                vec![format!("rls:{name}"), format!("table:{name}")],
            )
        })
        .collect())
}
