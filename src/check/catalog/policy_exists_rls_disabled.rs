//! `policy-exists-rls-disabled`: policies were written but row-level security is off, so
//! they are not applied — the table looks protected and is not.

use anyhow::Result;
use tokio_postgres::Client;

use super::{per_row, user_schema, Hit, Relation};
use crate::check::rule::Rule;

const SQL: &str = concat!(
    "SELECT n.nspname::text, c.relname::text, string_agg(p.polname, ', ' ORDER BY p.polname)
     FROM pg_class c
     JOIN pg_namespace n ON n.oid = c.relnamespace
     JOIN pg_policy p ON p.polrelid = c.oid
     WHERE NOT c.relrowsecurity AND ",
    user_schema!(),
    " GROUP BY 1, 2 ORDER BY 1, 2"
);

pub async fn check(client: &Client) -> Result<Vec<Hit>> {
    per_row(client, Rule::PolicyExistsRlsDisabled, SQL, |r| {
        let policies: String = r.get(2);
        Relation::at(r, 0).rls_subject(|table| {
            format!(
                "{table} has policies ({policies}) but row-level security is off, so none of them applies"
            )
        })
    })
    .await
}
