//! `foreign-table-exposed`: a foreign table (postgres_fdw, Supabase's wrappers) in a
//! schema PostgREST exposes, that anon or authenticated may select from — granted, or
//! never granted nor revoked so Supabase's default privileges grant it. Row-level
//! security cannot be enabled on a foreign table: every row the remote server returns
//! is theirs. splinter's `foreign_table_in_api`. See `foreign_table_exposed.md`.

use anyhow::Result;
use tokio_postgres::Client;

use super::{Hit, Relation};
use crate::check::rule::Rule;

// $1: the exposed schemas.
const SQL: &str = "
    SELECT n.nspname::text, c.relname::text, coalesce(s.srvname::text, ''),
           c.relacl IS NULL OR has_table_privilege('anon', c.oid, 'SELECT'),
           c.relacl IS NULL OR has_table_privilege('authenticated', c.oid, 'SELECT')
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_foreign_table ft ON ft.ftrelid = c.oid
    LEFT JOIN pg_foreign_server s ON s.oid = ft.ftserver
    WHERE c.relkind = 'f' AND n.nspname = ANY($1)
      AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
      AND (SELECT count(*) FROM pg_roles WHERE rolname IN ('anon', 'authenticated')) = 2
    ORDER BY 1, 2";

pub async fn check(client: &Client, exposed: &[String]) -> Result<Vec<Hit>> {
    Ok(client
        .query(SQL, &[&exposed])
        .await?
        .iter()
        .filter_map(|r| hit(&Relation::at(r, 0), r.get(2), r.get(3), r.get(4)))
        .collect())
}

fn hit(table: &Relation, server: String, anon: bool, authenticated: bool) -> Option<Hit> {
    let roles: Vec<&str> = [(anon, "anon"), (authenticated, "authenticated")]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, r)| *r)
        .collect();
    if roles.is_empty() {
        return None;
    }
    let shown = table.display();
    let server = if server.is_empty() {
        String::new()
    } else {
        format!(" (server {server})")
    };
    Some(Hit::new(
        Rule::ForeignTableExposed,
        shown.clone(),
        format!(
            "foreign table {shown}{server} is in an exposed schema and {} may select from it: row-level security cannot be enabled on a foreign table, so every row the remote server returns is theirs (move it to a schema the API does not expose, or REVOKE SELECT ON {shown} FROM anon, authenticated)",
            roles.join(" and ")
        ),
        vec![table.key("table")],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reachable_foreign_tables_only() {
        let t = Relation {
            schema: "public".into(),
            name: "stripe_customers".into(),
        };
        let h = hit(&t, "stripe_server".into(), true, true).unwrap();
        assert_eq!(h.subjects[0].object, "stripe_customers");
        assert!(h.subjects[0].message.contains("anon and authenticated"));
        assert!(h.subjects[0].message.contains("(server stripe_server)"));
        assert_eq!(h.subjects[0].locate, vec!["table:public.stripe_customers"]);
        assert!(hit(&t, String::new(), false, false).is_none());
    }
}
