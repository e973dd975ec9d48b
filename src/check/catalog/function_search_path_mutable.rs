//! `function-search-path-mutable`: a SECURITY DEFINER function without a fixed
//! search_path runs with its owner's rights and the caller's search_path, so a caller
//! can shadow what it calls. Add `SET search_path = ''` (or a fixed list).

use anyhow::Result;
use tokio_postgres::Client;

use super::{per_row, project_made, Hit, Relation};
use crate::check::rule::Rule;

const SQL: &str = concat!(
    "SELECT n.nspname::text, p.proname::text, pg_get_function_identity_arguments(p.oid)
     FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE ",
    project_made!("p"),
    " AND p.prosecdef
       AND NOT EXISTS (SELECT 1 FROM unnest(coalesce(p.proconfig, '{}')) cfg WHERE cfg LIKE 'search\\_path=%')
     ORDER BY 1, 2"
);

pub async fn check(client: &Client) -> Result<Vec<Hit>> {
    per_row(client, Rule::FunctionSearchPathMutable, SQL, |r| {
        let function = Relation::at(r, 0);
        let signature = format!("{}({})", function.display(), r.get::<_, String>(2));
        let message = format!(
            "SECURITY DEFINER function {signature} has no fixed search_path: add SET search_path = ''"
        );
        function.subject("function", signature, message)
    })
    .await
}
