//! `rls-enabled-no-policy`: row-level security is on but no policy exists, so API roles
//! see no rows at all. Sometimes intended (service-only tables), hence info.

use anyhow::Result;
use tokio_postgres::Client;

use super::{per_row, user_schema, Hit, Relation};
use crate::check::rule::Rule;

const SQL: &str = concat!(
    "SELECT n.nspname::text, c.relname::text
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE c.relkind IN ('r', 'p') AND c.relrowsecurity
       AND NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid)
       AND ",
    user_schema!(),
    " ORDER BY 1, 2"
);

pub async fn check(client: &Client) -> Result<Vec<Hit>> {
    per_row(client, Rule::RlsEnabledNoPolicy, SQL, |r| {
        Relation::at(r, 0).rls_subject(|table| {
            format!(
                "{table} has row-level security on and no policy: API roles see no rows (fine for a service-only table)"
            )
        })
    })
    .await
}
