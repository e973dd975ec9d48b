//! The tenancy model: which tables hold tenants' rows and under which key, the tenant
//! table, how a request's tenant is derived (a JWT claim, a membership lookup, a
//! SECURITY DEFINER helper), per-user tables and child tables whose tenant comes
//! through a foreign key. Inferred from the catalog and the policies — keys of any
//! name and type — then corrected by `dbkit.yaml`. A pure function of the facts.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use super::config::Config;
use super::facts::{Facts, RelKind, Relation};
use crate::schema::policy_expr;

/// Tenant key names projects use, for tables that have no foreign key to say so.
pub const KNOWN_KEYS: &[&str] = &[
    "org_id",
    "organization_id",
    "tenant_id",
    "account_id",
    "workspace_id",
    "team_id",
    "company_id",
];

/// Columns that hold a user id (`auth.uid()`).
const USER_COLUMNS: &[&str] = &["user_id", "member_id", "profile_id", "owner_id"];

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Tenancy {
    pub exposed_schemas: Vec<String>,
    /// The dbkit.yaml that was read, if any.
    pub config: Option<String>,
    /// The table whose rows are the tenants.
    pub tenant_table: Option<TenantTable>,
    /// How policies derive the request's tenant.
    pub derivations: Vec<Derivation>,
    pub membership: Option<Membership>,
    pub tables: Vec<TableTenancy>,
    /// Tables an API role can reach that have no tenancy: `isolation-untested`.
    pub untenanted: Vec<String>,
    /// Tables without tenancy that only the service role may touch (row-level security
    /// on, no policy for an API role): nothing to configure, nothing to prove.
    pub service_only: Vec<String>,
    /// dbkit.yaml asked for scale-out readiness (`tenant-key-not-in-unique`).
    #[serde(skip)]
    pub sharding: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TenantTable {
    #[serde(skip)]
    pub oid: u32,
    pub table: String,
    pub key: String,
    pub key_type: String,
    pub confidence: Confidence,
    pub evidence: String,
}

/// How sure an inference is: high when a policy ties the column to the caller (or
/// dbkit.yaml says so), medium from a foreign key alone, low from a column's name.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    Low,
    Medium,
    High,
}

impl std::fmt::Display for Confidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
        })
    }
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Derivation {
    /// `key = (auth.jwt() ->> 'claim')`; a nested claim is a dotted path
    /// (`app_metadata.org_id`).
    Claim { claim: String },
    /// `key IN (SELECT key FROM members WHERE user_id = auth.uid())`.
    Membership { table: String },
    /// `has_role_on_account(key)`, a SECURITY DEFINER function.
    Helper { function: String },
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Membership {
    #[serde(skip)]
    pub oid: u32,
    pub table: String,
    pub key: String,
    pub user_column: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TableTenancy {
    #[serde(skip)]
    pub oid: u32,
    pub table: String,
    #[serde(flatten)]
    pub kind: Kind,
    pub configured: bool,
    /// No API role can touch its rows (service role only): the proof skips it.
    pub closed: bool,
    pub confidence: Confidence,
    /// Why: the policy atom, foreign key or name the inference rests on.
    pub evidence: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Kind {
    /// The tenant table itself; `key` is its id column.
    Tenant { key: String },
    /// A tenant table: every row carries the tenant key.
    Keyed { key: String },
    /// Its tenant comes through a foreign key to a tenant (or child) table.
    Child {
        via: Vec<String>,
        parent: String,
        #[serde(skip)]
        parent_oid: u32,
    },
    /// Rows belong to a user: `column = auth.uid()`.
    PerUser { column: String },
    /// Readable by everyone on purpose (configured).
    Public,
}

impl Tenancy {
    pub fn of(&self, oid: u32) -> Option<&TableTenancy> {
        self.tables.iter().find(|t| t.oid == oid)
    }

    /// The tenant key of a tenant table (`Tenant` or `Keyed`).
    pub fn key_of(&self, oid: u32) -> Option<&str> {
        match &self.of(oid)?.kind {
            Kind::Tenant { key } | Kind::Keyed { key } => Some(key),
            _ => None,
        }
    }

    /// The JWT claims naming the tenant.
    pub fn claims(&self) -> Vec<&str> {
        self.derivations
            .iter()
            .filter_map(|d| match d {
                Derivation::Claim { claim } => Some(claim.as_str()),
                _ => None,
            })
            .collect()
    }
}

/// Columns of the policy's own table an expression reads: bare names outside
/// subqueries, or qualified by the table's name anywhere (as pg_get_expr prints outer
/// references inside subqueries).
pub fn columns_read(expr: &str, table: &str) -> BTreeSet<String> {
    policy_expr::parse(expr)
        .map(|e| policy_expr::own_columns(&e, table))
        .unwrap_or_default()
}

/// Does a function body read who is calling (directly)?
pub fn body_reads_caller(body: &str) -> bool {
    let body = body.to_lowercase();
    ["auth.uid", "auth.jwt", "request.jwt", "auth.email"]
        .iter()
        .any(|c| body.contains(c))
}

/// The functions (last name part, lowercased) whose body reads the caller, directly or
/// through another such function: `is_org_member(org)`, `get_teams_for_user()`.
pub fn caller_helpers(facts: &Facts) -> BTreeSet<String> {
    let mut helpers: BTreeSet<String> = facts
        .functions
        .iter()
        .filter(|f| body_reads_caller(&f.body))
        .map(|f| f.short.to_lowercase())
        .collect();
    loop {
        let before = helpers.len();
        for f in &facts.functions {
            let body = f.body.to_lowercase();
            if helpers.iter().any(|h| body.contains(&format!("{h}("))) {
                helpers.insert(f.short.to_lowercase());
            }
        }
        if helpers.len() == before {
            return helpers;
        }
    }
}

/// How a table's policies read its columns.
#[derive(Debug, Default)]
struct Reading {
    /// Every own column any policy reads.
    read: BTreeSet<String>,
    /// Own columns read in a boolean atom that also reads the caller, with the first
    /// such atom as evidence (`policy tasks_all: has_role_on_account(account_id)`).
    tied: BTreeMap<String, String>,
    /// Every such atom's text per column, lowercased, unquoted (to tell a lookup of
    /// the parent row from a membership lookup).
    atoms: BTreeMap<String, Vec<String>>,
    /// Own columns compared with a JWT claim, and the claim's path.
    claims: Vec<(String, String)>,
    /// A permissive policy applies to an API role.
    api: bool,
}

/// `text` cut to about `n` characters, on a character boundary.
fn shorten(text: &str, n: usize) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(n) {
        Some((i, _)) => format!("{}…", &flat[..i]),
        None => flat,
    }
}

fn reading(facts: &Facts, r: &Relation, helpers: &BTreeSet<String>) -> Reading {
    let mut out = Reading::default();
    for p in facts.policies_on(r) {
        out.api |= p.permissive && p.for_api();
        for text in p.using.iter().chain(p.with_check.iter()) {
            let Ok(expr) = policy_expr::parse(text) else {
                continue;
            };
            for atom in policy_expr::atoms(&expr) {
                let columns = policy_expr::own_columns(atom, &r.short);
                if policy_expr::mentions_caller(atom, helpers) {
                    let text = atom.to_string().to_lowercase().replace('"', "");
                    for c in &columns {
                        out.atoms.entry(c.clone()).or_default().push(text.clone());
                    }
                    for c in &columns {
                        out.tied.entry(c.clone()).or_insert_with(|| {
                            format!("policy {}: {}", p.name, shorten(&atom.to_string(), 70))
                        });
                    }
                }
                out.read.extend(columns);
            }
            for found in policy_expr::claim_comparisons(&expr) {
                if !out.claims.contains(&found) {
                    out.claims.push(found);
                }
            }
        }
    }
    out
}

/// Claims naming the user, not a tenant.
const USER_CLAIMS: &[&str] = &["sub", "role", "email", "phone", "aud"];

fn tenant_claim(path: &str) -> bool {
    let last = path.rsplit('.').next().unwrap_or(path);
    !USER_CLAIMS.contains(&last)
}

fn find<'a>(facts: &'a Facts, name: &str) -> Option<&'a Relation> {
    facts
        .relations
        .iter()
        .find(|r| r.owned && (r.name == name || r.short == name))
}

fn column_type(r: &Relation, column: &str) -> String {
    r.columns
        .iter()
        .find(|c| c.name == column)
        .map(|c| c.base_type.clone())
        .unwrap_or_default()
}

fn is_auth_users(facts: &Facts, oid: u32) -> bool {
    facts
        .relation(oid)
        .is_some_and(|t| t.schema == "auth" && t.short == "users")
}

/// A project's mirror of `auth.users` (`profiles`, `public.users`): its one-column
/// primary key is a foreign key to auth.users. Its rows are users, not tenants.
fn mirrors_users(facts: &Facts, r: &Relation) -> bool {
    let [pk] = r.primary_key.as_slice() else {
        return false;
    };
    r.foreign_keys
        .iter()
        .any(|f| f.columns == [pk.clone()] && is_auth_users(facts, f.target))
}

/// "n foreign keys: a, b, c, …"
fn listed(items: &[String]) -> String {
    let shown: Vec<&str> = items.iter().take(3).map(String::as_str).collect();
    let more = if items.len() > 3 { ", …" } else { "" };
    format!("{}{more}", shown.join(", "))
}

/// The tenant table: the owned table whose key the most policies tie to the caller
/// through foreign keys (`team_id IN (SELECT get_teams_for_user())` on tables
/// referencing teams), or, in tables whose policies read no caller at all, the most
/// foreign keys of a usual tenant key name. A mirror of auth.users is not one.
fn infer_tenant_table(
    facts: &Facts,
    config: &Config,
    readings: &HashMap<u32, Reading>,
) -> Option<TenantTable> {
    if let Some(name) = &config.tenancy.tenant_table {
        let r = find(facts, name)?;
        let key = r
            .primary_key
            .first()
            .cloned()
            .unwrap_or_else(|| "id".into());
        return Some(TenantTable {
            oid: r.oid,
            table: r.name.clone(),
            key_type: column_type(r, &key),
            key,
            confidence: Confidence::High,
            evidence: "dbkit.yaml".into(),
        });
    }
    // The best root so far: (keys tied by policies, keys known by name only, the
    // root's oid, its key column, the tied columns, the known-name columns).
    type Candidate = (usize, usize, u32, String, Vec<String>, Vec<String>);
    let mut best: Option<Candidate> = None;
    let mut candidates: Vec<u32> = facts
        .relations
        .iter()
        .flat_map(|r| r.foreign_keys.iter().map(|f| f.target))
        .collect();
    candidates.sort();
    candidates.dedup();
    for target in candidates {
        let Some(root) = facts
            .relation(target)
            .filter(|r| r.owned && !mirrors_users(facts, r))
        else {
            continue;
        };
        let (mut used, mut known, mut key) = (Vec::new(), Vec::new(), None);
        for r in facts
            .relations
            .iter()
            .filter(|r| r.owned && r.oid != target)
        {
            let Some(rd) = readings.get(&r.oid) else {
                continue;
            };
            for fk in r.foreign_keys.iter().filter(|f| f.target == target) {
                let [column] = fk.columns.as_slice() else {
                    continue;
                };
                // `EXISTS (SELECT 1 FROM projects WHERE projects.id = project_id AND
                // ...)` looks up the parent row: a child, not a tenant key.
                let parent_lookup = rd.atoms.get(column).is_some_and(|atoms| {
                    let short = root.short.to_lowercase();
                    let qualified = format!("from {}.{short}", root.schema.to_lowercase());
                    atoms.iter().all(|a| {
                        a.contains(&format!("from {short} "))
                            || a.contains(&format!("from {short})"))
                            || a.contains(&qualified)
                    })
                });
                if rd.tied.contains_key(column) && !parent_lookup {
                    used.push(format!("{}.{column}", r.name));
                } else if rd.tied.is_empty() && KNOWN_KEYS.contains(&column.as_str()) {
                    known.push(format!("{}.{column}", r.name));
                } else {
                    continue;
                }
                key = fk.target_columns.first().cloned();
            }
        }
        if let Some(key) = key {
            let score = (used.len(), known.len());
            if best.as_ref().is_none_or(|b| score > (b.0, b.1)) {
                best = Some((score.0, score.1, root.oid, key, used, known));
            }
        }
    }
    let (_, _, oid, key, used, known) = best?;
    let r = facts.relation(oid)?;
    let (confidence, evidence) = if used.is_empty() {
        (
            Confidence::Low,
            format!(
                "no policy ties a key to the caller; foreign keys of a usual tenant key name point at it: {}",
                listed(&known)
            ),
        )
    } else {
        (
            Confidence::High,
            format!(
                "policies tie {} foreign key(s) to it to the caller: {}",
                used.len(),
                listed(&used)
            ),
        )
    };
    Some(TenantTable {
        oid,
        table: r.name.clone(),
        key_type: column_type(r, &key),
        key,
        confidence,
        evidence,
    })
}

/// Columns of `r` that hold a user id, most likely first: foreign keys to auth.users
/// (or to the project's mirror of it), then usual names.
fn user_columns(facts: &Facts, r: &Relation) -> Vec<String> {
    let mut out: Vec<String> = r
        .foreign_keys
        .iter()
        .filter(|f| f.columns.len() == 1)
        .filter(|f| {
            is_auth_users(facts, f.target)
                || facts
                    .relation(f.target)
                    .is_some_and(|t| t.owned && mirrors_users(facts, t))
        })
        .map(|f| f.columns[0].clone())
        .collect();
    for n in USER_COLUMNS {
        if r.columns
            .iter()
            .any(|c| c.name == *n && c.base_type == "uuid")
            && !out.iter().any(|o| o == n)
        {
            out.push(n.to_string());
        }
    }
    out
}

fn user_column(facts: &Facts, r: &Relation) -> Option<String> {
    user_columns(facts, r).into_iter().next()
}

/// An inferred kind with how sure, and why.
struct Inferred {
    kind: Kind,
    confidence: Confidence,
    evidence: String,
}

fn inferred(kind: Kind, confidence: Confidence, evidence: impl Into<String>) -> Option<Inferred> {
    Some(Inferred {
        kind,
        confidence,
        evidence: evidence.into(),
    })
}

/// The tenancy of `r` other than a child's: a foreign key to the tenant table that a
/// policy ties to the caller; else a user column it ties (per user); else, when no
/// policy reads the caller, a foreign key to the tenant table or a usual key name; else
/// a column compared with a JWT claim.
fn own_tenancy(
    facts: &Facts,
    config: &Config,
    r: &Relation,
    rd: &Reading,
    root: Option<&TenantTable>,
) -> Option<Inferred> {
    let fks_to_root: Vec<&String> = root
        .map(|root| {
            r.foreign_keys
                .iter()
                .filter(|f| f.target == root.oid && f.columns.len() == 1)
                .map(|f| &f.columns[0])
                .collect()
        })
        .unwrap_or_default();
    if let Some(c) = fks_to_root.iter().find(|c| rd.tied.contains_key(**c)) {
        return inferred(
            Kind::Keyed { key: (*c).clone() },
            Confidence::High,
            rd.tied[*c].clone(),
        );
    }
    // Without a tenant table (tenants kept elsewhere, e.g. an identity provider): a
    // column of a usual tenant key name (or dbkit.yaml's) that a policy ties to the
    // caller.
    if root.is_none() {
        let mut names = config
            .tenancy
            .key
            .iter()
            .map(String::as_str)
            .chain(KNOWN_KEYS.iter().copied());
        if let Some((n, e)) = names.find_map(|n| rd.tied.get(n).map(|e| (n, e))) {
            return inferred(
                Kind::Keyed { key: n.to_string() },
                Confidence::High,
                e.clone(),
            );
        }
    }
    let users = user_columns(facts, r);
    let tied_user = users
        .iter()
        .chain(
            r.primary_key
                .iter()
                .take(usize::from(r.primary_key.len() == 1)),
        )
        .find(|c| rd.tied.contains_key(*c));
    if let Some(c) = tied_user {
        return inferred(
            Kind::PerUser { column: c.clone() },
            Confidence::High,
            rd.tied[c].clone(),
        );
    }
    if let Some((c, claim)) = rd
        .claims
        .iter()
        .find(|(c, claim)| tenant_claim(claim) && r.columns.iter().any(|col| &col.name == c))
    {
        return inferred(
            Kind::Keyed { key: c.clone() },
            Confidence::High,
            format!("a policy compares {c} with the JWT claim `{claim}`"),
        );
    }
    if !rd.tied.is_empty() {
        return None;
    }
    let mut fks = fks_to_root.clone();
    fks.sort_by_key(|c| (!rd.read.contains(*c), !KNOWN_KEYS.contains(&c.as_str())));
    if let (Some(c), Some(root)) = (fks.first(), root) {
        return inferred(
            Kind::Keyed { key: (*c).clone() },
            Confidence::Medium,
            format!(
                "foreign key {c} -> {}; no policy ties it to the caller",
                root.table
            ),
        );
    }
    let names: Vec<&str> = config
        .tenancy
        .key
        .iter()
        .map(String::as_str)
        .chain(KNOWN_KEYS.iter().copied())
        .collect();
    names
        .iter()
        .find(|n| {
            r.columns
                .iter()
                .any(|c| c.name == **n && root.is_none_or(|root| c.base_type == root.key_type))
        })
        .and_then(|n| {
            let why = if config.tenancy.key.as_deref() == Some(*n) {
                format!("column {n}, the key dbkit.yaml names")
            } else {
                format!("column named {n} (a usual tenant key name); no foreign key or policy says more")
            };
            inferred(Kind::Keyed { key: n.to_string() }, Confidence::Low, why)
        })
}

/// No API role can touch its rows: row-level security on, and no permissive policy for
/// anon, authenticated or PUBLIC (service role only).
/// A policy with neither USING nor WITH CHECK lets no row through.
fn closed(facts: &Facts, r: &Relation) -> bool {
    r.rls
        && !facts
            .policies_on(r)
            .any(|p| p.permissive && p.for_api() && (p.using.is_some() || p.with_check.is_some()))
}

fn is_true(e: &Option<String>) -> bool {
    e.as_deref().is_some_and(|e| {
        e.trim()
            .trim_start_matches('(')
            .trim_end_matches(')')
            .trim()
            == "true"
    })
}

/// A table with no tenant whose policies say what it is for: reference data readable by
/// everyone (every permissive policy for an API role reads every row, `FOR SELECT
/// USING (true)`, and none writes), or a form (API roles may only insert: a waitlist,
/// a contact form; nobody reads it back through the API). The evidence, if so.
fn public_by_policies(facts: &Facts, r: &Relation) -> Option<&'static str> {
    let api: Vec<_> = facts
        .policies_on(r)
        .filter(|p| p.permissive && p.for_api())
        .collect();
    if !r.rls || api.is_empty() {
        return None;
    }
    if api.iter().all(|p| p.cmd == "r" && is_true(&p.using)) {
        Some("its only policies for API roles read every row (FOR SELECT USING (true)) and none writes: reference data")
    } else if api.iter().all(|p| p.cmd == "a") {
        Some("API roles may only insert into it (a form, a waitlist): nobody reads it back through the API")
    } else {
        None
    }
}

/// Infer the model from the facts, then apply the configuration.
pub fn infer(facts: &Facts, config: &Config) -> Tenancy {
    let helpers = caller_helpers(facts);
    let owned = || {
        facts
            .relations
            .iter()
            .filter(|r| r.owned && r.kind == RelKind::Table)
    };
    let readings: HashMap<u32, Reading> = facts
        .relations
        .iter()
        .filter(|r| r.owned)
        .map(|r| (r.oid, reading(facts, r, &helpers)))
        .collect();
    let root = infer_tenant_table(facts, config, &readings);
    let mut tables: Vec<TableTenancy> = Vec::new();
    let entry = |r: &Relation, i: Inferred, configured: bool| TableTenancy {
        oid: r.oid,
        table: r.name.clone(),
        kind: i.kind,
        configured,
        closed: closed(facts, r),
        confidence: i.confidence,
        evidence: i.evidence,
    };
    if let Some(root) = &root {
        if let Some(r) = facts.relation(root.oid) {
            let rd = &readings[&r.oid];
            let evidence = match rd.tied.get(&root.key) {
                Some(e) => e.clone(),
                None => root.evidence.clone(),
            };
            tables.push(entry(
                r,
                Inferred {
                    kind: Kind::Tenant {
                        key: root.key.clone(),
                    },
                    confidence: root.confidence,
                    evidence,
                },
                config.tenancy.tenant_table.is_some(),
            ));
        }
    }
    for r in owned() {
        if root.as_ref().is_some_and(|t| t.oid == r.oid) {
            continue;
        }
        let configured = config.tenancy.tables.get(&r.name);
        let from_config = |kind| inferred(kind, Confidence::High, "dbkit.yaml");
        let found = match configured {
            Some(c) if c.public => from_config(Kind::Public),
            Some(c) if c.key.is_some() => from_config(Kind::Keyed {
                key: c.key.clone().unwrap_or_default(),
            }),
            Some(c) if c.per_user.is_some() => from_config(Kind::PerUser {
                column: c.per_user.clone().unwrap_or_default(),
            }),
            Some(c) if c.via.is_some() => None, // resolved with the children below
            _ => own_tenancy(facts, config, r, &readings[&r.oid], root.as_ref()),
        };
        if let Some(found) = found {
            tables.push(entry(r, found, configured.is_some()));
        }
    }
    // Children, to a fixed point: a foreign key to a table whose tenancy is known (one
    // its policies read first).
    loop {
        let mut added = Vec::new();
        for r in owned() {
            if tables.iter().any(|t| t.oid == r.oid) {
                continue;
            }
            let rd = &readings[&r.oid];
            let via = config
                .tenancy
                .tables
                .get(&r.name)
                .and_then(|c| c.via.clone());
            let mut parents: Vec<_> = r
                .foreign_keys
                .iter()
                .filter(|f| {
                    via.as_ref().is_none_or(|v| f.columns == [v.clone()])
                        && tables.iter().any(|t| {
                            t.oid == f.target
                                && matches!(
                                    t.kind,
                                    Kind::Keyed { .. } | Kind::Child { .. } | Kind::PerUser { .. }
                                )
                        })
                })
                .collect();
            parents.sort_by_key(|f| !f.columns.iter().any(|c| rd.read.contains(c)));
            if let Some(fk) = parents.first() {
                let parent = facts
                    .relation(fk.target)
                    .map(|p| p.name.clone())
                    .unwrap_or_default();
                let cols = fk.columns.join(", ");
                let (confidence, evidence) = if via.is_some() {
                    (Confidence::High, "dbkit.yaml".to_string())
                } else if let Some(e) = fk.columns.iter().find_map(|c| rd.tied.get(c)) {
                    (Confidence::High, e.clone())
                } else if fk.columns.iter().any(|c| rd.read.contains(c)) {
                    (
                        Confidence::Medium,
                        format!("a policy reads {cols} -> {parent}"),
                    )
                } else {
                    (
                        Confidence::Low,
                        format!("foreign key {cols} -> {parent}; no policy reads it"),
                    )
                };
                added.push(entry(
                    r,
                    Inferred {
                        kind: Kind::Child {
                            via: fk.columns.clone(),
                            parent,
                            parent_oid: fk.target,
                        },
                        confidence,
                        evidence,
                    },
                    via.is_some(),
                ));
            }
        }
        if added.is_empty() {
            break;
        }
        tables.extend(added);
    }
    for r in owned() {
        if tables.iter().any(|t| t.oid == r.oid) {
            continue;
        }
        if let Some(evidence) = public_by_policies(facts, r) {
            tables.push(entry(
                r,
                Inferred {
                    kind: Kind::Public,
                    confidence: Confidence::Medium,
                    evidence: evidence.into(),
                },
                false,
            ));
        }
    }
    tables.sort_by(|a, b| a.table.cmp(&b.table));

    let membership = infer_membership(facts, config, &tables);
    let derivations = infer_derivations(
        facts,
        &tables,
        membership.as_ref(),
        &readings,
        &helpers,
        root.as_ref(),
    );
    let (mut untenanted, mut service_only) = (Vec::new(), Vec::new());
    for r in owned().filter(|r| !tables.iter().any(|t| t.oid == r.oid)) {
        if closed(facts, r) {
            service_only.push(r.name.clone());
        } else if r.anon || r.authenticated {
            untenanted.push(r.name.clone());
        }
    }
    Tenancy {
        exposed_schemas: config.exposed_schemas(),
        config: config.path.as_ref().map(|p| p.display().to_string()),
        tenant_table: root,
        derivations,
        membership,
        tables,
        untenanted,
        service_only,
        sharding: config.tenancy.sharding,
    }
}

/// The table mapping users to tenants: a keyed table with a user column that other
/// tables' policies (or the helpers they call) look up.
fn infer_membership(facts: &Facts, config: &Config, tables: &[TableTenancy]) -> Option<Membership> {
    if let Some(m) = &config.tenancy.membership {
        let r = find(facts, &m.table)?;
        let key = tables
            .iter()
            .find(|t| t.oid == r.oid)
            .and_then(|t| match &t.kind {
                Kind::Keyed { key } => Some(key.clone()),
                _ => None,
            })
            .unwrap_or_default();
        return Some(Membership {
            oid: r.oid,
            table: r.name.clone(),
            key,
            user_column: m.user_column.clone(),
        });
    }
    // Lowercase, unquoted, each run of whitespace one space (a helper's body breaks
    // lines after `FROM members`), with a trailing space so a name at the end is
    // followed by one too.
    let lower = |t: &String| {
        let mut text = t.to_lowercase().replace('"', "");
        text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        text.push(' ');
        text
    };
    let policy_texts: Vec<String> = facts
        .policies
        .iter()
        .flat_map(|p| p.using.iter().chain(p.with_check.iter()))
        .map(lower)
        .collect();
    let bodies: Vec<String> = facts.functions.iter().map(|f| lower(&f.body)).collect();
    // Most looked up by other tables' policies, then by functions (the helpers they
    // call), then named like one.
    let mut candidates: Vec<((usize, usize, bool), Membership)> = tables
        .iter()
        .filter_map(|t| {
            let Kind::Keyed { key } = &t.kind else {
                return None;
            };
            let r = facts.relation(t.oid)?;
            let user = user_column(facts, r)?;
            let short = r.short.to_lowercase();
            let schema = r.schema.to_lowercase();
            // A lookup of the caller's rows: the table read, its user column and the
            // caller in one text (`FROM members m WHERE m.user_id = auth.uid()`).
            let user_lower = user.to_lowercase();
            let looks_up = |x: &&String| {
                (x.contains(&format!("from {short} "))
                    || x.contains(&format!("from {short})"))
                    || x.contains(&format!("from {schema}.{short}"))
                    || x.contains(&format!("join {short} "))
                    || x.contains(&format!("join {schema}.{short}")))
                    && x.contains(&user_lower)
                    && (x.contains("auth.uid")
                        || x.contains("auth.jwt")
                        || x.contains("request.jwt"))
            };
            let score = (
                policy_texts.iter().filter(looks_up).count(),
                bodies.iter().filter(looks_up).count(),
                ["member", "users_on", "role"]
                    .iter()
                    .any(|n| short.contains(n)),
            );
            (score.0 + score.1 > 0 || score.2).then(|| {
                (
                    score,
                    Membership {
                        oid: r.oid,
                        table: r.name.clone(),
                        key: key.clone(),
                        user_column: user,
                    },
                )
            })
        })
        .collect();
    candidates.sort_by_key(|(score, _)| std::cmp::Reverse(*score));
    candidates.into_iter().next().map(|(_, m)| m)
}

fn infer_derivations(
    facts: &Facts,
    tables: &[TableTenancy],
    membership: Option<&Membership>,
    readings: &HashMap<u32, Reading>,
    helpers: &BTreeSet<String>,
    root: Option<&TenantTable>,
) -> Vec<Derivation> {
    let mut out = BTreeSet::new();
    for t in tables {
        let Some(r) = facts.relation(t.oid) else {
            continue;
        };
        let key = match &t.kind {
            Kind::Keyed { key } | Kind::Tenant { key } => Some(key.as_str()),
            _ => None,
        };
        if let Some(rd) = readings.get(&r.oid) {
            for (column, claim) in &rd.claims {
                let keyed = key == Some(column.as_str())
                    || root.is_some_and(|root| root.oid == r.oid && root.key == *column);
                if keyed && tenant_claim(claim) {
                    out.insert(Derivation::Claim {
                        claim: claim.clone(),
                    });
                }
            }
        }
        for p in facts.policies_on(r) {
            for text in p.using.iter().chain(p.with_check.iter()) {
                let lower = text.to_lowercase().replace('"', "");
                if let Some(m) = membership {
                    let short = m
                        .table
                        .rsplit('.')
                        .next()
                        .unwrap_or(&m.table)
                        .to_lowercase();
                    if r.oid != m.oid && lower.contains(&format!("from {short}")) {
                        out.insert(Derivation::Membership {
                            table: m.table.clone(),
                        });
                    }
                }
                for f in facts
                    .functions
                    .iter()
                    .filter(|f| helpers.contains(&f.short.to_lowercase()))
                {
                    if lower.contains(&format!("{}(", f.short.to_lowercase())) {
                        out.insert(Derivation::Helper {
                            function: f.name.clone(),
                        });
                    }
                }
            }
        }
    }
    out.into_iter().collect()
}

#[cfg(test)]
#[path = "tenancy_tests.rs"]
mod tests;
