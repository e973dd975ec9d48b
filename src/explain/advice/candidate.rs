//! Candidate indexes from the catalog's shapes: per scanned table, equality columns
//! first (the tenant key leading), then one range or ORDER BY column; with and without
//! the scan's constant predicates as a partial index's WHERE; later, a covering variant
//! (INCLUDE) of a chosen index for the columns its queries read. Candidates an existing
//! btree already serves are left out. Pure: the trials measure them.

use std::collections::BTreeSet;
use std::fmt;

use serde::Serialize;

use super::shape::{ScanShape, Table};
use crate::db::ident::quote_if_needed as q;

/// Key columns an index is given at most.
const MAX_KEY: usize = 4;
/// Columns a covering variant may add.
const MAX_INCLUDE: usize = 5;

/// Where a candidate's columns came from, for the reason shown with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    Filter,
    TenantFilter,
    Join,
    OrderBy,
    PartialPredicate,
    Covering,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Origin::Filter => "filter",
            Origin::TenantFilter => "tenant's RLS filter",
            Origin::Join => "join",
            Origin::OrderBy => "ORDER BY",
            Origin::PartialPredicate => "constant predicate (partial)",
            Origin::Covering => "columns read (INCLUDE)",
        })
    }
}

/// An index: table, key, covered columns, partial predicate.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IndexSpec {
    pub table: Table,
    pub key: Vec<String>,
    pub include: Vec<String>,
    /// Conjuncts of the partial index's WHERE (columns unqualified), AND-ed.
    pub predicate: Vec<String>,
}

impl IndexSpec {
    /// `CREATE INDEX [CONCURRENTLY] name ON table (key) [INCLUDE (…)] [WHERE …]`.
    pub fn create(&self, name: &str, concurrently: bool) -> String {
        let mut sql = format!(
            "CREATE INDEX {}{} ON {} ({})",
            if concurrently {
                "CONCURRENTLY IF NOT EXISTS "
            } else {
                ""
            },
            q(name),
            self.table.sql(),
            list(&self.key)
        );
        if !self.include.is_empty() {
            sql.push_str(&format!(" INCLUDE ({})", list(&self.include)));
        }
        if !self.predicate.is_empty() {
            sql.push_str(&format!(" WHERE {}", self.predicate.join(" AND ")));
        }
        sql
    }

    /// A name in the usual style: `<table>_<key columns>[_partial]_idx`, at most 63 bytes.
    pub fn default_name(&self) -> String {
        let mut name = format!("{}_{}", self.table.name, self.key.join("_"));
        if !self.include.is_empty() {
            name.push_str("_cover");
        }
        if !self.predicate.is_empty() {
            name.push_str("_partial");
        }
        let suffix = "_idx";
        let mut cut = 63 - suffix.len();
        while !name.is_char_boundary(cut.min(name.len())) {
            cut -= 1;
        }
        name.truncate(cut);
        name.push_str(suffix);
        name
    }

    /// `appointments (org_id, scheduled_at) INCLUDE (status) WHERE …`: how it is named
    /// in reports.
    pub fn label(&self) -> String {
        let mut s = format!("{} ({})", self.table, list(&self.key));
        if !self.include.is_empty() {
            s.push_str(&format!(" INCLUDE ({})", list(&self.include)));
        }
        if !self.predicate.is_empty() {
            s.push_str(&format!(" WHERE {}", self.predicate.join(" AND ")));
        }
        s
    }

    /// Whether a scan can use it: its leading column is one the scan filters, joins or
    /// sorts on, and the scan's constant predicates include the partial predicate.
    pub fn serves(&self, scan: &ScanShape) -> bool {
        if scan.table.as_ref() != Some(&self.table) {
            return false;
        }
        let Some(lead) = self.key.first() else {
            return false;
        };
        let leads = scan.equalities.contains(lead)
            || scan.joins.contains(lead)
            || scan.ranges.contains(lead)
            || scan.sorts.contains(lead)
            || scan
                .constants
                .iter()
                .any(|(c, _, fixes)| *fixes && c == lead);
        let implied = self
            .predicate
            .iter()
            .all(|p| scan.constants.iter().any(|(_, s, _)| s == p));
        leads && implied
    }
}

fn list(columns: &[String]) -> String {
    columns
        .iter()
        .map(|c| q(c).to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// A candidate and why it was made.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    pub spec: IndexSpec,
    pub origins: BTreeSet<Origin>,
    /// The queries whose scans it was made from.
    pub queries: BTreeSet<String>,
}

/// An index the database already has (valid, btree): its key and whether it is partial
/// or has expressions (then it serves no candidate as a prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Existing {
    pub table: Table,
    pub name: String,
    pub key: Vec<String>,
    pub plain: bool,
}

/// Candidate indexes for every scan of the shapes, deduplicated, in first-seen order;
/// those an existing plain btree already serves (its key starts with theirs) left out.
pub fn candidates(scans: &[ScanShape], existing: &[Existing]) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = Vec::new();
    for scan in scans {
        for candidate in of_scan(scan) {
            let served = candidate.spec.predicate.is_empty()
                && existing.iter().any(|e| {
                    e.plain
                        && e.table == candidate.spec.table
                        && e.key.len() >= candidate.spec.key.len()
                        && e.key[..candidate.spec.key.len()] == candidate.spec.key[..]
                });
            if served {
                continue;
            }
            match out.iter_mut().find(|c| c.spec == candidate.spec) {
                Some(known) => {
                    known.origins.extend(candidate.origins);
                    known.queries.extend(candidate.queries);
                }
                None => out.push(candidate),
            }
        }
    }
    out
}

/// A key column and where it came from.
type Keyed = (String, Origin);

/// The candidates of one scan.
fn of_scan(scan: &ScanShape) -> Vec<Candidate> {
    let Some(table) = &scan.table else {
        return Vec::new();
    };
    // Equalities: the filter's (the tenant key, when RLS supplies it, leads), then joins.
    let mut equal: Vec<(String, Origin)> = Vec::new();
    for (i, c) in scan.equalities.iter().enumerate() {
        let origin = if scan.tenant && i == 0 {
            Origin::TenantFilter
        } else {
            Origin::Filter
        };
        equal.push((c.clone(), origin));
    }
    // A hash or merge join's column helps only a nested loop probing this table: a
    // variant of its own (the filter's equalities, then the join's), not in every key.
    let joined: Vec<(String, Origin)> = scan
        .joins
        .iter()
        .filter(|c| !equal.iter().any(|(e, _)| e == *c))
        .map(|c| (c.clone(), Origin::Join))
        .collect();
    let pinned: Vec<(String, Origin)> = scan
        .constants
        .iter()
        .filter(|(c, _, fixes)| *fixes && !equal.iter().any(|(e, _)| e == c))
        .map(|(c, _, _)| (c.clone(), Origin::Filter))
        .collect();
    let predicate: Vec<String> = scan.constants.iter().map(|(_, s, _)| s.clone()).collect();
    let mut variants: Vec<(Vec<Keyed>, Vec<String>)> = Vec::new();
    // Plain: constant-pinned columns join the key.
    variants.push(([equal.clone(), pinned].concat(), Vec::new()));
    // Partial: the constant predicates move to WHERE.
    if !predicate.is_empty() {
        variants.push((equal.clone(), predicate));
    }
    let mut tails: Vec<(String, Origin)> = Vec::new();
    for c in &scan.ranges {
        tails.push((c.clone(), Origin::Filter));
    }
    for c in &scan.sorts {
        match tails.iter_mut().find(|(t, _)| t == c) {
            Some(t) => t.1 = Origin::OrderBy,
            None => tails.push((c.clone(), Origin::OrderBy)),
        }
    }
    let mut out = Vec::new();
    if !joined.is_empty() {
        let key: Vec<(String, Origin)> = [equal.clone(), joined]
            .concat()
            .into_iter()
            .take(MAX_KEY)
            .collect();
        out.push(Candidate {
            spec: IndexSpec {
                table: table.clone(),
                key: key.iter().map(|(c, _)| c.clone()).collect(),
                include: Vec::new(),
                predicate: Vec::new(),
            },
            origins: key.iter().map(|(_, o)| *o).collect(),
            queries: [scan.query.clone()].into(),
        });
    }
    for (lead, predicate) in variants {
        let lead: Vec<(String, Origin)> = lead.into_iter().take(MAX_KEY - 1).collect();
        let usable: Vec<&(String, Origin)> = tails
            .iter()
            .filter(|(t, _)| !lead.iter().any(|(l, _)| l == t))
            .collect();
        let mut keys: Vec<Vec<(String, Origin)>> = usable
            .iter()
            .map(|t| [lead.clone(), vec![(*t).clone()]].concat())
            .collect();
        if keys.is_empty() && !lead.is_empty() {
            keys.push(lead.clone());
        }
        for key in keys {
            let mut origins: BTreeSet<Origin> = key.iter().map(|(_, o)| *o).collect();
            if !predicate.is_empty() {
                origins.insert(Origin::PartialPredicate);
            }
            out.push(Candidate {
                spec: IndexSpec {
                    table: table.clone(),
                    key: key.into_iter().map(|(c, _)| c).collect(),
                    include: Vec::new(),
                    predicate: predicate.clone(),
                },
                origins,
                queries: [scan.query.clone()].into(),
            });
        }
    }
    out
}

/// The candidates and, after each, its covering variant for the queries it was made
/// from (when one exists and is new): an index-only scan can read far fewer blocks
/// than the same key with heap fetches, so both are measured. `wide`: per table, the
/// columns too wide to copy into an index.
pub fn with_covering(
    candidates: Vec<Candidate>,
    scans: &[ScanShape],
    wide: &dyn Fn(&Table) -> Vec<String>,
) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = Vec::new();
    for c in candidates {
        let from: Vec<&ScanShape> = scans
            .iter()
            .filter(|s| c.queries.contains(&s.query))
            .collect();
        let variant = covering(&c.spec, &from, &wide(&c.spec.table));
        out.push(c.clone());
        if let Some(spec) = variant {
            if !out.iter().any(|o| o.spec == spec) {
                let mut origins = c.origins.clone();
                origins.insert(Origin::Covering);
                out.push(Candidate {
                    spec,
                    origins,
                    queries: c.queries.clone(),
                });
            }
        }
    }
    out
}

/// The covering variant of `spec` for `scans` (those of the queries whose plans use
/// it): the columns they read that it lacks as INCLUDE, so they can be answered from
/// the index alone. None when nothing is missing, or too much (more than a few
/// columns, or one of `wide`).
pub fn covering(spec: &IndexSpec, scans: &[&ScanShape], wide: &[String]) -> Option<IndexSpec> {
    let mut missing: BTreeSet<String> = BTreeSet::new();
    // A tenant's generic plan returns every column from a table under RLS (the policy
    // is a security barrier below the query's own projection); the service's plan of
    // the same query says what it reads. The tenant key is in the key already.
    let service: BTreeSet<&str> = scans
        .iter()
        .filter(|s| !s.tenant)
        .map(|s| s.query.as_str())
        .collect();
    let judged = scans
        .iter()
        .filter(|s| spec.serves(s))
        .filter(|s| !s.tenant || !service.contains(s.query.as_str()));
    for scan in judged {
        // A column tested only by the partial predicate is not needed from the index.
        let predicate_only: BTreeSet<&String> = scan
            .constants
            .iter()
            .filter(|(_, sql, _)| spec.predicate.contains(sql))
            .map(|(c, _, _)| c)
            .collect();
        for column in &scan.reads {
            let elsewhere = scan.equalities.contains(column)
                || scan.ranges.contains(column)
                || scan.joins.contains(column)
                || scan.sorts.contains(column);
            if predicate_only.contains(column) && !elsewhere && !scan.returns.contains(column) {
                continue;
            }
            if !spec.key.contains(column) {
                missing.insert(column.clone());
            }
        }
    }
    if missing.is_empty() || missing.len() > MAX_INCLUDE || missing.iter().any(|c| wide.contains(c))
    {
        return None;
    }
    Some(IndexSpec {
        include: missing.into_iter().collect(),
        ..spec.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn appointments() -> Table {
        Table {
            schema: "public".into(),
            name: "appointments".into(),
        }
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn conflict_check() -> ScanShape {
        ScanShape {
            query: "provider_conflict_check".into(),
            tenant: false,
            table: Some(appointments()),
            alias: "appointments".into(),
            equalities: strings(&["org_id", "provider_id"]),
            ranges: strings(&["scheduled_at", "ends_at"]),
            constants: vec![("status".into(), "status <> 'cancelled'::TEXT".into(), false)],
            reads: [
                "id",
                "org_id",
                "provider_id",
                "scheduled_at",
                "ends_at",
                "status",
            ]
            .map(String::from)
            .into(),
            returns: ["id".to_string()].into(),
            ..ScanShape::default()
        }
    }

    #[test]
    fn keys_are_equalities_then_one_range_with_and_without_the_constant_predicate() {
        let c = candidates(&[conflict_check()], &[]);
        let labels: Vec<String> = c.iter().map(|c| c.spec.label()).collect();
        assert_eq!(
            labels,
            [
                "appointments (org_id, provider_id, scheduled_at)",
                "appointments (org_id, provider_id, ends_at)",
                "appointments (org_id, provider_id, scheduled_at) WHERE status <> 'cancelled'::TEXT",
                "appointments (org_id, provider_id, ends_at) WHERE status <> 'cancelled'::TEXT",
            ]
        );
        assert!(c[3].origins.contains(&Origin::PartialPredicate));
    }

    #[test]
    fn an_existing_btree_prefix_serves_plain_candidates_only() {
        let existing = Existing {
            table: appointments(),
            name: "appointments_org_provider_time_idx".into(),
            key: strings(&["org_id", "provider_id", "scheduled_at"]),
            plain: true,
        };
        let c = candidates(&[conflict_check()], &[existing]);
        assert_eq!(c.len(), 3, "{c:?}");
        assert!(!c
            .iter()
            .any(|c| c.spec.key == ["org_id", "provider_id", "scheduled_at"]
                && c.spec.predicate.is_empty()));
    }

    #[test]
    fn order_by_and_constant_lists_make_a_partial_ordered_index() {
        let upcoming = ScanShape {
            query: "org_upcoming".into(),
            tenant: true,
            table: Some(appointments()),
            alias: "appointments".into(),
            equalities: strings(&["org_id"]),
            ranges: strings(&["scheduled_at"]),
            sorts: strings(&["scheduled_at"]),
            constants: vec![(
                "status".into(),
                "status = ANY('{booked,confirmed}'::TEXT[])".into(),
                true,
            )],
            ..ScanShape::default()
        };
        let c = candidates(&[upcoming], &[]);
        let labels: Vec<String> = c.iter().map(|c| c.spec.label()).collect();
        assert_eq!(
            labels,
            [
                "appointments (org_id, status, scheduled_at)",
                "appointments (org_id, scheduled_at) WHERE status = ANY('{booked,confirmed}'::TEXT[])",
            ]
        );
        assert!(c[1].origins.contains(&Origin::TenantFilter));
        assert!(c[1].origins.contains(&Origin::OrderBy));
    }

    #[test]
    fn covering_adds_what_the_served_scans_read() {
        let spec = IndexSpec {
            table: appointments(),
            key: strings(&["org_id", "provider_id", "ends_at"]),
            include: vec![],
            predicate: vec!["status <> 'cancelled'::TEXT".into()],
        };
        let scan = conflict_check();
        let cover = covering(&spec, &[&scan], &[]).unwrap();
        assert_eq!(cover.include, ["id", "scheduled_at"]);
        assert_eq!(
            cover.create("x", true),
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS x ON appointments (org_id, provider_id, ends_at) INCLUDE (id, scheduled_at) WHERE status <> 'cancelled'::TEXT"
        );
        assert_eq!(
            cover.default_name(),
            "appointments_org_id_provider_id_ends_at_cover_partial_idx"
        );
        assert_eq!(covering(&spec, &[&scan], &strings(&["id"])), None);
    }
}
