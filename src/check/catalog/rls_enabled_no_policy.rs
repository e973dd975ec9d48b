//! `rls-enabled-no-policy`: row-level security is on but no policy exists, so API roles
//! see no rows at all. Sometimes intended (service-only tables), hence info.

use anyhow::Result;
use tokio_postgres::Client;

use super::{user_schema, Hit};
use crate::check::rule::Rule;

const SQL: &str = concat!(
    "SELECT CASE WHEN n.nspname = 'public' THEN c.relname ELSE n.nspname || '.' || c.relname END, c.relname
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p') AND c.relrowsecurity
       AND NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid)
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
                Rule::RlsEnabledNoPolicy,
                table.clone(),
                format!(
                    "{table} has row-level security on and no policy: API roles see no rows (fine for a service-only table)"
                ),
                vec![format!("rls:{name}"), format!("table:{name}")],
            )
        })
        .collect())
}
