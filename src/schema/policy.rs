//! Row-level security policies as the catalog stores them, read once per run.

use anyhow::Result;
use tokio_postgres::Client;

use crate::db::read_rows;
use crate::schema::user_schema;

/// The schema-qualified form of a reported table name (`appointments` is
/// `public.appointments`; `storage.objects` stays).
pub fn qualified(display: &str) -> String {
    if display.contains('.') {
        display.to_string()
    } else {
        format!("public.{display}")
    }
}

/// A row-level security policy as stored.
#[derive(Debug, Clone)]
pub struct Policy {
    pub table_oid: u32,
    pub table: String,
    pub name: String,
    pub permissive: bool,
    /// `*` (ALL), `r` (SELECT), `a` (INSERT), `w` (UPDATE), `d` (DELETE).
    pub cmd: String,
    /// Role names; `public` when the policy has no TO clause.
    pub roles: Vec<String>,
    pub using: Option<String>,
    pub with_check: Option<String>,
}

impl Policy {
    /// Does the policy apply to a role requests run as (anon, authenticated, or PUBLIC)?
    pub fn for_api(&self) -> bool {
        self.roles
            .iter()
            .any(|r| r == "public" || r == "anon" || r == "authenticated")
    }

    pub fn object(&self) -> String {
        format!("{}.{}", self.table, self.name)
    }

    /// The policy's statement, else its table's (schema-qualified: a policy on
    /// `storage.objects` is found as such, whatever schema the migration's SET put first).
    pub fn locate(&self) -> Vec<String> {
        let table = qualified(&self.table);
        vec![
            format!("policy:{table}.{}", self.name),
            format!("table:{table}"),
        ]
    }
}

const POLICIES: &str = concat!(
    "SELECT c.oid, CASE WHEN n.nspname = 'public' THEN c.relname ELSE n.nspname || '.' || c.relname END,
            p.polname, p.polpermissive, p.polcmd::text,
            ARRAY(SELECT CASE WHEN r = 0 THEN 'public' ELSE pg_get_userbyid(r)::text END
                  FROM unnest(p.polroles) r ORDER BY 1),
            pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)
     FROM pg_policy p
     JOIN pg_class c ON c.oid = p.polrelid
     JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE ",
    user_schema!(),
    " ORDER BY 2, 3"
);

pub async fn policies(client: &Client) -> Result<Vec<Policy>> {
    // Print expressions schema-qualified, whatever the session's search_path.
    client.batch_execute("SET search_path = pg_catalog").await?;
    let policies = read_rows(client, POLICIES, "cannot read pg_policy", |r| Policy {
        table_oid: r.get(0),
        table: r.get(1),
        name: r.get(2),
        permissive: r.get(3),
        cmd: r.get(4),
        roles: r.get(5),
        using: r.get(6),
        with_check: r.get(7),
    })
    .await?;
    client.batch_execute("RESET search_path").await?;
    Ok(policies)
}
