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

/// The table of every rule: `Variant = "id", Severity, Family, "doc", "what";` where
/// "doc" is the rule's documentation, a markdown file beside the code that reports it
/// (path relative to `src/`), compiled into the binary (`dbkit rules NAME`,
/// docs/rules/). Its first lines are `# id` and `what`, word for word.
macro_rules! rules {
    ($( $variant:ident = $id:literal, $severity:ident, $family:ident, $doc:literal, $what:literal; )*) => {
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

            /// The rule's documentation (markdown: what it catches, why it matters,
            /// bad and good SQL, how to suppress it).
            pub fn doc(self) -> &'static str {
                match self { $( Rule::$variant => include_str!($doc), )* }
            }

            /// Where the documentation lives, relative to `src/`.
            pub fn doc_path(self) -> &'static str {
                match self { $( Rule::$variant => $doc, )* }
            }
        }
    };
}

rules! {
    InvalidMigrationName = "invalid-migration-name", Error, File, "check/invalid_migration_name.md", "a file in the migrations directory that refinery would silently skip";
    DuplicateVersion = "duplicate-version", Error, File, "check/duplicate_version.md", "two migration files with the same version";
    MissingVersion = "missing-version", Warning, File, "check/missing_version.md", "a gap in the version sequence";
    AppliedMigrationEdited = "applied-migration-edited", Error, File, "check/applied_migration_edited.md", "an applied migration whose file changed since (checksum differs)";
    AppliedMigrationMissing = "applied-migration-missing", Error, File, "check/applied_migration_missing.md", "a migration applied on the database whose file is gone";
    ParseError = "parse-error", Error, File, "check/parse_error.md", "a statement PostgreSQL's grammar rejects (it would fail when applied, and no lint can read it)";
    UnusedIgnore = "unused-ignore", Warning, File, "check/unused_ignore.md", "a `-- dbkit:ignore` that silenced nothing";
    RequireConcurrentIndexCreation = "require-concurrent-index-creation", Error, Lint, "check/lint/require_concurrent_index_creation.md", "CREATE INDEX without CONCURRENTLY on a table that existed before the migration (blocks writes)";
    BanConcurrentIndexInTransaction = "ban-concurrent-index-in-transaction", Error, Lint, "check/lint/ban_concurrent_index_in_transaction.md", "CONCURRENTLY in a file without the `-- dbkit:no-transaction` first line (fails inside a transaction)";
    ConstraintMissingNotValid = "constraint-missing-not-valid", Error, Lint, "check/lint/constraint_missing_not_valid.md", "FOREIGN KEY or CHECK added to an existing table without NOT VALID (validates under a lock)";
    AddingNotNullableField = "adding-not-nullable-field", Error, Lint, "check/lint/adding_not_nullable_field.md", "NOT NULL column without a default added to an existing table, or SET NOT NULL";
    ChangingColumnType = "changing-column-type", Error, Lint, "check/lint/changing_column_type.md", "column type changed on an existing table (rewrite under an exclusive lock)";
    BanDropColumn = "ban-drop-column", Error, Lint, "check/lint/ban_drop_column.md", "a column dropped (breaks running clients)";
    BanDropTable = "ban-drop-table", Error, Lint, "check/lint/ban_drop_table.md", "a table dropped (breaks running clients, loses data)";
    RenamingColumn = "renaming-column", Error, Lint, "check/lint/renaming_column.md", "a column renamed (breaks running clients)";
    IdentifierTooLong = "identifier-too-long", Warning, Lint, "check/lint/identifier_too_long.md", "an identifier longer than 63 bytes, which PostgreSQL truncates silently";
    TransactionNesting = "transaction-nesting", Error, Lint, "check/lint/transaction_nesting.md", "COMMIT/ROLLBACK/BEGIN inside a transactional migration other than a whole-file BEGIN … COMMIT or a file of such blocks (breaks its atomicity; dbkit refuses to run it)";
    TransactionBlocks = "transaction-blocks", Warning, Lint, "check/lint/transaction_blocks.md", "a migration of several BEGIN … COMMIT blocks: a failure in a later one leaves the earlier ones committed";
    ValidateInSameTransaction = "validate-in-same-transaction", Error, Lint, "check/lint/validate_in_same_transaction.md", "a constraint added NOT VALID and validated in the same transaction (the validation runs under the ADD's lock)";
    RenamingTable = "renaming-table", Error, Lint, "check/lint/renaming_table.md", "a table renamed (breaks running clients)";
    DisallowedUniqueConstraint = "disallowed-unique-constraint", Error, Lint, "check/lint/disallowed_unique_constraint.md", "UNIQUE or PRIMARY KEY added to an existing table without USING INDEX (builds the index under an ACCESS EXCLUSIVE lock)";
    AddingFieldWithDefault = "adding-field-with-default", Error, Lint, "check/lint/adding_field_with_default.md", "a column with a volatile default, or a stored generated column, added to an existing table (rewrites it under an ACCESS EXCLUSIVE lock)";
    AddingSerialPrimaryKeyField = "adding-serial-primary-key-field", Error, Lint, "check/lint/adding_serial_primary_key_field.md", "a serial or identity primary-key column added to an existing table (rewrites it and builds the key under an ACCESS EXCLUSIVE lock)";
    RequireConcurrentIndexDeletion = "require-concurrent-index-deletion", Error, Lint, "check/lint/require_concurrent_index_deletion.md", "DROP INDEX without CONCURRENTLY on a table that existed before the migration (blocks reads and writes)";
    RequireConcurrentReindex = "require-concurrent-reindex", Error, Lint, "check/lint/require_concurrent_reindex.md", "REINDEX without CONCURRENTLY (blocks writes, and reads through the index, while it rebuilds)";
    RequireConcurrentPartitionDetach = "require-concurrent-partition-detach", Error, Lint, "check/lint/require_concurrent_partition_detach.md", "DETACH PARTITION without CONCURRENTLY (an ACCESS EXCLUSIVE lock on the parent table)";
    PreferRepack = "prefer-repack", Error, Lint, "check/lint/prefer_repack.md", "VACUUM FULL or CLUSTER (rewrites the table under an ACCESS EXCLUSIVE lock; pg_repack does it online)";
    ApplyFailed = "apply-failed", Error, Apply, "check/apply_failed.md", "PostgreSQL rejected a migration when applying it";
    ExtensionUnavailable = "extension-unavailable", Error, Apply, "check/extension_unavailable.md", "a migration creates an extension the server cannot provide (not installed there, and not one dbkit stubs): nothing could be applied";
    RehearsalStall = "rehearsal-stall", Error, Apply, "rehearse/rehearsal_stall.md", "rehearsed under booking traffic (`check --rehearse`), a statement made bookings wait longer than --max-stall or failed more than 1 % of them";
    RehearsalFailed = "rehearsal-failed", Error, Apply, "rehearse/rehearsal_failed.md", "rehearsed under booking traffic (`check --rehearse`), a migration failed: a deadlock with the bookings, lock_timeout exhausted after the retries, …";
    RlsDisabled = "rls-disabled", Error, Catalog, "check/catalog/rls_disabled.md", "an exposed table an API role can reach, with row-level security off";
    PolicyExistsRlsDisabled = "policy-exists-rls-disabled", Error, Catalog, "check/catalog/policy_exists_rls_disabled.md", "policies exist but row-level security is off, so they do nothing";
    RlsEnabledNoPolicy = "rls-enabled-no-policy", Info, Catalog, "check/catalog/rls_enabled_no_policy.md", "row-level security on but no policy: every API role sees nothing";
    AuthRlsInitplan = "auth-rls-initplan", Warning, Catalog, "check/catalog/auth_rls_initplan.md", "a policy calls auth.*() or current_setting() per row instead of once (wrap it: (select ...))";
    PolicyMissingRole = "policy-missing-role", Warning, Catalog, "check/catalog/policy_missing_role.md", "a policy that applies to PUBLIC (no TO clause)";
    MultiplePermissivePolicies = "multiple-permissive-policies", Warning, Catalog, "check/catalog/multiple_permissive_policies.md", "several permissive policies for one role and command: each is evaluated";
    UnindexedForeignKey = "unindexed-foreign-key", Warning, Catalog, "check/catalog/unindexed_foreign_key.md", "a foreign key whose columns lead no index";
    TenantKeyNotIndexed = "tenant-key-not-indexed", Warning, Catalog, "check/catalog/tenant_key_not_indexed.md", "a policy column that leads no btree index";
    DuplicateIndex = "duplicate-index", Warning, Catalog, "check/catalog/duplicate_index.md", "two identical indexes on one table";
    RedundantIndex = "redundant-index", Warning, Catalog, "check/catalog/redundant_index.md", "a btree index whose columns are a prefix of another's";
    FunctionSearchPathMutable = "function-search-path-mutable", Warning, Catalog, "check/catalog/function_search_path_mutable.md", "a SECURITY DEFINER function without a fixed search_path";
    NoPrimaryKey = "no-primary-key", Warning, Catalog, "check/catalog/no_primary_key.md", "a table without a primary key";
    TenantLeak = "tenant-leak", Error, Isolation, "check/isolation/tenant_leak.md", "a tenant can read or write another tenant's rows, or anon can read rows";
    ViewBypassesRls = "view-bypasses-rls", Error, Catalog, "check/catalog/view_bypasses_rls.md", "an API-readable view over an RLS table without security_invoker, or a materialized view over a tenant table";
    SecurityDefinerExposed = "security-definer-exposed", Error, Catalog, "check/catalog/security_definer_exposed.md", "a SECURITY DEFINER function anon can execute, or authenticated can without a caller check (a warning to review with one)";
    PolicyAlwaysTrue = "policy-always-true", Error, Catalog, "check/catalog/policy_always_true.md", "`true` in a write policy, or in a SELECT policy on a tenant table";
    PolicyIgnoresTenantKey = "policy-ignores-tenant-key", Error, Catalog, "check/catalog/policy_ignores_tenant_key.md", "a permissive policy on a tenant table that never constrains the tenant key";
    RlsReferencesUserMetadata = "rls-references-user-metadata", Error, Catalog, "check/catalog/rls_references_user_metadata.md", "a policy reads user_metadata / raw_user_meta_data, which the user can write";
    TenantKeyNotInUnique = "tenant-key-not-in-unique", Info, Catalog, "check/catalog/tenant_key_not_in_unique.md", "a primary key, unique constraint or foreign key between tenant tables without the tenant key (sharding by tenant needs it)";
    IsolationUntested = "isolation-untested", Error, Isolation, "check/isolation/isolation_untested.md", "a table an API role can reach whose isolation dbkit cannot test: no tenancy inferred or configured";
    IsolationInconclusive = "isolation-inconclusive", Warning, Isolation, "check/isolation/isolation_inconclusive.md", "the tenant-isolation proof could not test a table";
    MembershipSelfInsert = "membership-self-insert", Error, Isolation, "check/isolation/membership_self_insert.md", "a user can insert their own membership into another tenant: anyone joins any tenant";
    SecurityDefinerLeak = "security-definer-leak", Error, Isolation, "check/isolation/security_definer_leak.md", "called with another tenant's ids, owners or names, a SECURITY DEFINER function returned or changed that tenant's data";
    ProofFailed = "proof-failed", Error, Isolation, "check/isolation/proof_failed.md", "the isolation proof itself failed (dbkit's fixture or call, not the project's schema), so what it would have tested is unproven";
    StorageBucketOpen = "storage-bucket-open", Error, Catalog, "check/catalog/storage_bucket_open.md", "a storage.objects policy lets anon or every user read, overwrite or delete a bucket's files with no owner or folder condition";
    ForeignTableExposed = "foreign-table-exposed", Error, Catalog, "check/catalog/foreign_table_exposed.md", "a foreign table in an exposed schema: no row-level security is possible on it";
    SensitiveColumnsExposed = "sensitive-columns-exposed", Error, Catalog, "check/catalog/sensitive_columns_exposed.md", "columns that look like secrets or personal data (tokens, keys, webhook URLs, e-mails) readable by anon or by every user";
    SeqScan = "seq-scan", Warning, Plan, "explain/rules/seq_scan.md", "a sequential scan reading many rows of a large table";
    RlsPerRow = "rls-per-row", Warning, Plan, "explain/rules/rls_per_row.md", "a policy function evaluated per row in a scan filter instead of once (InitPlan)";
    RlsOverhead = "rls-overhead", Warning, Plan, "explain/rules/rls_overhead.md", "the tenant run reads far more blocks (or takes far longer) than the service run";
    RowsRemoved = "rows-removed", Warning, Plan, "explain/rules/rows_removed.md", "a node throws away most of the rows it examined";
    Misestimate = "misestimate", Info, Plan, "explain/rules/misestimate.md", "planned and actual row counts differ by 10x, 100x or 1000x";
    DiskSort = "disk-sort", Warning, Plan, "explain/rules/disk_sort.md", "a sort or hash spilled to disk (work_mem too small)";
    IndexSuggestion = "index-suggestion", Info, Plan, "explain/rules/index_suggestion.md", "a hypothetical index (hypopg) cuts the plan cost by half or more";
}

impl Family {
    /// A short name: file, lint, apply, catalog, isolation, plan.
    pub fn name(self) -> &'static str {
        match self {
            Family::File => "file",
            Family::Lint => "lint",
            Family::Apply => "apply",
            Family::Catalog => "catalog",
            Family::Isolation => "isolation",
            Family::Plan => "plan",
        }
    }

    /// Which command reports the family's rules, and what kind of rule they are.
    pub fn describe(self) -> &'static str {
        match self {
            Family::File => "`dbkit check` · file check",
            Family::Lint => "`dbkit check` · migration lint",
            Family::Apply => "`dbkit check` · applying the migrations",
            Family::Catalog => "`dbkit check` · catalog rule",
            Family::Isolation => "`dbkit check` · tenant-isolation proof",
            Family::Plan => "`dbkit explain` · plan rule",
        }
    }
}

impl Rule {
    /// The rule's page, as `dbkit rules NAME` prints it and docs/rules/NAME.md holds
    /// it: its documentation with the family and default severity after the summary.
    pub fn page(self) -> String {
        let doc = self.doc();
        let head = format!("# {}\n\n{}\n", self.id(), self.what());
        let rest = doc.strip_prefix(&head).unwrap_or(doc);
        format!(
            "{head}\n{} · default severity: {}\n{rest}",
            self.family().describe(),
            self.severity()
        )
    }

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

/// `dbkit rules [NAME]`: every rule (an index), or one rule's page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleDocs {
    All,
    One(Rule),
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

    /// Every rule's doc starts with `# id` and its one-line summary, and has the
    /// sections of a rule page, in order, with SQL (or the file names) to show.
    #[test]
    fn every_rule_has_its_doc() {
        let sections = [
            "\n## What it catches\n",
            "\n## Why it matters\n",
            "\n## Bad\n",
            "\n## Good\n",
            "\n## How to suppress\n",
        ];
        for rule in Rule::ALL {
            let doc = rule.doc();
            let head = format!("# {}\n\n{}\n\n", rule.id(), rule.what());
            assert!(
                doc.starts_with(&head),
                "{}: the doc must start with {head:?}",
                rule.doc_path()
            );
            let mut at = 0;
            for section in sections {
                let found = doc[at..].find(section);
                assert!(
                    found.is_some(),
                    "{}: {section:?} missing or out of order",
                    rule.doc_path()
                );
                at += found.unwrap() + section.len();
            }
            assert!(
                doc.matches("```").count() >= 4,
                "{}: Bad and Good need a fenced block each",
                rule.doc_path()
            );
            let stem = rule.id().replace('-', "_");
            assert!(
                rule.doc_path().ends_with(&format!("/{stem}.md")),
                "{}",
                rule.doc_path()
            );
            assert!(rule.page().contains(rule.family().describe()));
        }
    }

    #[test]
    fn errors_are_the_most_severe() {
        assert!(Severity::Error > Severity::Warning && Severity::Warning > Severity::Info);
    }
}
