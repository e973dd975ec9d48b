//! Index advice as one verified set (`dbkit explain --advise`): one index set for the
//! whole catalog — every query, org and role — checked by measurement, not estimate.
//!
//! On a lab copy of the database explain ran on (`Lab::copy`, a template clone): the
//! baseline is measured; candidates come from each query's generic plan as the service
//! and as the tenant (filters, joins, ORDER BY, constant predicates as partial indexes,
//! the tenant's RLS filter); each is built for real and the queries it could serve are
//! measured (EXPLAIN ANALYZE, buffers); a greedy choice over the admissible ones (none
//! made a query worse) picks the set, the extra blocks on the catalog's writes counted
//! against each; the set is built together and measured again — a member the plans turn
//! into a regression is dropped, a covering variant (INCLUDE) replaces a member when it
//! reads less, and a member nothing reads more without is dropped, so none is made
//! redundant by another. The result is the verified set (`IndexAdvice`, ready
//! `CREATE INDEX CONCURRENTLY` statements with their table and reason) and every run's
//! buffers before and after.
//!
//! Files by job: `predicate` (reading plan conditions), `shape` (generic plans →
//! scans), `candidate` (indexes from scans), `select` (the decisions, pure), `trial`
//! (the lab copy: build, drop, measure), `model` (what is returned).

pub mod candidate;
pub mod model;
pub mod predicate;
pub mod select;
pub mod shape;
pub mod trial;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::Result;

use crate::explain::model::RunOptions;
use crate::explain::rules::Role;
use crate::lab::Lab;
use crate::progress::Indicator;
use crate::schema::Config;
use crate::workload::catalog::Catalog;
use crate::workload::sample::SampledOrg;
use candidate::{Candidate, Existing, IndexSpec};
pub use model::{Advice, AdviceRun, IndexAdvice};
use select::Figures;
use shape::{Columns, Shapes, Table};
use trial::{Measured, Workbench};

/// Rounds of "build the set, measure, drop what made a query worse" at most.
const SETTLE_ROUNDS: usize = 4;

/// One member of the set being built: the candidate it came from and its name.
#[derive(Debug, Clone)]
struct Member {
    candidate: usize,
    spec: IndexSpec,
    name: String,
}

/// Advise on `copy` (a lab copy of the database explain ran on; dropped at the end).
pub async fn advise(
    copy: Lab,
    catalog: &Catalog,
    orgs: &[SampledOrg],
    run: &RunOptions,
    config: &Config,
    progress: &Indicator,
) -> Result<Advice> {
    let bench = Workbench::open(copy, catalog, orgs, run, progress).await?;
    let result = on_bench(&bench, catalog, orgs, run, config, progress).await;
    let finished = bench.finish().await;
    let advice = result?;
    finished?;
    Ok(advice)
}

async fn on_bench(
    bench: &Workbench<'_>,
    catalog: &Catalog,
    orgs: &[SampledOrg],
    run: &RunOptions,
    config: &Config,
    progress: &Indicator,
) -> Result<Advice> {
    let mut notes = Vec::new();
    let writes: BTreeSet<String> = catalog
        .queries
        .iter()
        .filter(|q| q.dml)
        .map(|q| q.name.clone())
        .collect();
    let all: BTreeSet<String> = catalog.queries.iter().map(|q| q.name.clone()).collect();
    progress.set_message("advice: baseline");
    let baseline = bench.measure(&all).await?;
    // A query that fails as it is cannot be judged: left out of the advice, said so.
    let failing: BTreeSet<String> = baseline.errors.keys().map(|k| k.query.clone()).collect();
    for (key, error) in &baseline.errors {
        notes.push(format!(
            "{} ({}, {}) left out of the advice: it fails on the lab copy: {error}",
            key.query, key.org, key.role
        ));
    }
    let mut base = baseline.figures.clone();
    base.retain(|k, _| !failing.contains(&k.query));

    let (shapes, existing) =
        read_shapes(bench, catalog, orgs, run, config, &failing, &mut notes).await?;
    let mut wide: HashMap<Table, Vec<String>> = HashMap::new();
    for scan in &shapes.scans {
        if let Some(t) = &scan.table {
            if !wide.contains_key(t) {
                wide.insert(t.clone(), bench.wide_columns(t).await?);
            }
        }
    }
    let candidates = candidate::with_covering(
        candidate::candidates(&shapes.scans, &existing),
        &shapes.scans,
        &|t: &Table| wide.get(t).cloned().unwrap_or_default(),
    );

    // Each candidate alone: built, the queries it could serve (and the writes it costs)
    // measured, dropped.
    let mut trials: Vec<Figures> = Vec::new();
    let mut admissible: Vec<bool> = Vec::new();
    let mut rejected: Vec<String> = Vec::new();
    // Per candidate: the run it made worse alone, if any (said when it is ruled out).
    let mut worse_alone: Vec<Option<String>> = Vec::new();
    let mut tried = 0;
    for (i, c) in candidates.iter().enumerate() {
        let queries = relevant(&c.spec, &shapes, &failing);
        if queries.iter().all(|q| writes.contains(q)) {
            trials.push(Figures::new());
            admissible.push(false);
            worse_alone.push(None);
            continue;
        }
        progress.set_message(format!(
            "advice: candidate {}/{} {}",
            i + 1,
            candidates.len(),
            c.spec.label()
        ));
        let name = format!("dbkit_advice_trial_{i}");
        bench.build(&c.spec, &name).await?;
        let measured = bench.measure_once(&queries).await;
        bench.drop_index(&c.spec.table, &name).await?;
        let measured = measured?;
        tried += 1;
        let ok = select::admissible(&base, &measured.figures, &writes);
        if !ok {
            rejected.push(format!("{}: cuts no query's buffers", c.spec.label()));
        }
        worse_alone.push(why_not(&base, &measured.figures, &writes));
        trials.push(measured.figures);
        admissible.push(ok);
    }
    let size: Vec<usize> = candidates
        .iter()
        .map(|c| c.spec.key.len() + c.spec.include.len() + usize::from(c.spec.predicate.is_empty()))
        .collect();

    // The set: chosen, built together, measured; a member a plan turns into a
    // regression is ruled out and the choice made again.
    let taken: BTreeSet<String> = existing.iter().map(|e| e.name.clone()).collect();
    let mut members: Vec<Member> = Vec::new();
    let mut measured = baseline.clone();
    for round in 0..SETTLE_ROUNDS {
        let chosen = select::choose(&base, &writes, &trials, &admissible, &size);
        let target: Vec<Member> = name_members(&chosen, &candidates, &taken, &members);
        apply(bench, &mut members, target).await?;
        progress.set_message("advice: the set together");
        measured = bench.measure(&all).await?;
        let worse = select::worsened(&base, &measured.figures, &writes);
        if worse.is_empty() {
            break;
        }
        let mut culprits = BTreeSet::new();
        for key in &worse {
            for m in &members {
                if measured.used.get(key).is_some_and(|u| u.contains(&m.name)) {
                    culprits.insert(m.candidate);
                }
            }
        }
        if culprits.is_empty() || round + 1 == SETTLE_ROUNDS {
            for key in worse {
                notes.push(format!(
                    "{} ({}, {}) reads more with the set: {} → {} blocks",
                    key.query, key.org, key.role, base[&key], measured.figures[&key]
                ));
            }
            break;
        }
        for c in culprits {
            admissible[c] = false;
            rejected.push(format!(
                "{}: with the rest of the set, a plan using it reads more than before{}",
                candidates[c].spec.label(),
                worse_alone[c]
                    .as_ref()
                    .map(|w| format!(" (alone: {w})"))
                    .unwrap_or_default()
            ));
        }
    }

    // Covering variants: a member replaced by its INCLUDE form when that reads less.
    for i in 0..members.len() {
        let member = members[i].clone();
        if !member.spec.include.is_empty() {
            continue;
        }
        let wide = wide.get(&member.spec.table).cloned().unwrap_or_default();
        let users = measured.users_of(&member.name);
        let scans: Vec<&shape::ScanShape> = shapes
            .scans
            .iter()
            .filter(|s| users.contains(&s.query))
            .collect();
        let Some(variant) = candidate::covering(&member.spec, &scans, &wide) else {
            continue;
        };
        let queries = measured_scope(&member, &measured, &shapes, &failing);
        let name = unique_name(&variant.default_name(), &taken, &members);
        progress.set_message(format!("advice: covering {}", variant.label()));
        bench.drop_index(&member.spec.table, &member.name).await?;
        bench.build(&variant, &name).await?;
        let new = bench.measure(&queries).await?;
        tried += 1;
        let old = restrict(&measured.figures, &queries);
        if select::better_variant(&old, &new.figures, &writes) {
            members[i] = Member {
                candidate: member.candidate,
                spec: variant,
                name,
            };
            measured.update(&new);
        } else {
            rejected.push(format!(
                "{}: reads no less than {}",
                variant.label(),
                member.spec.label()
            ));
            bench.drop_index(&variant.table, &name).await?;
            bench.build(&member.spec, &member.name).await?;
        }
    }

    // No member made redundant by another: each dropped in turn (those the fewest runs
    // use first), kept only when a query reads more without it.
    members.sort_by_key(|m| {
        measured
            .used
            .values()
            .filter(|u| u.contains(&m.name))
            .count()
    });
    let mut i = 0;
    while i < members.len() {
        let member = members[i].clone();
        if measured.users_of(&member.name).is_empty() {
            // No plan uses it: it serves nothing the others do not, and costs writes.
            bench.drop_index(&member.spec.table, &member.name).await?;
            rejected.push(format!(
                "{}: with the rest of the set, no plan uses it",
                member.spec.label()
            ));
            members.remove(i);
            continue;
        }
        let queries = measured_scope(&member, &measured, &shapes, &failing);
        progress.set_message(format!("advice: without {}", member.spec.label()));
        bench.drop_index(&member.spec.table, &member.name).await?;
        let without = bench.measure(&queries).await?;
        let with = restrict(&measured.figures, &queries);
        if select::redundant(&with, &without.figures, &writes) {
            rejected.push(format!(
                "{}: the rest of the set serves its queries as well",
                member.spec.label()
            ));
            measured.update(&without);
            members.remove(i);
        } else {
            bench.build(&member.spec, &member.name).await?;
            i += 1;
        }
    }

    progress.set_message("advice: the verified set");
    let after = bench.measure(&all).await?;
    for key in select::worsened(&base, &after.figures, &writes) {
        notes.push(format!(
            "{} ({}, {}) reads more with the set: {} → {} blocks",
            key.query, key.org, key.role, base[&key], after.figures[&key]
        ));
    }
    let mut indexes = Vec::new();
    for m in &members {
        indexes.push(IndexAdvice {
            table: m.spec.table.to_string(),
            name: m.name.clone(),
            statement: format!("{};", m.spec.create(&m.name, true)),
            reason: reason(&candidates[m.candidate], m, &base, &after),
            size_bytes: bench.size(&m.spec.table, &m.name).await?,
        });
    }
    let runs = base
        .iter()
        .map(|(k, &before)| AdviceRun {
            query: k.query.clone(),
            org: k.org.clone(),
            role: k.role,
            before,
            after: after.figures.get(k).copied().unwrap_or(before),
            writes: writes.contains(&k.query),
        })
        .collect();
    Ok(Advice {
        indexes,
        runs: order_runs(runs, catalog),
        tried,
        rejected,
        notes,
    })
}

/// The generic plans of every query as service and tenant, read into scans; and the
/// indexes the tables have (from the schema model).
async fn read_shapes(
    bench: &Workbench<'_>,
    catalog: &Catalog,
    orgs: &[SampledOrg],
    run: &RunOptions,
    config: &Config,
    failing: &BTreeSet<String>,
    notes: &mut Vec<String>,
) -> Result<(Shapes, Vec<Existing>)> {
    let client = bench.client();
    let model = crate::schema::model(client, config).await?;
    let mut columns: Columns = HashMap::new();
    let mut keys: HashMap<Table, String> = HashMap::new();
    let mut existing: Vec<Existing> = Vec::new();
    for r in &model.facts.relations {
        let table = Table {
            schema: r.schema.clone(),
            name: r.short.clone(),
        };
        for i in &r.indexes {
            existing.push(Existing {
                table: table.clone(),
                name: i.name.clone(),
                key: i.keys.clone(),
                plain: i.method == "btree" && i.predicate.is_none() && i.plain.iter().all(|p| *p),
            });
        }
        columns.insert(
            table.clone(),
            r.columns.iter().map(|c| c.name.clone()).collect(),
        );
        if let Some(key) = model.tenancy.key_of(r.oid) {
            keys.insert(table, key.to_string());
        }
    }
    let tenant_key = |t: &Table| keys.get(t).cloned();
    let mut shapes = Shapes::default();
    let Some(org) = orgs.first() else {
        return Ok((shapes, existing));
    };
    for query in catalog
        .queries
        .iter()
        .filter(|q| !failing.contains(&q.name))
    {
        for role in [Role::Service, Role::Tenant] {
            match shape::generic_plan(client, query, role, org, run.statement_timeout).await {
                Ok(plan) => {
                    let read = shape::read_plan(
                        &query.name,
                        role == Role::Tenant,
                        &plan,
                        &columns,
                        &tenant_key,
                    );
                    shapes.scans.extend(read.scans);
                    for w in read.writes {
                        if !shapes.writes.contains(&w) {
                            shapes.writes.push(w);
                        }
                    }
                }
                Err(e) => notes.push(format!(
                    "no candidates from {} as {role}: {}",
                    query.name,
                    crate::error::one_line(&e)
                )),
            }
        }
    }
    Ok((shapes, existing))
}

/// The queries a candidate could change: those with a scan it serves, and those that
/// write its table (the write cost).
fn relevant(spec: &IndexSpec, shapes: &Shapes, failing: &BTreeSet<String>) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = shapes
        .scans
        .iter()
        .filter(|s| spec.serves(s))
        .map(|s| s.query.clone())
        .collect();
    out.extend(
        shapes
            .writes
            .iter()
            .filter(|(_, t)| *t == spec.table)
            .map(|(q, _)| q.clone()),
    );
    out.retain(|q| !failing.contains(q));
    out
}

/// The queries to remeasure when a member changes: those whose plans use it now, those
/// it could serve, and the writes on its table.
fn measured_scope(
    member: &Member,
    measured: &Measured,
    shapes: &Shapes,
    failing: &BTreeSet<String>,
) -> BTreeSet<String> {
    let mut out = relevant(&member.spec, shapes, failing);
    out.extend(measured.users_of(&member.name));
    out
}

fn restrict(figures: &Figures, queries: &BTreeSet<String>) -> Figures {
    figures
        .iter()
        .filter(|(k, _)| queries.contains(&k.query))
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

/// Members for the chosen candidates: a member already built keeps its name, a new one
/// gets a free one.
fn name_members(
    chosen: &[usize],
    candidates: &[Candidate],
    taken: &BTreeSet<String>,
    current: &[Member],
) -> Vec<Member> {
    let mut out: Vec<Member> = Vec::new();
    for &c in chosen {
        if let Some(m) = current.iter().find(|m| m.candidate == c) {
            out.push(m.clone());
            continue;
        }
        let spec = candidates[c].spec.clone();
        let mut others = current.to_vec();
        others.extend(out.iter().cloned());
        let name = unique_name(&spec.default_name(), taken, &others);
        out.push(Member {
            candidate: c,
            spec,
            name,
        });
    }
    out
}

/// `base`, or `base` with a number, not an existing index's or another member's name.
fn unique_name(base: &str, taken: &BTreeSet<String>, members: &[Member]) -> String {
    let used = |n: &str| taken.contains(n) || members.iter().any(|m| m.name == n);
    if !used(base) {
        return base.to_string();
    }
    (2..)
        .map(|i| {
            let suffix = format!("_{i}");
            let mut n = base.to_string();
            n.truncate(63 - suffix.len());
            n + &suffix
        })
        .find(|n| !used(n))
        .expect("a free name")
}

/// Build the members of `target` that are not built, drop those no longer in it.
async fn apply(
    bench: &Workbench<'_>,
    current: &mut Vec<Member>,
    target: Vec<Member>,
) -> Result<()> {
    for m in current.iter() {
        if !target.iter().any(|t| t.name == m.name) {
            bench.drop_index(&m.spec.table, &m.name).await?;
        }
    }
    for t in &target {
        if !current.iter().any(|m| m.name == t.name) {
            bench.build(&t.spec, &t.name).await?;
        }
    }
    *current = target;
    Ok(())
}

/// The first read run a single-index trial made worse, said as a reason.
fn why_not(base: &Figures, trial: &Figures, writes: &BTreeSet<String>) -> Option<String> {
    let worse = select::worsened(base, trial, writes);
    let k = worse.first()?;
    Some(if trial[k] == u64::MAX {
        format!("{} ({}, {}) failed with it", k.query, k.org, k.role)
    } else {
        format!(
            "{} ({}, {}) reads {} → {} blocks",
            k.query, k.org, k.role, base[k], trial[k]
        )
    })
}

/// The reason shown with a member: the queries whose plans use it, their buffers before
/// and after (summed over orgs and roles), and where its columns came from.
fn reason(candidate: &Candidate, member: &Member, base: &Figures, after: &Measured) -> String {
    let mut per_query: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for (key, used) in &after.used {
        if used.contains(&member.name) {
            let e = per_query.entry(key.query.clone()).or_default();
            e.0 += base.get(key).copied().unwrap_or(0);
            e.1 += after.figures.get(key).copied().unwrap_or(0);
        }
    }
    let served: Vec<String> = per_query
        .iter()
        .map(|(q, (b, a))| format!("{q} {b} → {a}"))
        .collect();
    let mut origins = candidate.origins.clone();
    if !member.spec.include.is_empty() {
        origins.insert(candidate::Origin::Covering);
    }
    let origins: Vec<String> = origins.iter().map(|o| o.to_string()).collect();
    format!(
        "serves {} (buffers, all orgs and roles); from {}",
        if served.is_empty() {
            "no plan directly".to_string()
        } else {
            served.join(", ")
        },
        origins.join(", ")
    )
}

/// Runs in catalog order, then org, then role.
fn order_runs(mut runs: Vec<AdviceRun>, catalog: &Catalog) -> Vec<AdviceRun> {
    let position = |q: &str| catalog.queries.iter().position(|x| x.name == q);
    let org_position = |o: &str| catalog.orgs.iter().position(|(p, _)| p == o);
    runs.sort_by_key(|r| (position(&r.query), org_position(&r.org), r.role));
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_avoid_existing_indexes_and_members() {
        let taken: BTreeSet<String> = ["a_idx".to_string()].into();
        let member = Member {
            candidate: 0,
            spec: IndexSpec {
                table: Table {
                    schema: "public".into(),
                    name: "a".into(),
                },
                key: vec![],
                include: vec![],
                predicate: vec![],
            },
            name: "a_idx_2".into(),
        };
        assert_eq!(unique_name("b_idx", &taken, &[]), "b_idx");
        assert_eq!(unique_name("a_idx", &taken, &[member]), "a_idx_3");
    }
}
