//! Supabase's own extensions (and its database webhooks), stubbed where the server
//! lacks them: objects of the same names and signatures — `vault.secrets`,
//! `vault.create_secret`, `net.http_post`, `graphql.resolve`, … — so a Supabase
//! project's migrations apply, and its triggers and functions run, on dbkit's own
//! databases and on a plain PostgreSQL given `--platform supabase`. A stub has no
//! behaviour worth the name (nothing is encrypted, no request is sent), except pgjwt,
//! whose SQL is small enough to be the real thing.
//!
//! Which stubs a run needs (the migrations create the extension, or name its schema)
//! is `migrate::guard`'s; here are the stubs themselves, which of them the server
//! lacks, and providing them.

use anyhow::{Context, Result};
use tokio_postgres::Client;

/// One stub: the extension it stands for, and its SQL.
#[derive(Debug, PartialEq, Eq)]
pub struct Stub {
    /// The extension's name (`CREATE EXTENSION pg_net`); `supabase_functions` for the
    /// database webhooks, which are no extension.
    pub name: &'static str,
    /// The schemas it owns whatever schema its CREATE EXTENSION names (`net`); none
    /// for an extension whose objects go into the schema named (pgjwt).
    pub schemas: &'static [&'static str],
    /// Whether `CREATE EXTENSION name` installs it (false: a platform piece).
    pub extension: bool,
    /// Idempotent SQL creating what is missing; `@extschema@` is the schema the
    /// objects of a relocatable extension go into.
    sql: &'static str,
}

/// Every stub dbkit has.
pub const STUBS: &[Stub] = &[
    Stub {
        name: "supabase_vault",
        schemas: &["vault"],
        extension: true,
        sql: include_str!("stubs/supabase_vault.sql"),
    },
    Stub {
        name: "pg_net",
        schemas: &["net"],
        extension: true,
        sql: include_str!("stubs/pg_net.sql"),
    },
    Stub {
        name: "pg_graphql",
        schemas: &["graphql", "graphql_public"],
        extension: true,
        sql: include_str!("stubs/pg_graphql.sql"),
    },
    Stub {
        name: "pgsodium",
        schemas: &["pgsodium"],
        extension: true,
        sql: include_str!("stubs/pgsodium.sql"),
    },
    Stub {
        name: "pgjwt",
        schemas: &[],
        extension: true,
        sql: include_str!("stubs/pgjwt.sql"),
    },
    Stub {
        name: "wrappers",
        schemas: &[],
        extension: true,
        sql: include_str!("stubs/wrappers.sql"),
    },
    Stub {
        name: "pg_jsonschema",
        schemas: &[],
        extension: true,
        sql: include_str!("stubs/pg_jsonschema.sql"),
    },
    Stub {
        name: "supabase_functions",
        schemas: &["supabase_functions"],
        extension: false,
        sql: include_str!("stubs/supabase_functions.sql"),
    },
];

/// Where the objects of a relocatable stub go when its CREATE EXTENSION names no
/// schema (or one dbkit will not write into SQL text).
pub const DEFAULT_SCHEMA: &str = "extensions";

impl Stub {
    /// The stub of extension `name` (as PostgreSQL stores it).
    pub fn of_extension(name: &str) -> Option<&'static Stub> {
        STUBS.iter().find(|s| s.extension && s.name == name)
    }

    /// The stub owning schema `schema`.
    pub fn owning(schema: &str) -> Option<&'static Stub> {
        STUBS.iter().find(|s| s.schemas.contains(&schema))
    }

    /// How messages name it: the extension, or what the platform piece is.
    pub fn label(&self) -> String {
        if self.extension {
            self.name.to_string()
        } else {
            format!("database webhooks ({})", self.name)
        }
    }

    /// Whether its objects go into the schema its CREATE EXTENSION names.
    pub fn relocatable(&self) -> bool {
        self.schemas.is_empty()
    }

    /// The SQL creating what is missing, objects of a relocatable stub in `schema`
    /// (a plain name; anything else falls back to `DEFAULT_SCHEMA`).
    pub fn sql(&self, schema: &str) -> String {
        let plain = !schema.is_empty()
            && schema
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
            && !schema.starts_with(|c: char| c.is_ascii_digit() || c == '$');
        let schema = if plain { schema } else { DEFAULT_SCHEMA };
        self.sql
            .replace("@extschema@", &crate::db::ident::quote(schema))
    }
}

/// Of `wanted`, the stubs the server lacks: extensions `pg_available_extensions` does
/// not list (a server that has the real one gets the real one), and platform pieces.
pub async fn lacking(client: &Client, wanted: &[&'static Stub]) -> Result<Vec<&'static Stub>> {
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let names: Vec<&str> = wanted.iter().map(|s| s.name).collect();
    let available: Vec<String> = client
        .query(
            "SELECT name FROM pg_available_extensions WHERE name = ANY ($1)",
            &[&names],
        )
        .await
        .context("cannot read pg_available_extensions")?
        .iter()
        .map(|r| r.get(0))
        .collect();
    Ok(wanted
        .iter()
        .copied()
        .filter(|s| !s.extension || !available.iter().any(|a| a == s.name))
        .collect())
}

/// Create `stubs` (fixed-schema ones: their schemas are their own), in the caller's
/// transaction.
pub async fn provide(client: &Client, stubs: &[&'static Stub]) -> Result<()> {
    for stub in stubs {
        client
            .batch_execute(&stub.sql(DEFAULT_SCHEMA))
            .await
            .with_context(|| format!("cannot create dbkit's stub of {}", stub.name))?;
    }
    Ok(())
}

/// The stubs' labels, sorted, each once.
pub fn labels(stubs: &[&'static Stub]) -> Vec<String> {
    let mut names: Vec<String> = stubs.iter().map(|s| s.label()).collect();
    names.sort_unstable();
    names.dedup();
    names
}

/// `stubbed what the server lacks of Supabase's own extensions (…): pg_net, …`.
pub fn summary(stubs: &[&'static Stub]) -> String {
    format!(
        "stubbed what the server lacks of Supabase's own extensions (same names and signatures, no behaviour): {}",
        labels(stubs).join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stubs_are_found_by_extension_and_by_schema() {
        assert_eq!(Stub::of_extension("pg_net").unwrap().name, "pg_net");
        assert!(Stub::of_extension("supabase_functions").is_none());
        assert!(Stub::of_extension("vector").is_none());
        assert_eq!(Stub::owning("graphql_public").unwrap().name, "pg_graphql");
        assert_eq!(
            Stub::owning("supabase_functions").unwrap().name,
            "supabase_functions"
        );
        assert!(Stub::owning("public").is_none());
    }

    #[test]
    fn relocatable_sql_names_its_schema_quoted() {
        let jwt = Stub::of_extension("pgjwt").unwrap();
        assert!(jwt.relocatable());
        let sql = jwt.sql("Tools");
        assert!(
            sql.contains("FUNCTION \"Tools\".sign(payload json"),
            "{sql}"
        );
        assert!(!sql.contains("@extschema@"));
        // A name dbkit will not write into SQL text falls back to `extensions`.
        assert!(jwt.sql("a'b").contains("FUNCTION \"extensions\".sign("));
        assert!(!Stub::of_extension("pg_net").unwrap().relocatable());
    }

    #[test]
    fn the_summary_names_each_stub_once() {
        let net = Stub::of_extension("pg_net").unwrap();
        let vault = Stub::of_extension("supabase_vault").unwrap();
        let hooks = Stub::owning("supabase_functions").unwrap();
        assert_eq!(
            summary(&[vault, net, hooks, net]),
            "stubbed what the server lacks of Supabase's own extensions (same names and signatures, no behaviour): database webhooks (supabase_functions), pg_net, supabase_vault"
        );
    }
}
