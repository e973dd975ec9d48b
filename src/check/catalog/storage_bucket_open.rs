//! `storage-bucket-open`: a policy on `storage.objects` that lets anon (or every
//! authenticated user) read, upload, overwrite or delete a bucket's files with no
//! owner or folder condition — nothing in it reads who is calling (`owner_id =
//! auth.uid()`, `(storage.foldername(name))[1] = auth.uid()::text`, a helper). One
//! finding per policy, naming its buckets:
//!
//! - UPDATE or DELETE open: an error — anyone overwrites or deletes every user's files;
//! - SELECT open on a private bucket: an error for anon, a warning for authenticated (a
//!   bucket shared by all users?); on a public bucket its files are public anyway;
//! - INSERT open: a warning — anyone uploads into the bucket.
//!
//! See `storage_bucket_open.md`.

use std::collections::BTreeSet;

use anyhow::Result;
use tokio_postgres::Client;

use super::Hit;
use crate::check::rule::{Rule, Severity};
use crate::schema::policy_expr;

const POLICIES: &str = "
    SELECT p.polname::text, p.polcmd::text,
           ARRAY(SELECT CASE WHEN r = 0 THEN 'public' ELSE pg_get_userbyid(r)::text END
                 FROM unnest(p.polroles) r ORDER BY 1),
           pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)
    FROM pg_policy p
    JOIN pg_class c ON c.oid = p.polrelid
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'storage' AND c.relname = 'objects' AND p.polpermissive
    ORDER BY 1";

/// Buckets marked public (their files are served to anyone by URL).
const PUBLIC_BUCKETS: &str = "
    SELECT coalesce(array_agg(id::text), '{}') FROM storage.buckets WHERE public";

/// One storage policy as stored.
#[derive(Debug, Clone)]
pub struct StoragePolicy {
    pub name: String,
    pub cmd: String,
    pub roles: Vec<String>,
    pub using: Option<String>,
    pub with_check: Option<String>,
}

pub async fn check(client: &Client, helpers: &BTreeSet<String>) -> Result<Vec<(Hit, Severity)>> {
    let exists: bool = client
        .query_one("SELECT to_regclass('storage.objects') IS NOT NULL", &[])
        .await?
        .get(0);
    if !exists {
        return Ok(vec![]);
    }
    let policies: Vec<StoragePolicy> = client
        .query(POLICIES, &[])
        .await?
        .iter()
        .map(|r| StoragePolicy {
            name: r.get(0),
            cmd: r.get(1),
            roles: r.get(2),
            using: r.get(3),
            with_check: r.get(4),
        })
        .collect();
    let buckets_exist: bool = client
        .query_one("SELECT to_regclass('storage.buckets') IS NOT NULL", &[])
        .await?
        .get(0);
    let public: Vec<String> = if buckets_exist {
        client.query_one(PUBLIC_BUCKETS, &[]).await?.get(0)
    } else {
        vec![]
    };
    Ok(policies
        .iter()
        .filter_map(|p| judge(p, &public, helpers))
        .collect())
}

/// The buckets an expression names (`bucket_id = 'avatars'`); empty: every bucket.
fn buckets(expr: &str) -> Vec<String> {
    let re = regex::Regex::new(r"bucket_id\s*\)?\s*=\s*'([^']+)'").expect("valid regex");
    let mut out: Vec<String> = re.captures_iter(expr).map(|c| c[1].to_string()).collect();
    out.dedup();
    out
}

/// Does an expression say anything about a file besides its bucket — who is calling
/// (an owner or folder condition), or the file itself (`is_public_file(name)`)? Atoms
/// comparing `bucket_id` with a constant, `true`, or the kind of caller
/// (`auth.role() = 'authenticated'`) do not.
fn conditions_files(expr: &str, helpers: &BTreeSet<String>) -> bool {
    let Ok(e) = policy_expr::parse(expr) else {
        // What cannot be read is not called open.
        return true;
    };
    if policy_expr::mentions_caller(&e, helpers) {
        return true;
    }
    policy_expr::atoms(&e).iter().any(|atom| {
        let text = atom.to_string().to_lowercase();
        let bucket_only =
            text.contains("bucket_id") && !text.contains('(') || text.starts_with("bucket_id");
        !(bucket_only || text == "true" || text.contains("auth.role()"))
    })
}

/// The finding on one policy, if it opens a bucket.
pub fn judge(
    p: &StoragePolicy,
    public: &[String],
    helpers: &BTreeSet<String>,
) -> Option<(Hit, Severity)> {
    let anon = p.roles.iter().any(|r| r == "public" || r == "anon");
    if !anon && !p.roles.iter().any(|r| r == "authenticated") {
        return None;
    }
    let who = if anon {
        "anon"
    } else {
        "every authenticated user"
    };
    // (operation, the expression deciding it): USING decides which files are read,
    // overwritten or deleted; WITH CHECK which are written.
    let ops: Vec<(&str, Option<&String>)> = match p.cmd.as_str() {
        "r" => vec![("SELECT", p.using.as_ref())],
        "a" => vec![("INSERT", p.with_check.as_ref())],
        "w" => vec![("UPDATE", p.using.as_ref().or(p.with_check.as_ref()))],
        "d" => vec![("DELETE", p.using.as_ref())],
        _ => vec![
            ("SELECT", p.using.as_ref()),
            ("INSERT", p.with_check.as_ref().or(p.using.as_ref())),
            ("UPDATE", p.using.as_ref()),
            ("DELETE", p.using.as_ref()),
        ],
    };
    let open: Vec<(&str, &String)> = ops
        .into_iter()
        .filter_map(|(op, e)| e.map(|e| (op, e)))
        .filter(|(_, e)| !conditions_files(e, helpers))
        .collect();
    if open.is_empty() {
        return None;
    }
    let named: Vec<String> = open.iter().flat_map(|(_, e)| buckets(e)).collect();
    let mut named_buckets = named.clone();
    named_buckets.sort();
    named_buckets.dedup();
    let private = named_buckets.is_empty() || named_buckets.iter().any(|b| !public.contains(b));
    let severity_of = |op: &str| match op {
        "UPDATE" | "DELETE" => Some(Severity::Error),
        "SELECT" if private && anon => Some(Severity::Error),
        "SELECT" if private => Some(Severity::Warning),
        "SELECT" => None,
        _ => Some(Severity::Warning),
    };
    let graded: Vec<(&str, Severity)> = open
        .iter()
        .filter_map(|(op, _)| severity_of(op).map(|s| (*op, s)))
        .collect();
    let severity = graded.iter().map(|(_, s)| *s).max()?;
    let ops: Vec<&str> = graded.iter().map(|(op, _)| *op).collect();
    let where_ = if named_buckets.is_empty() {
        "every bucket".to_string()
    } else {
        format!(
            "bucket {}",
            named_buckets
                .iter()
                .map(|b| format!("'{b}'"))
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    let (overwrites, deletes) = (ops.contains(&"UPDATE"), ops.contains(&"DELETE"));
    let harm = if overwrites && deletes {
        "overwrites and deletes every user's files"
    } else if overwrites {
        "overwrites every user's files"
    } else if deletes {
        "deletes every user's files"
    } else if ops.contains(&"SELECT") {
        "reads every user's files"
    } else {
        "uploads files into it"
    };
    let object = format!("storage.objects.{}", p.name);
    Some((
        Hit::new(
            Rule::StorageBucketOpen,
            object,
            format!(
                "policy {} on storage.objects lets {who} {} in {where_} with no owner or folder condition: {who} {harm} (add e.g. owner_id = (select auth.uid())::text, or (storage.foldername(name))[1] = (select auth.uid())::text)",
                p.name,
                ops.join(", ")
            ),
            vec![
                format!("policy:storage.objects.{}", p.name),
                "table:storage.objects".to_string(),
            ],
        ),
        severity,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(
        cmd: &str,
        roles: &[&str],
        using: Option<&str>,
        check: Option<&str>,
    ) -> StoragePolicy {
        StoragePolicy {
            name: "p".into(),
            cmd: cmd.into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            using: using.map(str::to_string),
            with_check: check.map(str::to_string),
        }
    }

    fn graded(p: &StoragePolicy, public: &[&str]) -> Option<Severity> {
        let public: Vec<String> = public.iter().map(|b| b.to_string()).collect();
        judge(p, &public, &BTreeSet::new()).map(|(_, s)| s)
    }

    #[test]
    fn writes_without_an_owner_condition_are_errors() {
        let delete = policy("d", &["anon"], Some("(bucket_id = 'quivr'::text)"), None);
        assert_eq!(graded(&delete, &[]), Some(Severity::Error));
        let (hit, _) = judge(&delete, &[], &BTreeSet::new()).unwrap();
        assert!(
            hit.subjects[0].message.contains("bucket 'quivr'"),
            "{}",
            hit.subjects[0].message
        );
        let update = policy(
            "w",
            &["authenticated"],
            Some("(bucket_id = 'docs'::text)"),
            None,
        );
        assert_eq!(graded(&update, &[]), Some(Severity::Error));
    }

    #[test]
    fn owner_or_folder_conditions_close_it() {
        let own = policy(
            "d",
            &["authenticated"],
            Some("((bucket_id = 'docs'::text) AND ((storage.foldername(name))[1] = (auth.uid())::text))"),
            None,
        );
        assert_eq!(graded(&own, &[]), None);
        let owner = policy(
            "w",
            &["anon"],
            Some("(owner_id = (( SELECT auth.uid() AS uid))::text)"),
            None,
        );
        assert_eq!(graded(&owner, &[]), None);
    }

    #[test]
    fn a_condition_on_the_file_itself_is_not_open() {
        let flagged = policy(
            "r",
            &["public"],
            Some("((bucket_id = 'files'::text) AND public.non_private_file_exists(name))"),
            None,
        );
        assert_eq!(graded(&flagged, &[]), None);
        let role = policy(
            "d",
            &["public"],
            Some("((bucket_id = 'files'::text) AND (auth.role() = 'authenticated'::text))"),
            None,
        );
        assert_eq!(graded(&role, &[]), Some(Severity::Error));
    }

    #[test]
    fn reads_of_public_buckets_are_fine_of_private_ones_not() {
        let read = policy(
            "r",
            &["public"],
            Some("(bucket_id = 'avatars'::text)"),
            None,
        );
        assert_eq!(graded(&read, &["avatars"]), None);
        assert_eq!(graded(&read, &[]), Some(Severity::Error));
        let members = policy(
            "r",
            &["authenticated"],
            Some("(bucket_id = 'team'::text)"),
            None,
        );
        assert_eq!(graded(&members, &[]), Some(Severity::Warning));
        let upload = policy("a", &["anon"], None, Some("(bucket_id = 'avatars'::text)"));
        assert_eq!(graded(&upload, &["avatars"]), Some(Severity::Warning));
        let service = policy("d", &["service_role"], Some("true"), None);
        assert_eq!(graded(&service, &[]), None);
    }
}
