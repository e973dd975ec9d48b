//! `function-search-path-mutable`: a SECURITY DEFINER function without a fixed
//! search_path runs with its owner's rights and the caller's search_path, so a caller
//! can shadow what it calls. Add `SET search_path = ''` (or a fixed list).

use anyhow::Result;
use tokio_postgres::Client;

use super::{per_row, user_schema, Hit, Relation, Subject};
use crate::check::rule::Rule;

const SQL: &str = concat!(
    "SELECT n.nspname::text, p.proname::text, pg_get_function_identity_arguments(p.oid)
     FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE p.prosecdef
       AND NOT EXISTS (SELECT 1 FROM unnest(coalesce(p.proconfig, '{}')) cfg WHERE cfg LIKE 'search\\_path=%')
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
       AND ",
    user_schema!(),
    " ORDER BY 1, 2"
);

pub async fn check(client: &Client) -> Result<Vec<Hit>> {
    per_row(client, Rule::FunctionSearchPathMutable, SQL, |r| {
        let function = Relation::at(r, 0);
        let args: String = r.get(2);
        let shown = function.display();
        Subject::new(
            format!("{shown}({args})"),
            format!(
                "SECURITY DEFINER function {shown}({args}) has no fixed search_path: add SET search_path = ''"
            ),
            vec![function.key("function")],
        )
    })
    .await
}
