//! The typed rule ids of `dbkit check` (kebab-case, stable: CI configs and inline
//! ignores name them), their default severity, and the finding they produce.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        })
    }
}

macro_rules! rules {
    ($( $variant:ident = $id:literal, $severity:ident, $what:literal; )*) => {
        /// Every rule `dbkit check` reports.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Rule { $( #[doc = $what] $variant, )* }

        impl Rule {
            pub const ALL: &'static [Rule] = &[$( Rule::$variant, )*];

            /// The kebab-case id.
            pub fn id(self) -> &'static str {
                match self { $( Rule::$variant => $id, )* }
            }

            pub fn severity(self) -> Severity {
                match self { $( Rule::$variant => Severity::$severity, )* }
            }

            /// One line on what the rule catches.
            pub fn what(self) -> &'static str {
                match self { $( Rule::$variant => $what, )* }
            }
        }
    };
}

rules! {
    // File checks.
    InvalidMigrationName = "invalid-migration-name", Error, "a file in the migrations directory that refinery would silently skip";
    DuplicateVersion = "duplicate-version", Error, "two migration files with the same version";
    MissingVersion = "missing-version", Warning, "a gap in the version sequence";
    AppliedMigrationEdited = "applied-migration-edited", Error, "an applied migration whose file changed since (checksum differs)";
    AppliedMigrationMissing = "applied-migration-missing", Error, "a migration applied on the database whose file is gone";
    ParseError = "parse-error", Warning, "sqlparser cannot parse a statement, so lint rules cannot see it (PostgreSQL judges it when applying)";
    UnusedIgnore = "unused-ignore", Warning, "a `-- dbkit:ignore` that silenced nothing";
    // Migration lint rules.
    RequireConcurrentIndexCreation = "require-concurrent-index-creation", Error, "CREATE INDEX without CONCURRENTLY on a table that existed before the migration (blocks writes)";
    BanConcurrentIndexInTransaction = "ban-concurrent-index-in-transaction", Error, "CONCURRENTLY in a file without the `-- dbkit:no-transaction` first line (fails inside a transaction)";
    ConstraintMissingNotValid = "constraint-missing-not-valid", Error, "FOREIGN KEY or CHECK added to an existing table without NOT VALID (validates under a lock)";
    AddingNotNullableField = "adding-not-nullable-field", Error, "NOT NULL column without a default added to an existing table, or SET NOT NULL";
    ChangingColumnType = "changing-column-type", Error, "column type changed on an existing table (rewrite under an exclusive lock)";
    BanDropColumn = "ban-drop-column", Error, "a column dropped (breaks running clients)";
    BanDropTable = "ban-drop-table", Error, "a table dropped (breaks running clients, loses data)";
    RenamingColumn = "renaming-column", Error, "a column renamed (breaks running clients)";
    // Apply phase.
    ApplyFailed = "apply-failed", Error, "PostgreSQL rejected a migration when applying it";
    // Catalog rules on the final schema.
    RlsDisabled = "rls-disabled", Error, "a tenant table (has org_id) without row-level security";
    PolicyExistsRlsDisabled = "policy-exists-rls-disabled", Error, "policies exist but row-level security is off, so they do nothing";
    RlsEnabledNoPolicy = "rls-enabled-no-policy", Info, "row-level security on but no policy: every API role sees nothing";
    AuthRlsInitplan = "auth-rls-initplan", Warning, "a policy calls auth.*() or current_setting() per row instead of once (wrap it: (select ...))";
    PolicyMissingRole = "policy-missing-role", Warning, "a policy that applies to PUBLIC (no TO clause)";
    MultiplePermissivePolicies = "multiple-permissive-policies", Warning, "several permissive policies for one role and command: each is evaluated";
    UnindexedForeignKey = "unindexed-foreign-key", Warning, "a foreign key whose columns lead no index";
    TenantKeyNotIndexed = "tenant-key-not-indexed", Warning, "a policy column that leads no btree index";
    DuplicateIndex = "duplicate-index", Warning, "two identical indexes on one table";
    RedundantIndex = "redundant-index", Warning, "a btree index whose columns are a prefix of another's";
    FunctionSearchPathMutable = "function-search-path-mutable", Warning, "a SECURITY DEFINER function without a fixed search_path";
    NoPrimaryKey = "no-primary-key", Warning, "a table without a primary key";
    // Tenant-isolation proof.
    TenantLeak = "tenant-leak", Error, "a tenant can read or write another tenant's rows, or anon can read rows";
    IsolationInconclusive = "isolation-inconclusive", Warning, "the tenant-isolation proof could not test a table";
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl FromStr for Rule {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Rule::ALL
            .iter()
            .copied()
            .find(|r| r.id() == s)
            .ok_or_else(|| format!("unknown rule `{s}`"))
    }
}

impl Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.id())
    }
}

/// One thing `dbkit check` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: Rule,
    pub severity: Severity,
    /// Migration file (as given, e.g. `migrations/V3__x.sql`), when one is to blame.
    pub file: Option<String>,
    /// 1-based line in `file`.
    pub line: Option<usize>,
    /// The database object: table, `table.policy`, index, function.
    pub object: Option<String>,
    pub message: String,
}

impl Finding {
    pub fn new(rule: Rule, message: impl Into<String>) -> Finding {
        Finding {
            rule,
            severity: rule.severity(),
            file: None,
            line: None,
            object: None,
            message: message.into(),
        }
    }

    pub fn at(mut self, file: impl Into<String>, line: usize) -> Finding {
        self.file = Some(file.into());
        self.line = Some(line);
        self
    }

    pub fn object(mut self, object: impl Into<String>) -> Finding {
        self.object = Some(object.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_are_kebab_case() {
        for rule in Rule::ALL {
            assert_eq!(rule.id().parse::<Rule>().unwrap(), *rule);
            assert!(rule
                .id()
                .chars()
                .all(|c| c.is_ascii_lowercase() || c == '-'));
        }
        assert!("no-such-rule".parse::<Rule>().is_err());
    }
}
