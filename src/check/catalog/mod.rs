//! Catalog rules on the final schema: SQL against `pg_catalog`, one file per rule.
//! Each rule returns `Hit`s naming the object; this module points each at the migration
//! statement that last defined the object (so it can be annotated and ignored), by its
//! schema-qualified name (`policy:storage.objects.own_files`), in every schema.

use anyhow::Result;
use tokio_postgres::{Client, Row};

use super::locate::Locator;
use super::rule::{Finding, Rule};
use crate::db::read_rows;
use crate::schema::policy::policies;
use crate::schema::Model;
pub(crate) use crate::schema::{project_made, user_schema};

mod auth_rls_initplan;
mod duplicate_index;
mod foreign_table_exposed;
mod function_search_path_mutable;
mod multiple_permissive_policies;
mod no_primary_key;
mod policy_always_true;
mod policy_exists_rls_disabled;
mod policy_ignores_tenant_key;
mod policy_missing_role;
mod redundant_index;
mod rls_disabled;
mod rls_enabled_no_policy;
mod rls_references_user_metadata;
mod security_definer_exposed;
mod sensitive_columns_exposed;
mod storage_bucket_open;
mod tenant_key_not_in_unique;
mod tenant_key_not_indexed;
mod unindexed_foreign_key;
mod view_bypasses_rls;

/// One catalog rule's verdict: a finding about one object, or about several at once
/// (overlapping policies, identical indexes).
#[derive(Debug, Clone)]
pub struct Hit {
    pub rule: Rule,
    /// The objects the finding is about, each with the finding as it reads when placed
    /// on that object. It is reported once, on the subject the migrations defined last:
    /// the one a new migration introduced.
    pub subjects: Vec<Subject>,
}

/// One object a finding is about.
#[derive(Debug, Clone)]
pub struct Subject {
    pub object: String,
    pub message: String,
    /// Locator keys to try, most specific first (`policy:t.p`, `table:t`).
    pub locate: Vec<String>,
}

impl Hit {
    /// A finding about one object.
    pub fn new(rule: Rule, object: String, message: String, locate: Vec<String>) -> Hit {
        Hit {
            rule,
            subjects: vec![Subject::new(object, message, locate)],
        }
    }
}

impl Subject {
    pub fn new(object: String, message: String, locate: Vec<String>) -> Subject {
        Subject {
            object,
            message,
            locate,
        }
    }
}

/// The "query the catalog, one finding per row" shape most rules have: run `sql` and
/// make each row one hit of `rule` about the subject `subject` reads from it.
pub async fn per_row(
    client: &Client,
    rule: Rule,
    sql: &str,
    subject: impl Fn(&Row) -> Subject,
) -> Result<Vec<Hit>> {
    let context = format!("catalog rule {rule}: cannot read the catalog");
    read_rows(client, sql, &context, |row| Hit {
        rule,
        subjects: vec![subject(row)],
    })
    .await
}

/// A table, index or function as the catalog names it: its schema and its own name.
/// Rules select `n.nspname, <name>` side by side and read them with `Relation::at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relation {
    pub schema: String,
    pub name: String,
}

impl Relation {
    /// The schema in column `i`, the name in column `i + 1`.
    pub fn at(row: &Row, i: usize) -> Relation {
        Relation {
            schema: row.get(i),
            name: row.get(i + 1),
        }
    }

    /// As reported: the schema omitted for `public`.
    pub fn display(&self) -> String {
        if self.schema == "public" {
            self.name.clone()
        } else {
            format!("{}.{}", self.schema, self.name)
        }
    }

    /// The locator key of this object as `kind` (`table`, `rls`, `index`, `function`).
    pub fn key(&self, kind: &str) -> String {
        format!("{kind}:{}.{}", self.schema, self.name)
    }

    /// A finding about this object as `kind` (`table`, `function`, ...), reported as
    /// `object`, placed on the statement that defined it.
    pub fn subject(&self, kind: &str, object: String, message: String) -> Subject {
        Subject::new(object, message, vec![self.key(kind)])
    }

    /// A finding about this table's row-level security: placed on the statement that
    /// switched it, else the CREATE TABLE. `message` gets the table's reported name.
    pub fn rls_subject(&self, message: impl FnOnce(&str) -> String) -> Subject {
        let shown = self.display();
        Subject::new(
            shown.clone(),
            message(&shown),
            vec![self.key("rls"), self.key("table")],
        )
    }
}

/// Run every catalog rule on the database `client` is connected to.
pub async fn check(client: &Client, locator: &Locator, model: &Model) -> Result<Vec<Finding>> {
    let policies = policies(client).await?;
    let (facts, tenancy) = (&model.facts, &model.tenancy);
    let mut hits = Vec::new();
    hits.extend(rls_disabled::check(facts));
    hits.extend(view_bypasses_rls::check(facts, tenancy));
    hits.extend(policy_always_true::check(&policies, tenancy));
    hits.extend(policy_ignores_tenant_key::check(&policies, tenancy));
    hits.extend(rls_references_user_metadata::check(&policies));
    hits.extend(tenant_key_not_in_unique::check(facts, tenancy));
    hits.extend(policy_exists_rls_disabled::check(client).await?);
    hits.extend(rls_enabled_no_policy::check(client).await?);
    hits.extend(auth_rls_initplan::check(&policies));
    hits.extend(policy_missing_role::check(&policies));
    hits.extend(multiple_permissive_policies::check(&policies));
    // A foreign key whose leading column is an unindexed tenant key is one finding,
    // `tenant-key-not-indexed` (one index fixes both), not two about the same column.
    let foreign_keys = unindexed_foreign_key::unindexed(client).await?;
    let (tenant_keys, absorbed) =
        tenant_key_not_indexed::check(client, &policies, &foreign_keys).await?;
    hits.extend(
        foreign_keys
            .iter()
            .filter(|fk| !absorbed.contains(&fk.constraint_oid))
            .map(unindexed_foreign_key::hit),
    );
    hits.extend(tenant_keys);
    hits.extend(duplicate_index::check(client).await?);
    hits.extend(redundant_index::check(client).await?);
    hits.extend(function_search_path_mutable::check(client).await?);
    hits.extend(no_primary_key::check(client).await?);
    hits.extend(foreign_table_exposed::check(client, &tenancy.exposed_schemas).await?);
    let mut findings: Vec<Finding> = hits.into_iter().map(|h| locate(h, locator)).collect();
    // Graded per finding.
    let helpers = crate::schema::tenancy::caller_helpers(facts);
    let graded = security_definer_exposed::check(facts)
        .into_iter()
        .chain(storage_bucket_open::check(client, &helpers).await?)
        .chain(
            sensitive_columns_exposed::check(client, facts, &helpers, &tenancy.exposed_schemas)
                .await?,
        );
    for (hit, severity) in graded {
        let mut finding = locate(hit, locator);
        finding.severity = severity;
        findings.push(finding);
    }
    Ok(findings)
}

/// The finding for `hit`, on its subject defined last in the migrations (the first
/// subject when none of them can be found).
pub fn locate(hit: Hit, locator: &Locator) -> Finding {
    let keys: Vec<&[String]> = hit.subjects.iter().map(|s| s.locate.as_slice()).collect();
    let (index, place) = match locator.latest(&keys) {
        Some((index, place)) => (index, Some(place)),
        None => (0, None),
    };
    let subject = hit
        .subjects
        .into_iter()
        .nth(index)
        .expect("a hit has a subject");
    let mut finding = Finding::new(hit.rule, subject.message).object(subject.object);
    if let Some((file, line)) = place {
        finding = finding.at(file, line);
    }
    finding
}
