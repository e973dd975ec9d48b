//! The one rule vocabulary of dbkit: every finding's rule id (kebab-case, stable — CI
//! configs, `--fail-on` and inline ignores name them), its family (which engine
//! reports it), its default severity, and `Severity` itself. check and explain share
//! it; `Display`/`FromStr` are written once, here.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// How bad a finding is. Ordered from least to most severe (`Error` is the maximum).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// Which part of dbkit reports a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// `check`: migration files (names, versions, edits, parsing, ignores).
    File,
    /// `check`: squawk-style rules on a migration's statements.
    Lint,
    /// `check`: applying the migrations on scratch databases.
    Apply,
    /// `check`: rules on the final schema's catalog.
    Catalog,
    /// `check`: the tenant-isolation proof.
    Isolation,
    /// `explain`: rules on EXPLAIN ANALYZE plans.
    Plan,
}

macro_rules! rules {
    ($( $variant:ident = $id:literal, $severity:ident, $family:ident, $what:literal; )*) => {
        /// Every rule dbkit reports.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Rule { $( #[doc = $what] $variant, )* }

        impl Rule {
            pub const ALL: &'static [Rule] = &[$( Rule::$variant, )*];

            /// The kebab-case id.
            pub fn id(self) -> &'static str {
                match self { $( Rule::$variant => $id, )* }
            }

            /// The default severity (a rule may grade a finding otherwise, e.g.
            /// `misestimate` by its tier).
            pub fn severity(self) -> Severity {
                match self { $( Rule::$variant => Severity::$severity, )* }
            }

            pub fn family(self) -> Family {
                match self { $( Rule::$variant => Family::$family, )* }
            }

            /// One line on what the rule catches.
            pub fn what(self) -> &'static str {
                match self { $( Rule::$variant => $what, )* }
            }
        }
    };
}

rules! {
    InvalidMigrationName = "invalid-migration-name", Error, File, "a file in the migrations directory that refinery would silently skip";
    DuplicateVersion = "duplicate-version", Error, File, "two migration files with the same version";
    MissingVersion = "missing-version", Warning, File, "a gap in the version sequence";
    AppliedMigrationEdited = "applied-migration-edited", Error, File, "an applied migration whose file changed since (checksum differs)";
    AppliedMigrationMissing = "applied-migration-missing", Error, File, "a migration applied on the database whose file is gone";
    ParseError = "parse-error", Warning, File, "sqlparser cannot parse a statement, so lint rules cannot see it (PostgreSQL judges it when applying)";
    UnusedIgnore = "unused-ignore", Warning, File, "a `-- dbkit:ignore` that silenced nothing";
    RequireConcurrentIndexCreation = "require-concurrent-index-creation", Error, Lint, "CREATE INDEX without CONCURRENTLY on a table that existed before the migration (blocks writes)";
    BanConcurrentIndexInTransaction = "ban-concurrent-index-in-transaction", Error, Lint, "CONCURRENTLY in a file without the `-- dbkit:no-transaction` first line (fails inside a transaction)";
    ConstraintMissingNotValid = "constraint-missing-not-valid", Error, Lint, "FOREIGN KEY or CHECK added to an existing table without NOT VALID (validates under a lock)";
    AddingNotNullableField = "adding-not-nullable-field", Error, Lint, "NOT NULL column without a default added to an existing table, or SET NOT NULL";
    ChangingColumnType = "changing-column-type", Error, Lint, "column type changed on an existing table (rewrite under an exclusive lock)";
    BanDropColumn = "ban-drop-column", Error, Lint, "a column dropped (breaks running clients)";
    BanDropTable = "ban-drop-table", Error, Lint, "a table dropped (breaks running clients, loses data)";
    RenamingColumn = "renaming-column", Error, Lint, "a column renamed (breaks running clients)";
    IdentifierTooLong = "identifier-too-long", Warning, Lint, "an identifier longer than 63 bytes, which PostgreSQL truncates silently";
    TransactionNesting = "transaction-nesting", Error, Lint, "COMMIT/ROLLBACK/BEGIN inside a transactional migration other than a whole-file BEGIN … COMMIT or a file of such blocks, or a statement outside its blocks (breaks its atomicity; dbkit refuses to run it)";
    TransactionBlocks = "transaction-blocks", Warning, Lint, "a migration of several BEGIN … COMMIT blocks: a failure in a later one leaves the earlier ones committed";
    ApplyFailed = "apply-failed", Error, Apply, "PostgreSQL rejected a migration when applying it";
    ExtensionUnavailable = "extension-unavailable", Error, Apply, "a migration creates an extension the server cannot provide (not installed there, and not one dbkit stubs): nothing could be applied";
    RehearsalStall = "rehearsal-stall", Error, Apply, "rehearsed under booking traffic (`check --rehearse`), a statement made bookings wait longer than --max-stall or failed more than 1 % of them";
    RehearsalFailed = "rehearsal-failed", Error, Apply, "rehearsed under booking traffic (`check --rehearse`), a migration failed: a deadlock with the bookings, lock_timeout exhausted after the retries, …";
    RlsDisabled = "rls-disabled", Error, Catalog, "an exposed table an API role can reach, with row-level security off";
    PolicyExistsRlsDisabled = "policy-exists-rls-disabled", Error, Catalog, "policies exist but row-level security is off, so they do nothing";
    RlsEnabledNoPolicy = "rls-enabled-no-policy", Info, Catalog, "row-level security on but no policy: every API role sees nothing";
    AuthRlsInitplan = "auth-rls-initplan", Warning, Catalog, "a policy calls auth.*() or current_setting() per row instead of once (wrap it: (select ...))";
    PolicyMissingRole = "policy-missing-role", Warning, Catalog, "a policy that applies to PUBLIC (no TO clause)";
    MultiplePermissivePolicies = "multiple-permissive-policies", Warning, Catalog, "several permissive policies for one role and command: each is evaluated";
    UnindexedForeignKey = "unindexed-foreign-key", Warning, Catalog, "a foreign key whose columns lead no index";
    TenantKeyNotIndexed = "tenant-key-not-indexed", Warning, Catalog, "a policy column that leads no btree index";
    DuplicateIndex = "duplicate-index", Warning, Catalog, "two identical indexes on one table";
    RedundantIndex = "redundant-index", Warning, Catalog, "a btree index whose columns are a prefix of another's";
    FunctionSearchPathMutable = "function-search-path-mutable", Warning, Catalog, "a SECURITY DEFINER function without a fixed search_path";
    NoPrimaryKey = "no-primary-key", Warning, Catalog, "a table without a primary key";
    TenantLeak = "tenant-leak", Error, Isolation, "a tenant can read or write another tenant's rows, or anon can read rows";
    ViewBypassesRls = "view-bypasses-rls", Error, Catalog, "an API-readable view over an RLS table without security_invoker, or a materialized view over a tenant table";
    SecurityDefinerExposed = "security-definer-exposed", Error, Catalog, "a SECURITY DEFINER function anon can execute, or authenticated can without a caller check (a warning to review with one)";
    PolicyAlwaysTrue = "policy-always-true", Error, Catalog, "`true` in a write policy, or in a SELECT policy on a tenant table";
    PolicyIgnoresTenantKey = "policy-ignores-tenant-key", Error, Catalog, "a permissive policy on a tenant table that never constrains the tenant key";
    RlsReferencesUserMetadata = "rls-references-user-metadata", Error, Catalog, "a policy reads user_metadata / raw_user_meta_data, which the user can write";
    TenantKeyNotInUnique = "tenant-key-not-in-unique", Info, Catalog, "a primary key, unique constraint or foreign key between tenant tables without the tenant key (sharding by tenant needs it)";
    IsolationUntested = "isolation-untested", Error, Isolation, "a table an API role can reach whose isolation dbkit cannot test: no tenancy inferred or configured, or no row could be made";
    IsolationInconclusive = "isolation-inconclusive", Warning, Isolation, "the tenant-isolation proof could not test a table";
    MembershipSelfInsert = "membership-self-insert", Error, Isolation, "a user can insert their own membership into another tenant: anyone joins any tenant";
    SecurityDefinerLeak = "security-definer-leak", Error, Isolation, "called with another tenant's ids, owners or names, a SECURITY DEFINER function returned or changed that tenant's data";
    ProofFailed = "proof-failed", Error, Isolation, "the isolation proof itself failed (dbkit's fixture or call, not the project's schema), so what it would have tested is unproven";
    StorageBucketOpen = "storage-bucket-open", Error, Catalog, "a storage.objects policy lets anon or every user read, overwrite or delete a bucket's files with no owner or folder condition";
    ForeignTableExposed = "foreign-table-exposed", Error, Catalog, "a foreign table in an exposed schema: no row-level security is possible on it";
    SensitiveColumnsExposed = "sensitive-columns-exposed", Error, Catalog, "columns that look like secrets or personal data (tokens, keys, webhook URLs, e-mails) readable by anon or by every user";
    SeqScan = "seq-scan", Warning, Plan, "a sequential scan reading many rows of a large table";
    RlsPerRow = "rls-per-row", Warning, Plan, "a policy function evaluated per row in a scan filter instead of once (InitPlan)";
    RlsOverhead = "rls-overhead", Warning, Plan, "the tenant run reads far more blocks (or takes far longer) than the service run";
    RowsRemoved = "rows-removed", Warning, Plan, "a node throws away most of the rows it examined";
    Misestimate = "misestimate", Info, Plan, "planned and actual row counts differ by 10x, 100x or 1000x";
    DiskSort = "disk-sort", Warning, Plan, "a sort or hash spilled to disk (work_mem too small)";
    IndexSuggestion = "index-suggestion", Info, Plan, "a hypothetical index (hypopg) cuts the plan cost by half or more";
}

impl Rule {
    /// The rules of one family, in declaration order.
    pub fn of(family: Family) -> impl Iterator<Item = Rule> {
        Rule::ALL
            .iter()
            .copied()
            .filter(move |r| r.family() == family)
    }

    /// Parse an id among the rules of `families` only; the error lists them.
    pub fn parse_in(s: &str, families: &[Family]) -> Result<Rule, String> {
        let s = s.trim();
        let known = || {
            Rule::ALL
                .iter()
                .filter(|r| families.contains(&r.family()))
                .map(|r| r.id())
                .collect::<Vec<_>>()
                .join(", ")
        };
        Rule::ALL
            .iter()
            .copied()
            .find(|r| r.id() == s && families.contains(&r.family()))
            .ok_or_else(|| format!("unknown rule `{s}` (known: {})", known()))
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl FromStr for Rule {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
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

    #[test]
    fn ids_are_unique() {
        let mut ids: Vec<&str> = Rule::ALL.iter().map(|r| r.id()).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), Rule::ALL.len());
    }

    #[test]
    fn parse_in_a_family_lists_only_that_family() {
        assert_eq!(
            Rule::parse_in("seq-scan", &[Family::Plan]),
            Ok(Rule::SeqScan)
        );
        let err = Rule::parse_in("tenant-leak", &[Family::Plan]).unwrap_err();
        assert!(err.contains("unknown rule `tenant-leak`"), "{err}");
        assert!(
            err.contains("rls-per-row") && !err.contains("rls-disabled"),
            "{err}"
        );
    }

    #[test]
    fn errors_are_the_most_severe() {
        assert!(Severity::Error > Severity::Warning && Severity::Warning > Severity::Info);
    }
}
