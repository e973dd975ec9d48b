//! `sensitive-columns-exposed`: a table (or a view that reads as its owner) in an exposed
//! schema whose columns look like secrets or personal data — passwords, API keys,
//! tokens, webhook URLs, e-mails, phone numbers — and that anon, or every authenticated
//! user, reads in full: row-level security off, or a permissive SELECT policy for them
//! that never reads who is calling (`USING (true)`). With or without a tenancy dbkit can
//! infer. splinter's `sensitive_columns_exposed` is the anchor.
//!
//! Readable by anon: an error. By every authenticated user: an error for secrets, a
//! warning for personal data alone (a member directory may show e-mails on purpose).
//! See `sensitive_columns_exposed.md`.

use std::collections::BTreeSet;

use anyhow::Result;
use tokio_postgres::Client;

use super::Hit;
use crate::check::rule::{Rule, Severity};
use crate::schema::facts::{Facts, RelKind, Relation};
use crate::schema::policy::Policy;
use crate::schema::policy_expr;

/// What a column name says it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Sensitivity {
    Personal,
    Secret,
}

/// The sensitivity a column name suggests, if any.
pub fn sensitivity(column: &str) -> Option<Sensitivity> {
    let secret = regex::Regex::new(
        r"(^|_)(password|passwd|pwd|secret|secrets|credential|credentials|ssn|cvv|iban|private_key|webhook|webhook_url)(_|$)|(^|_)token$|(^|_)(access|refresh|api|auth|bearer|session|reset|invite|invitation|verification|confirmation|recovery)_token|(^|_)(api|secret|private|access|service_role|encryption|signing|client|openai|anthropic|stripe|github)_?key$|^apikey$",
    )
    .expect("valid regex");
    let personal = regex::Regex::new(
        r"(^|_)(email|email_address|e_mail|phone|phone_number|mobile|date_of_birth|dob|birthdate|birthday|tax_id|passport|passport_number)$",
    )
    .expect("valid regex");
    let c = column.to_lowercase();
    if secret.is_match(&c) {
        Some(Sensitivity::Secret)
    } else if personal.is_match(&c) {
        Some(Sensitivity::Personal)
    } else {
        None
    }
}

// $1: the exposed schemas. Per column of each relation there: whether anon and
// authenticated may select it (a NULL ACL: Supabase's default privileges grant it).
const COLUMN_PRIVILEGES: &str = "
    SELECT c.oid, a.attname::text,
           c.relacl IS NULL OR has_column_privilege('anon', c.oid, a.attnum, 'SELECT'),
           c.relacl IS NULL OR has_column_privilege('authenticated', c.oid, a.attnum, 'SELECT')
    FROM pg_class c
    JOIN pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
    WHERE c.relkind IN ('r', 'p', 'v', 'm') AND n.nspname = ANY($1)
      AND (SELECT count(*) FROM pg_roles WHERE rolname IN ('anon', 'authenticated')) = 2";

/// (relation oid, column, anon may select, authenticated may select).
pub type ColumnGrant = (u32, String, bool, bool);

pub async fn check(
    client: &Client,
    facts: &Facts,
    helpers: &BTreeSet<String>,
    exposed: &[String],
) -> Result<Vec<(Hit, Severity)>> {
    let grants: Vec<ColumnGrant> = client
        .query(COLUMN_PRIVILEGES, &[&exposed])
        .await?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    Ok(judge(facts, &grants, helpers))
}

/// A SELECT policy for `role` that lets every row through: it never reads the caller.
fn open_read<'a>(
    facts: &'a Facts,
    r: &Relation,
    role: &str,
    helpers: &BTreeSet<String>,
) -> Option<&'a Policy> {
    facts
        .policies
        .iter()
        .filter(|p| p.table_oid == r.oid)
        .find(|p| {
            p.permissive
                && (p.cmd == "r" || p.cmd == "*")
                && p.roles.iter().any(|x| x == "public" || x == role)
                && p.using
                    .as_deref()
                    .is_some_and(|u| match policy_expr::parse(u) {
                        Ok(e) => {
                            !policy_expr::mentions_caller(&e, helpers)
                                && policy_expr::own_columns(&e, &r.short).is_empty()
                        }
                        Err(_) => false,
                    })
        })
}

/// How `role` reads every row of `r`, if it does: the policy, or none when
/// row-level security is off (or the view reads as its owner).
fn reads_all<'a>(
    facts: &'a Facts,
    r: &Relation,
    role: &str,
    helpers: &BTreeSet<String>,
) -> Option<Option<&'a Policy>> {
    match r.kind {
        RelKind::Table if !r.rls => Some(None),
        RelKind::Table => open_read(facts, r, role, helpers).map(Some),
        RelKind::View if !r.security_invoker => Some(None),
        RelKind::MaterializedView => Some(None),
        RelKind::View => None,
    }
}

pub fn judge(
    facts: &Facts,
    grants: &[ColumnGrant],
    helpers: &BTreeSet<String>,
) -> Vec<(Hit, Severity)> {
    let mut out = Vec::new();
    for r in facts.relations.iter().filter(|r| r.exposed) {
        let sensitive: Vec<(&ColumnGrant, Sensitivity)> = grants
            .iter()
            .filter(|g| g.0 == r.oid)
            .filter_map(|g| sensitivity(&g.1).map(|s| (g, s)))
            .collect();
        if sensitive.is_empty() {
            continue;
        }
        for (role, anon) in [("anon", true), ("authenticated", false)] {
            let Some(how) = reads_all(facts, r, role, helpers) else {
                continue;
            };
            let columns: Vec<(&str, Sensitivity)> = sensitive
                .iter()
                .filter(|(g, _)| if anon { g.2 } else { g.3 })
                .map(|(g, s)| (g.1.as_str(), *s))
                .collect();
            if columns.is_empty() {
                continue;
            }
            let secret = columns.iter().any(|(_, s)| *s == Sensitivity::Secret);
            let severity = if anon || secret {
                Severity::Error
            } else {
                Severity::Warning
            };
            let names: Vec<&str> = columns.iter().map(|(c, _)| *c).collect();
            let (because, locate) = match how {
                Some(p) => (
                    format!("policy {} reads every row for {role}", p.name),
                    p.locate(),
                ),
                None if r.kind == RelKind::Table => (
                    "row-level security is off".to_string(),
                    vec![
                        format!("rls:{}", crate::schema::policy::qualified(&r.name)),
                        format!("table:{}", crate::schema::policy::qualified(&r.name)),
                    ],
                ),
                None => (
                    format!("{} reads as its owner, past row-level security", r.name),
                    vec![format!(
                        "view:{}",
                        crate::schema::policy::qualified(&r.name)
                    )],
                ),
            };
            let who = if anon {
                "anyone on the internet (anon)"
            } else {
                "every signed-in user"
            };
            out.push((
                Hit::new(
                    Rule::SensitiveColumnsExposed,
                    r.name.clone(),
                    format!(
                        "{}: {who} reads {} of every row — {because} (revoke SELECT on those columns from {role}, or restrict the policy to the row's owner)",
                        r.name,
                        names.join(", ")
                    ),
                    locate,
                ),
                severity,
            ));
            // anon reading it says it all.
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::facts::testing::{policy, table};

    #[test]
    fn names_that_look_like_secrets_or_personal_data() {
        for s in [
            "password_hash",
            "api_key",
            "openai_api_key",
            "access_token",
            "token",
            "webhook_url",
            "client_secret",
            "sso_secret",
        ] {
            assert_eq!(sensitivity(s), Some(Sensitivity::Secret), "{s}");
        }
        for p in ["email", "contact_email", "phone_number", "date_of_birth"] {
            assert_eq!(sensitivity(p), Some(Sensitivity::Personal), "{p}");
        }
        for n in [
            "max_tokens",
            "tokens_used",
            "token_count",
            "keyboard",
            "name",
            "email_verified",
            "primary_key_id",
        ] {
            assert_eq!(sensitivity(n), None, "{n}");
        }
    }

    #[test]
    fn open_reads_of_sensitive_columns_are_caught() {
        let mut hooks = table(1, "integrations", &["id", "webhook_url", "name"]);
        hooks.rls = true;
        let mut members = table(2, "profiles", &["id", "email"]);
        members.rls = true;
        let mut own = table(3, "api_keys", &["id", "user_id", "api_key"]);
        own.rls = true;
        let mut read_all = policy(&hooks, "read", "r", Some("true"), None);
        read_all.roles = vec!["public".into()];
        let directory = policy(&members, "directory", "r", Some("true"), None);
        let mine = policy(&own, "mine", "*", Some("(user_id = auth.uid())"), None);
        let facts = Facts {
            relations: vec![hooks, members, own],
            policies: vec![read_all, directory, mine],
            ..Facts::default()
        };
        let grants: Vec<ColumnGrant> = vec![
            (1, "webhook_url".into(), true, true),
            (2, "email".into(), false, true),
            (3, "api_key".into(), true, true),
        ];
        let hits = judge(&facts, &grants, &BTreeSet::new());
        let found: Vec<(String, Severity)> = hits
            .iter()
            .map(|(h, s)| (h.subjects[0].object.clone(), *s))
            .collect();
        assert_eq!(
            found,
            vec![
                ("integrations".to_string(), Severity::Error),
                ("profiles".to_string(), Severity::Warning)
            ]
        );
        assert!(hits[0].0.subjects[0]
            .message
            .contains("anyone on the internet (anon) reads webhook_url"));
    }
}
