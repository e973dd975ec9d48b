//! Tenant isolation, the most important gate `dbkit check` has: a CI gate that passes
//! a leak is worse than none, so what cannot be proven is an error, never a pass.
//!
//! - the schema model (`crate::schema`): the catalog's facts and the tenancy model;
//! - `fixture`: a few tenants' rows, their values from the shared row generator
//!   (`crate::rows`);
//! - `probe`: which requests to make (pure), `execute`: making them as PostgREST does,
//!   rolled back, and naming what let a leak through.
//!
//! The fixture is also what the apply phase seeds at `--base`.

mod execute;
pub mod fixture;
pub mod probe;

use anyhow::Result;
use tokio_postgres::Client;

use super::locate::Locator;
use super::rule::{Finding, Rule};
use crate::schema::{model, Config, Model};
pub use fixture::SeededOrg;

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
                    "{t}: an API role can reach it, but it has no tenancy dbkit can infer (no tenant key, no foreign key to a tenant table, no per-user column), so its isolation is untested — configure it in dbkit.yaml under tenancy.tables.{t} (key: <column>, via: <foreign-key column>, per_user: <column>, or public: true)"
                ),
            )
            .object(t.clone());
            locate(f, locator, short)
        })
        .collect()
}

/// Run the proof on the database `client` is connected to (a scratch database: it
/// commits two tenants' rows). `tenant-leak` and `isolation-untested` findings.
pub async fn prove(client: &mut Client, model: &Model, locator: &Locator) -> Result<Vec<Finding>> {
    let mut findings = untenanted(model, locator);
    let (facts, tenancy) = (&model.facts, &model.tenancy);
    let planned_nothing = probe::plan(facts, tenancy, &[]).is_empty();
    if planned_nothing {
        return Ok(findings);
    }
    let seeded = fixture::seed(client, facts, tenancy, 2).await?;
    for (oid, why) in &seeded.unfilled {
        let Some(r) = facts.relation(*oid) else {
            continue;
        };
        let f = Finding::new(
            Rule::IsolationUntested,
            format!(
                "{}: no fixture row could be made, so its isolation is untested: {why}",
                r.name
            ),
        )
        .object(r.name.clone());
        findings.push(locate(f, locator, &r.short));
    }
    let unfilled: Vec<u32> = seeded.unfilled.iter().map(|(oid, _)| *oid).collect();
    let probes = probe::plan(facts, tenancy, &unfilled);
    findings
        .extend(execute::run_probes(client, facts, tenancy, &probes, &seeded.orgs, locator).await?);
    Ok(findings)
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
