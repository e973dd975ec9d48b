//! The Supabase platform layer: the objects a Supabase project's migrations assume
//! (the API roles, `auth.users` and the `auth.*()` helpers, `storage` with its path
//! helpers, the `extensions` schema on the search_path, Supabase's default privileges
//! on `public`, the `supabase_realtime` publication), created on servers that are not
//! Supabase: dbkit's local cluster and its scratch databases. Every object is created
//! only where it is missing, so on a real Supabase project `provide` changes nothing.
//!
//! The SQL is in the `*.sql` files beside this one, applied in order in one
//! transaction; `present.sql` lists what exists, read before and after, so `Provided`
//! says exactly what was created. Which extension a server lacks, and the package to
//! install, is `extensions`.

pub mod extensions;
pub mod stubs;

use anyhow::{Context, Result};
use serde::Serialize;
use tokio_postgres::Client;

use crate::db::DbUrl;
use crate::migrate::layout::Platform;
use crate::migrate::source::MigrationSet;

/// The platform's pieces, in the order they apply (roles first: the others grant to
/// them).
const PIECES: &[(&str, &str)] = &[
    ("roles", include_str!("roles.sql")),
    ("auth", include_str!("auth.sql")),
    ("storage", include_str!("storage.sql")),
    ("extensions", include_str!("extensions.sql")),
    ("search_path", include_str!("search_path.sql")),
    ("privileges", include_str!("privileges.sql")),
    ("realtime", include_str!("realtime.sql")),
];

/// One line per platform object present (`role anon`, `table auth.users`, …).
const PRESENT: &str = include_str!("present.sql");

/// After `RESET ALL`, a session that started before `provide` set the database's
/// search_path would fall back to the built-in default; this sets the database's (as a
/// new session would get it). Only where nothing else chose the path when the session
/// started (source `default`): a path from the connection's `options`, the role or the
/// database then stays as `RESET ALL` restored it.
pub const RESTORE_SEARCH_PATH: &str =
    "SELECT set_config('search_path', substr(cfg, length('search_path=') + 1), false) \
     FROM pg_db_role_setting s, unnest(s.setconfig) AS cfg \
     WHERE s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database()) \
       AND s.setrole = 0 AND cfg LIKE 'search\\_path=%' \
       AND (SELECT source FROM pg_settings WHERE name = 'search_path') = 'default' \
       AND NOT EXISTS (SELECT 1 FROM pg_db_role_setting r, unnest(r.setconfig) AS rcfg \
                       WHERE r.setrole = (SELECT oid FROM pg_roles WHERE rolname = current_user) \
                         AND r.setdatabase IN (0, s.setdatabase) AND rcfg LIKE 'search\\_path=%');";

/// What `provide` created; empty where everything was there already.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Provided {
    /// One line per object created, as `present.sql` names it, sorted.
    pub created: Vec<String>,
}

impl Provided {
    pub fn is_empty(&self) -> bool {
        self.created.is_empty()
    }

    /// One line for stderr, by kind: `provided the Supabase platform: 2 objects
    /// created (1 role, 1 schema)`.
    pub fn summary(&self) -> String {
        let mut kinds: Vec<(&str, usize)> = Vec::new();
        for object in &self.created {
            let kind = object.split(' ').next().unwrap_or("object");
            match kinds.iter_mut().find(|(k, _)| *k == kind) {
                Some((_, n)) => *n += 1,
                None => kinds.push((kind, 1)),
            }
        }
        let plural = |n: usize, word: &str| {
            if n == 1 {
                format!("1 {word}")
            } else {
                format!("{n} {word}s")
            }
        };
        format!(
            "provided the Supabase platform: {} created ({})",
            plural(self.created.len(), "object"),
            kinds
                .iter()
                .map(|(kind, n)| plural(*n, kind))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

/// Create the platform objects that are missing, in one transaction.
pub async fn provide(client: &Client) -> Result<Provided> {
    provide_with(client, &[]).await
}

/// `provide`, with `stubs` of Supabase's own extensions (fixed-schema ones) created in
/// the same transaction.
pub async fn provide_with(client: &Client, stubs: &[&'static stubs::Stub]) -> Result<Provided> {
    let before = present(client).await?;
    client
        .batch_execute("BEGIN")
        .await
        .context("cannot start the transaction that provides the Supabase platform")?;
    for (piece, sql) in PIECES {
        if let Err(err) = client.batch_execute(sql).await {
            let _ = client.batch_execute("ROLLBACK").await;
            return Err(err).with_context(|| {
                format!(
                    "cannot provide the Supabase platform ({piece}.sql); nothing of it was kept"
                )
            });
        }
    }
    if let Err(err) = stubs::provide(client, stubs).await {
        let _ = client.batch_execute("ROLLBACK").await;
        return Err(err.context("cannot provide the Supabase platform; nothing of it was kept"));
    }
    client
        .batch_execute("COMMIT")
        .await
        .context("cannot commit the Supabase platform")?;
    let after = present(client).await?;
    let created = after.into_iter().filter(|o| !before.contains(o)).collect();
    Ok(Provided { created })
}

/// Is this database a Supabase project's own? Supabase Auth's and Storage's migration
/// tables (and Realtime's) are there, which neither dbkit nor a project creates. Such a
/// database gets nothing from dbkit: its platform is the real one. (Per database, not
/// per server: a scratch database made on a Supabase server is plain and gets the
/// platform.)
pub async fn is_supabase(client: &Client) -> Result<bool> {
    Ok(client
        .query_one(
            "SELECT to_regclass('auth.schema_migrations') IS NOT NULL \
                 OR to_regclass('storage.migrations') IS NOT NULL \
                 OR to_regclass('realtime.schema_migrations') IS NOT NULL",
            &[],
        )
        .await
        .context("cannot tell whether the database is a Supabase project's")?
        .get(0))
}

/// `provide` on the database at `url` when `set` assumes the platform: for databases
/// that did not get it through `migrate` (clones of a lab template, which do not copy
/// the template's database settings).
pub async fn provide_if_wanted(url: &DbUrl, set: &MigrationSet) -> Result<Provided> {
    if !wanted(set) {
        return Ok(Provided::default());
    }
    let client = crate::db::connect(url).await?;
    provide(&client).await
}

/// The platform objects present, sorted.
pub async fn present(client: &Client) -> Result<Vec<String>> {
    let context = "cannot list the Supabase platform objects";
    crate::db::read_rows(client, PRESENT, context, |r| r.get(0)).await
}

/// Does `set` assume the Supabase platform (so dbkit provides it first)? The
/// Supabase CLI's layout does, and any set with `--platform supabase`; dbkit's own
/// and the booking schema (whose V1 brings what its migrations need) do not.
pub fn wanted(set: &MigrationSet) -> bool {
    set.platform() == Some(Platform::Supabase)
}

/// The Supabase platform object a PostgreSQL error message says is missing (`schema
/// "auth"`, `role "authenticated"`, `relation "storage.buckets"`, `function
/// auth.uid()`, or a function of the extensions Supabase installs in `extensions`,
/// called unqualified: `gen_random_bytes(integer)`), if it names one: the error of a
/// Supabase project migrated where the platform was not provided.
pub fn missing_object(message: &str) -> Option<String> {
    static EXTENSION_FUNCTION: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let unqualified = EXTENSION_FUNCTION.get_or_init(|| {
        regex::Regex::new(
            r"^function (uuid_generate_v[1345]|uuid_nil|gen_random_bytes|gen_salt|crypt|digest|hmac|pgp_sym_encrypt|pgp_sym_decrypt)\(.*\) does not exist$",
        )
        .expect("valid regex")
    });
    if let Some(caps) = unqualified.captures(message) {
        let extension = if caps[1].starts_with("uuid_") {
            "uuid-ossp"
        } else {
            "pgcrypto"
        };
        return Some(format!(
            "function {} of {extension}, in the extensions schema on the search_path,",
            &caps[1]
        ));
    }
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = RE.get_or_init(|| {
        regex::Regex::new(
            r#"^(?:(schema) "(auth|storage|extensions|vault|net|graphql|graphql_public|pgsodium|supabase_functions)"|(role) "(anon|authenticated|service_role|authenticator|supabase_[a-z_]+|dashboard_user|pgsodium_[a-z]+)"|(relation) "((?:auth|storage|vault|net|supabase_functions)\.[A-Za-z0-9_]+)"|(function) ((?:auth|storage|vault|net|extensions|graphql)\.[A-Za-z0-9_]+)\(.*\)) does not exist$"#,
        )
        .expect("valid regex")
    });
    let caps = re.captures(message)?;
    // Pairs of groups (kind, name): one pair matched.
    (1..=7).step_by(2).find_map(|i| {
        Some(format!(
            "{} {}",
            caps.get(i)?.as_str(),
            caps.get(i + 1)?.as_str()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_platform_objects_are_recognised() {
        assert_eq!(
            missing_object("schema \"auth\" does not exist").as_deref(),
            Some("schema auth")
        );
        assert_eq!(
            missing_object("role \"authenticated\" does not exist").as_deref(),
            Some("role authenticated")
        );
        assert_eq!(
            missing_object("relation \"storage.buckets\" does not exist").as_deref(),
            Some("relation storage.buckets")
        );
        assert_eq!(
            missing_object("function auth.uid() does not exist").as_deref(),
            Some("function auth.uid")
        );
        assert_eq!(
            missing_object("function gen_random_bytes(integer) does not exist").as_deref(),
            Some("function gen_random_bytes of pgcrypto, in the extensions schema on the search_path,")
        );
        assert_eq!(missing_object("relation \"orders\" does not exist"), None);
        assert_eq!(missing_object("schema \"billing\" does not exist"), None);
    }

    #[test]
    fn only_the_supabase_layout_wants_the_platform() {
        assert!(!wanted(&MigrationSet::embedded().unwrap()));
        let dir = tempfile::tempdir().unwrap();
        let supabase = dir.path().join("supabase/migrations");
        std::fs::create_dir_all(&supabase).unwrap();
        std::fs::write(supabase.join("20240101120000_a.sql"), "SELECT 1;").unwrap();
        assert!(wanted(&MigrationSet::load(&supabase).unwrap()));
        let dbkit = dir.path().join("migrations");
        std::fs::create_dir_all(&dbkit).unwrap();
        std::fs::write(dbkit.join("V1__a.sql"), "SELECT 1;").unwrap();
        assert!(!wanted(&MigrationSet::load(&dbkit).unwrap()));
    }

    #[test]
    fn summary_names_what_was_created() {
        let provided = Provided {
            created: vec![
                "role anon".into(),
                "role service_role".into(),
                "schema auth".into(),
            ],
        };
        assert_eq!(
            provided.summary(),
            "provided the Supabase platform: 3 objects created (2 roles, 1 schema)"
        );
        assert!(Provided::default().is_empty());
    }
}
