//! Tenant isolation, the most important gate `dbkit check` has: a CI gate that passes
//! a leak is worse than none, so what cannot be proven is an error, never a pass.
//!
//! - the schema model (`crate::schema`): the catalog's facts and the tenancy model;
//! - `fixture`: a few tenants' rows, their values from the shared row generator
//!   (`crate::rows`);
//! - `probe`: which requests to make (pure), `execute`: making them as PostgREST does,
//!   rolled back, judged by reading the tables back (`snapshot`), and naming what let a
//!   leak through;
//! - `security_definer_leak`: every SECURITY DEFINER function an API role may execute, called
//!   with tenant B's ids, owners and names; what it returns or changes decides;
//! - rules of their own: `membership_self_insert`, `security_definer_leak`
//!   (`security-definer-leak`).
//!
//! The proof's own failures (a value it could not bind, a call it could not make) are
//! `proof-failed`, with their cause; the project's are `isolation-untested`. What it
//! tried is summarised (`Proof`). The fixture is also what the apply phase seeds
//! at `--base`.

mod execute;
pub mod fixture;
mod membership_self_insert;
pub mod probe;
pub mod security_definer_leak;
mod snapshot;

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use serde::Serialize;
use tokio_postgres::Client;

use super::locate::Locator;
use super::rule::{Finding, Rule};
use crate::schema::{model, Config, Model};
pub use fixture::SeededOrg;

/// What the proof tried: each request (the verdict's table of tables × roles ×
/// operations), the count per role and operation, and what it left out and why.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Proof {
    /// Each request made to a table or view, as which role, and whether it leaked.
    pub tried: Vec<Tried>,
    /// Tables probed.
    pub tables: usize,
    /// Views and set-returning functions read.
    pub views: usize,
    /// SECURITY DEFINER functions called.
    pub functions: usize,
    /// Requests made: role -> operation -> count.
    pub requests: BTreeMap<String, BTreeMap<String, usize>>,
    /// Tables not probed, and why.
    pub skipped: Vec<Skipped>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Skipped {
    pub object: String,
    pub why: String,
}

/// One request of the proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tried {
    /// The table, view or function, as reported.
    pub object: String,
    /// `authenticated` (a member of tenant A) or `anon`.
    pub role: &'static str,
    /// SELECT, INSERT, UPDATE or DELETE.
    pub operation: &'static str,
    /// An error-severity leak.
    pub leaked: bool,
}

impl Proof {
    pub fn total(&self) -> usize {
        self.requests.values().flat_map(|ops| ops.values()).sum()
    }

    /// Requests that leaked.
    pub fn leaks(&self) -> usize {
        self.tried.iter().filter(|t| t.leaked).count()
    }
}

/// The proof's findings and what it tried.
#[derive(Debug, Default)]
pub struct Proved {
    pub findings: Vec<Finding>,
    pub summary: Proof,
    /// What the SECURITY DEFINER calls cleared or could not tell (its findings are in
    /// `findings`): `security_definer_leak::regrade` grades `security-definer-exposed` with it.
    pub called: security_definer_leak::Called,
    /// (table, operation) the proof made and judged a request for, as a member or anon.
    pub probed: BTreeSet<(String, String)>,
    /// (table, operation) where it found an error-severity leak.
    pub leaked: BTreeSet<(String, String)>,
}

fn locate(finding: Finding, locator: &Locator, short: &str) -> Finding {
    match locator.first(&[format!("table:{short}")]) {
        Some((file, line)) => finding.at(file, line),
        None => finding,
    }
}

/// `isolation-untested` for every API-reachable table without tenancy.
fn untenanted(model: &Model, locator: &Locator) -> Vec<Finding> {
    model
        .tenancy
        .untenanted
        .iter()
        .map(|t| {
            let short = t.rsplit('.').next().unwrap_or(t);
            let f = Finding::new(
                Rule::IsolationUntested,
                format!(
                    "{t}: an API role can reach it, but it has no tenancy dbkit can infer (no tenant key, no foreign key to a tenant table, no user column a policy ties to the caller), so its isolation is untested — configure it in dbkit.yaml under tenancy.tables.{t} (key: <column>, via: <foreign-key column>, per_user: <column>, or public: true)"
                ),
            )
            .object(t.clone());
            locate(f, locator, short)
        })
        .collect()
}

/// Is the reason a fixture row could not be made dbkit's own (a value it made up that
/// PostgreSQL rejects, a type it has no value for, a CHECK its generator could not
/// satisfy), rather than something the project must configure?
fn dbkits_own(why: &str) -> bool {
    [
        "invalid input syntax",
        "violates check constraint",
        "no value dbkit can make",
        "does not exist",
        "out of range",
        "malformed",
    ]
    .iter()
    .any(|s| why.contains(s))
}

/// Run the proof on the database `client` is connected to (a scratch database: it
/// commits two tenants' rows).
pub async fn prove(client: &mut Client, model: &Model, locator: &Locator) -> Result<Proved> {
    let mut proof = Proved {
        findings: untenanted(model, locator),
        ..Proved::default()
    };
    let (facts, tenancy) = (&model.facts, &model.tenancy);
    let skipped = &mut proof.summary.skipped;
    for t in &tenancy.untenanted {
        skipped.push(Skipped {
            object: t.clone(),
            why: "no tenancy (isolation-untested)".into(),
        });
    }
    for t in &tenancy.tables {
        if let Some(why) = probe::skipped(facts, tenancy, t.oid) {
            skipped.push(Skipped {
                object: t.table.clone(),
                why: why.into(),
            });
        }
    }
    for t in &tenancy.service_only {
        skipped.push(Skipped {
            object: t.clone(),
            why: "service role only (row-level security on, no policy for an API role)".into(),
        });
    }
    let definers = security_definer_leak::callable(facts);
    if probe::plan(facts, tenancy, &[]).is_empty() && definers.is_empty() {
        return Ok(proof);
    }
    let seeded = fixture::seed(client, facts, tenancy, 2).await?;
    for (oid, why) in &seeded.unfilled {
        let Some(r) = facts.relation(*oid) else {
            continue;
        };
        let (rule, message) = if dbkits_own(why) {
            (
                Rule::ProofFailed,
                format!(
                    "{}: dbkit could not make a fixture row for it (its own value was refused), so its isolation is unproven: {why}",
                    r.name
                ),
            )
        } else {
            (
                Rule::IsolationUntested,
                format!(
                    "{}: no fixture row could be made, so its isolation is untested: {why}",
                    r.name
                ),
            )
        };
        let f = Finding::new(rule, message).object(r.name.clone());
        proof.findings.push(locate(f, locator, &r.short));
        proof.summary.skipped.push(Skipped {
            object: r.name.clone(),
            why: format!("no fixture row: {why}"),
        });
    }
    let unfilled: Vec<u32> = seeded.unfilled.iter().map(|(oid, _)| *oid).collect();
    let probes = probe::plan(facts, tenancy, &unfilled);
    let probed =
        execute::run_probes(client, facts, tenancy, &probes, &seeded.orgs, locator).await?;
    proof.findings.extend(probed.findings);
    proof.summary.tried = probed
        .tried
        .iter()
        .map(|(object, role, operation)| Tried {
            object: object.clone(),
            role,
            operation,
            leaked: probed.leaked.contains(&(object.clone(), role, operation)),
        })
        .collect();
    proof.probed = probed
        .judged
        .iter()
        .map(|(o, op)| (o.clone(), op.to_string()))
        .collect();
    proof.leaked = probed
        .leaked
        .iter()
        .map(|(o, _, op)| (o.clone(), op.to_string()))
        .collect();
    for (_, role, op) in &probed.tried {
        *proof
            .summary
            .requests
            .entry(role.to_string())
            .or_default()
            .entry(op.to_string())
            .or_default() += 1;
    }
    let objects: BTreeSet<&str> = probes.iter().map(|p| p.object.as_str()).collect();
    for object in objects {
        let table = probes.iter().find(|p| p.object == object).is_some_and(|p| {
            matches!(p.target, probe::Target::Relation(oid)
                if facts.relation(oid).is_some_and(|r| r.kind == crate::schema::facts::RelKind::Table))
        });
        if table {
            proof.summary.tables += 1;
        } else {
            proof.summary.views += 1;
        }
    }
    let mut called =
        security_definer_leak::run(client, facts, tenancy, &definers, &seeded.orgs, locator)
            .await?;
    proof.summary.functions = called.functions;
    for (role, n) in &called.calls {
        *proof
            .summary
            .requests
            .entry(role.clone())
            .or_default()
            .entry("EXECUTE".into())
            .or_default() += n;
    }
    proof.findings.append(&mut called.findings);
    proof.called = called;
    Ok(proof)
}

/// The operations a policy command covers.
fn operations(cmd: &str) -> &'static [&'static str] {
    match cmd {
        "r" => &["SELECT"],
        "a" => &["INSERT"],
        "w" => &["UPDATE"],
        "d" => &["DELETE"],
        _ => &["SELECT", "INSERT", "UPDATE", "DELETE"],
    }
}

/// `policy-always-true` and `policy-ignores-tenant-key` after the proof: a policy the
/// proof tried for every operation it covers, on a table where it found no leak for
/// them, is only a warning — an open INSERT with no readable consequence (a sign-up
/// form, create-an-organisation), a user's own-row policy. What the proof did not try
/// stays an error (fail closed).
pub fn regrade_policies(findings: &mut [Finding], facts: &crate::schema::Facts, proof: &Proved) {
    for f in findings.iter_mut().filter(|f| {
        matches!(
            f.rule,
            Rule::PolicyAlwaysTrue | Rule::PolicyIgnoresTenantKey
        ) && f.severity == crate::check::rule::Severity::Error
    }) {
        let Some(p) = f
            .object
            .as_ref()
            .and_then(|o| facts.policies.iter().find(|p| &p.object() == o))
        else {
            continue;
        };
        let ops = operations(&p.cmd);
        let table = p.table.clone();
        let tried = ops
            .iter()
            .all(|op| proof.probed.contains(&(table.clone(), op.to_string())));
        let leaked = ops
            .iter()
            .any(|op| proof.leaked.contains(&(table.clone(), op.to_string())));
        if tried && !leaked {
            f.severity = crate::check::rule::Severity::Warning;
            f.message.push_str(&format!(
                " — the isolation proof tried {} on {table} as a member of another tenant and as anon, and nobody read or changed another tenant's rows through it: review that this is intended",
                ops.join(", ")
            ));
        }
    }
}

/// Insert `n` small tenants (rows in every table the model names) as the owner.
pub async fn seed_orgs(client: &Client, config: &Config, n: usize) -> Result<Vec<SeededOrg>> {
    let model = model(client, config).await?;
    let seeded = fixture::seed(client, &model.facts, &model.tenancy, n).await?;
    if let Some((oid, why)) = seeded.unfilled.first() {
        let name = model
            .facts
            .relation(*oid)
            .map(|r| r.name.clone())
            .unwrap_or_default();
        anyhow::bail!("cannot fill {name}: {why}");
    }
    Ok(seeded.orgs)
}
