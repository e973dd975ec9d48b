//! `function-search-path-mutable`: a SECURITY DEFINER function without a fixed
//! search_path runs with its owner's rights and the caller's search_path, so a caller
//! can shadow what it calls. Add `SET search_path = ''` (or a fixed list).

use anyhow::Result;
use tokio_postgres::Client;

use super::{user_schema, Hit};
use crate::check::rule::Rule;

const SQL: &str = concat!(
    "SELECT CASE WHEN n.nspname = 'public' THEN p.proname ELSE n.nspname || '.' || p.proname END,
            p.proname, pg_get_function_identity_arguments(p.oid)
     FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
     WHERE p.prosecdef
       AND NOT EXISTS (SELECT 1 FROM unnest(coalesce(p.proconfig, '{}')) cfg WHERE cfg LIKE 'search\\_path=%')
       AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
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
            let function: String = r.get(0);
            let name: String = r.get(1);
            let args: String = r.get(2);
            Hit::new(
                Rule::FunctionSearchPathMutable,
                format!("{function}({args})"),
                format!(
                    "SECURITY DEFINER function {function}({args}) has no fixed search_path: add SET search_path = ''"
                ),
                vec![format!("function:{name}")],
            )
        })
        .collect())
}
