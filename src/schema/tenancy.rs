//! The tenancy model: which tables hold tenants' rows and under which key, the tenant
//! table, how a request's tenant is derived (a JWT claim, a membership lookup, a
//! SECURITY DEFINER helper), per-user tables and child tables whose tenant comes
//! through a foreign key. Inferred from the catalog and the policies — keys of any
//! name and type — then corrected by `dbkit.yaml`. A pure function of the facts.

use std::collections::BTreeSet;
use std::ops::ControlFlow;

use serde::Serialize;
use sqlparser::ast::{Expr, Visit, Visitor};

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
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Derivation {
    /// `key = (auth.jwt() ->> 'claim')`.
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

/// Columns of the policy's own table an expression reads: bare names, or qualified by
/// the table's name (as pg_get_expr prints them inside subqueries).
pub fn columns_read(expr: &str, table: &str) -> BTreeSet<String> {
    struct Finder<'a> {
        table: &'a str,
        found: BTreeSet<String>,
    }
    impl Visitor for Finder<'_> {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &Expr) -> ControlFlow<()> {
            match e {
                Expr::Identifier(i) => {
                    self.found.insert(i.value.clone());
                }
                Expr::CompoundIdentifier(parts)
                    if parts.len() == 2 && parts[0].value == self.table =>
                {
                    self.found.insert(parts[1].value.clone());
                }
                _ => {}
            }
            ControlFlow::Continue(())
        }
    }
    let mut finder = Finder {
        table,
        found: BTreeSet::new(),
    };
    if let Ok(parsed) = policy_expr::parse(expr) {
        let _ = parsed.visit(&mut finder);
    }
    finder.found
}

/// Every column of `r` its policies read (USING and WITH CHECK, all commands).
fn policy_columns(facts: &Facts, r: &Relation) -> BTreeSet<String> {
    facts
        .policies_on(r)
        .flat_map(|p| p.using.iter().chain(p.with_check.iter()))
        .flat_map(|e| columns_read(e, &r.short))
        .collect()
}

fn policy_texts<'a>(facts: &'a Facts, r: &'a Relation) -> impl Iterator<Item = &'a String> {
    facts
        .policies_on(r)
        .flat_map(|p| p.using.iter().chain(p.with_check.iter()))
}

fn claims_in(text: &str) -> Vec<String> {
    if !(text.contains("jwt") || text.contains("current_setting")) {
        return vec![];
    }
    let re = regex::Regex::new(r"->>\s*'([A-Za-z_][A-Za-z0-9_]*)'").expect("valid regex");
    re.captures_iter(text)
        .map(|c| c[1].to_string())
        .filter(|c| c != "sub" && c != "role")
        .collect()
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

/// The tenant table: the owned table most referenced by foreign-key columns that
/// policies read (or, with no policies yet, that carry a known key name).
fn infer_tenant_table(facts: &Facts, config: &Config) -> Option<TenantTable> {
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
        });
    }
    let mut best: Option<(usize, usize, u32, String)> = None;
    let mut candidates: Vec<u32> = facts
        .relations
        .iter()
        .flat_map(|r| r.foreign_keys.iter().map(|f| f.target))
        .collect();
    candidates.sort();
    candidates.dedup();
    for target in candidates {
        let Some(root) = facts.relation(target).filter(|r| r.owned) else {
            continue;
        };
        let (mut used, mut known, mut key) = (0, 0, None);
        for r in facts
            .relations
            .iter()
            .filter(|r| r.owned && r.oid != target)
        {
            let read = policy_columns(facts, r);
            for fk in r.foreign_keys.iter().filter(|f| f.target == target) {
                let [column] = fk.columns.as_slice() else {
                    continue;
                };
                if read.contains(column) {
                    used += 1;
                } else if KNOWN_KEYS.contains(&column.as_str()) {
                    known += 1;
                } else {
                    continue;
                }
                key = fk.target_columns.first().cloned();
            }
        }
        if let Some(key) = key {
            if best.as_ref().is_none_or(|b| (used, known) > (b.0, b.1)) {
                best = Some((used, known, root.oid, key));
            }
        }
    }
    let (_, _, oid, key) = best?;
    let r = facts.relation(oid)?;
    Some(TenantTable {
        oid,
        table: r.name.clone(),
        key_type: column_type(r, &key),
        key,
    })
}

/// The tenant key of `r`: its foreign key to the tenant table (the one policies read
/// first), else a configured or known key name of the tenant key's type.
fn key_of(
    facts: &Facts,
    config: &Config,
    r: &Relation,
    root: Option<&TenantTable>,
) -> Option<String> {
    let read = policy_columns(facts, r);
    if let Some(root) = root {
        let mut fks: Vec<&String> = r
            .foreign_keys
            .iter()
            .filter(|f| f.target == root.oid && f.columns.len() == 1)
            .map(|f| &f.columns[0])
            .collect();
        fks.sort_by_key(|c| (!read.contains(*c), !KNOWN_KEYS.contains(&c.as_str())));
        if let Some(c) = fks.first() {
            return Some((*c).clone());
        }
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
        .map(|n| n.to_string())
}

fn user_column(facts: &Facts, r: &Relation) -> Option<String> {
    let to_users = r.foreign_keys.iter().find(|f| {
        f.columns.len() == 1
            && facts
                .relation(f.target)
                .is_some_and(|t| t.schema == "auth" && t.short == "users")
    });
    if let Some(fk) = to_users {
        return Some(fk.columns[0].clone());
    }
    USER_COLUMNS
        .iter()
        .find(|n| {
            r.columns
                .iter()
                .any(|c| c.name == **n && c.base_type == "uuid")
        })
        .map(|n| n.to_string())
}

/// Infer the model from the facts, then apply the configuration.
pub fn infer(facts: &Facts, config: &Config) -> Tenancy {
    let root = infer_tenant_table(facts, config);
    let mut tables: Vec<TableTenancy> = Vec::new();
    let owned = || {
        facts
            .relations
            .iter()
            .filter(|r| r.owned && r.kind == RelKind::Table)
    };
    if let Some(root) = &root {
        tables.push(TableTenancy {
            oid: root.oid,
            table: root.table.clone(),
            kind: Kind::Tenant {
                key: root.key.clone(),
            },
            configured: config.tenancy.tenant_table.is_some(),
        });
    }
    for r in owned() {
        if root.as_ref().is_some_and(|t| t.oid == r.oid) {
            continue;
        }
        let configured = config.tenancy.tables.get(&r.name);
        let kind = match configured {
            Some(c) if c.public => Some(Kind::Public),
            Some(c) if c.key.is_some() => Some(Kind::Keyed {
                key: c.key.clone().unwrap_or_default(),
            }),
            Some(c) if c.per_user.is_some() => Some(Kind::PerUser {
                column: c.per_user.clone().unwrap_or_default(),
            }),
            Some(c) if c.via.is_some() => None, // resolved with the children below
            _ => key_of(facts, config, r, root.as_ref()).map(|key| Kind::Keyed { key }),
        };
        if let Some(kind) = kind {
            tables.push(TableTenancy {
                oid: r.oid,
                table: r.name.clone(),
                kind,
                configured: configured.is_some(),
            });
        }
    }
    // Children, to a fixed point: a foreign key to a table whose tenant is known.
    loop {
        let mut added = false;
        for r in owned() {
            if tables.iter().any(|t| t.oid == r.oid) {
                continue;
            }
            let via = config
                .tenancy
                .tables
                .get(&r.name)
                .and_then(|c| c.via.clone());
            let parent = r.foreign_keys.iter().find(|f| {
                via.as_ref().is_none_or(|v| f.columns == [v.clone()])
                    && tables.iter().any(|t| {
                        t.oid == f.target
                            && matches!(
                                t.kind,
                                Kind::Keyed { .. } | Kind::Child { .. } | Kind::PerUser { .. }
                            )
                    })
            });
            if let Some(fk) = parent {
                tables.push(TableTenancy {
                    oid: r.oid,
                    table: r.name.clone(),
                    kind: Kind::Child {
                        via: fk.columns.clone(),
                        parent: facts
                            .relation(fk.target)
                            .map(|p| p.name.clone())
                            .unwrap_or_default(),
                        parent_oid: fk.target,
                    },
                    configured: via.is_some(),
                });
                added = true;
            }
        }
        if !added {
            break;
        }
    }
    // Per-user: a user column its policies compare with auth.uid().
    for r in owned() {
        if tables.iter().any(|t| t.oid == r.oid) {
            continue;
        }
        let uid = policy_texts(facts, r).any(|t| t.contains("auth.uid()"));
        let read = policy_columns(facts, r);
        let column = user_column(facts, r)
            .filter(|c| read.contains(c) || !uid)
            .or_else(|| {
                r.primary_key
                    .first()
                    .filter(|c| uid && read.contains(*c))
                    .cloned()
            });
        if let (true, Some(column)) = (uid, column) {
            tables.push(TableTenancy {
                oid: r.oid,
                table: r.name.clone(),
                kind: Kind::PerUser { column },
                configured: false,
            });
        }
    }
    tables.sort_by(|a, b| a.table.cmp(&b.table));

    let membership = infer_membership(facts, config, &tables);
    let derivations = infer_derivations(facts, &tables, membership.as_ref());
    let untenanted = facts
        .relations
        .iter()
        .filter(|r| r.owned && r.kind == RelKind::Table && (r.anon || r.authenticated))
        .filter(|r| !tables.iter().any(|t| t.oid == r.oid))
        .map(|r| r.name.clone())
        .collect();
    Tenancy {
        exposed_schemas: config.exposed_schemas(),
        config: config.path.as_ref().map(|p| p.display().to_string()),
        tenant_table: root,
        derivations,
        membership,
        tables,
        untenanted,
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
    let texts: Vec<&String> = facts
        .policies
        .iter()
        .flat_map(|p| p.using.iter().chain(p.with_check.iter()))
        .chain(facts.functions.iter().map(|f| &f.body))
        .collect();
    let mut candidates: Vec<(bool, bool, Membership)> = tables
        .iter()
        .filter_map(|t| {
            let Kind::Keyed { key } = &t.kind else {
                return None;
            };
            let r = facts.relation(t.oid)?;
            let user = user_column(facts, r)?;
            let looked_up = texts.iter().any(|x| {
                x.contains(&format!("FROM {}", r.short))
                    || x.contains(&format!("from {}", r.short))
                    || x.contains(&format!("from public.{}", r.short))
                    || x.contains(&format!("FROM public.{}", r.short))
            });
            Some((
                looked_up,
                r.short.contains("member"),
                Membership {
                    oid: r.oid,
                    table: r.name.clone(),
                    key: key.clone(),
                    user_column: user,
                },
            ))
        })
        .collect();
    candidates.sort_by_key(|(looked_up, named, _)| (!looked_up, !named));
    candidates.into_iter().next().map(|(_, _, m)| m)
}

fn infer_derivations(
    facts: &Facts,
    tables: &[TableTenancy],
    membership: Option<&Membership>,
) -> Vec<Derivation> {
    let mut out = BTreeSet::new();
    for t in tables {
        let Some(r) = facts.relation(t.oid) else {
            continue;
        };
        for text in policy_texts(facts, r) {
            for claim in claims_in(text) {
                out.insert(Derivation::Claim { claim });
            }
            if let Some(m) = membership {
                let short = m.table.rsplit('.').next().unwrap_or(&m.table);
                if r.oid != m.oid && text.contains(&format!("FROM {short}")) {
                    out.insert(Derivation::Membership {
                        table: m.table.clone(),
                    });
                }
            }
            for f in facts.functions.iter().filter(|f| f.security_definer) {
                if text.contains(&format!("{}(", f.short)) {
                    out.insert(Derivation::Helper {
                        function: f.name.clone(),
                    });
                }
            }
        }
    }
    out.into_iter().collect()
}

#[cfg(test)]
#[path = "tenancy_tests.rs"]
mod tests;
