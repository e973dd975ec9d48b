//! `dbkit.yaml` at the project root: what the tenancy inference cannot see, or got
//! wrong. Every field is optional; what is given wins over what was inferred.
//!
//! ```yaml
//! exposed_schemas: [public, graphql_public]   # PostgREST's db_schemas
//! tenancy:
//!   tenant_table: orgs          # the table whose rows are the tenants
//!   key: org_id                 # the tenant key column of tenant tables
//!   claim: org_id               # the JWT claim carrying the tenant, if any
//!   membership: { table: members, user_column: user_id }
//!   tables:
//!     appointments: { key: org_id }
//!     notes: { via: appointment_id }      # a child: its tenant comes through this FK
//!     profiles: { per_user: id }          # per-user rows: column holding auth.uid()
//!     plans: { public: true }             # readable by everyone on purpose
//!   sharding: true              # report tenant-key-not-in-unique (scale-out readiness)
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::Deserialize;

pub const FILE_NAME: &str = "dbkit.yaml";

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub exposed_schemas: Option<Vec<String>>,
    #[serde(default)]
    pub tenancy: TenancyConfig,
    /// Where it was read from (for messages).
    #[serde(skip)]
    pub path: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TenancyConfig {
    pub tenant_table: Option<String>,
    pub key: Option<String>,
    pub claim: Option<String>,
    pub membership: Option<MembershipConfig>,
    #[serde(default)]
    pub tables: BTreeMap<String, TableConfig>,
    /// Report `tenant-key-not-in-unique` (readiness for sharding by tenant).
    #[serde(default)]
    pub sharding: bool,
}

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MembershipConfig {
    pub table: String,
    pub user_column: String,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TableConfig {
    pub key: Option<String>,
    pub via: Option<String>,
    pub per_user: Option<String>,
    #[serde(default)]
    pub public: bool,
}

impl Config {
    pub fn exposed_schemas(&self) -> Vec<String> {
        self.exposed_schemas
            .clone()
            .unwrap_or_else(|| vec!["public".into(), "graphql_public".into()])
    }

    /// `dbkit.yaml` in the current directory, else next to the migrations directory;
    /// none is the default configuration.
    pub fn find(migrations: &Path) -> Result<Config> {
        let parent = migrations.parent();
        let candidates = [
            PathBuf::from(FILE_NAME),
            parent.map(|p| p.join(FILE_NAME)).unwrap_or_default(),
            // A Supabase project's root is above `supabase/migrations`.
            parent
                .filter(|p| p.file_name().is_some_and(|n| n == "supabase"))
                .and_then(Path::parent)
                .map(|p| p.join(FILE_NAME))
                .unwrap_or_default(),
        ];
        match candidates.iter().find(|p| p.is_file()) {
            Some(path) => Config::read(path),
            None => Ok(Config::default()),
        }
    }

    pub fn read(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let mut config = Config::parse(&text).map_err(|e| {
            crate::error::hinted(
                format!("{}: {e}", path.display()),
                "see docs/commands/check.md, \"Tenant isolation\", for the fields of dbkit.yaml",
            )
        })?;
        config.path = Some(path.to_path_buf());
        Ok(config)
    }

    pub fn parse(text: &str) -> Result<Config, String> {
        if text.trim().is_empty() {
            return Ok(Config::default());
        }
        serde_yaml::from_str(text).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_parses() {
        let c = Config::parse(
            "exposed_schemas: [api]\ntenancy:\n  tenant_table: teams\n  key: team_id\n  claim: team\n  membership: { table: team_members, user_column: uid }\n  tables:\n    notes: { via: doc_id }\n    profiles: { per_user: id }\n    plans: { public: true }\n",
        )
        .unwrap();
        assert_eq!(c.exposed_schemas(), vec!["api"]);
        assert_eq!(c.tenancy.tenant_table.as_deref(), Some("teams"));
        assert_eq!(c.tenancy.membership.unwrap().user_column, "uid");
        assert_eq!(c.tenancy.tables["notes"].via.as_deref(), Some("doc_id"));
        assert!(c.tenancy.tables["plans"].public);
    }

    #[test]
    fn defaults_and_typos() {
        assert_eq!(
            Config::parse("").unwrap().exposed_schemas(),
            vec!["public", "graphql_public"]
        );
        let err = Config::parse("tenancy:\n  tenant_tabel: x\n").unwrap_err();
        assert!(err.contains("tenant_tabel"), "{err}");
    }
}
