//! The plan: which tables the generator fills, in foreign-key order, and how — each
//! table's place in the tenancy (the tenant table, auth users, the membership, rows
//! per org, rows per parent, rows per user, shared rows made once), how many rows, and
//! per column where its value comes from (a foreign key, the tenant key, an id, a
//! generator). Uniques, exclusion constraints and CHECKs are read here once, so making
//! a row is only arithmetic. A pure function of the schema model, the profile and the
//! rows the database already holds; what it cannot plan is an error naming the table
//! and column and the profile key that would settle it.

use std::collections::{BTreeMap, HashMap};

use super::check::{Check, Cond, Hints};
use super::column::{self, ColumnProfile, Gen};
use super::value::{Value, Wire};
use crate::schema::facts::{Facts, Relation};
use crate::schema::tenancy::{Kind, Tenancy};
use crate::schema::Model;

/// What a profile says about one table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TableProfile {
    pub rows_per_org: Option<f64>,
    pub rows_per_parent: Option<f64>,
    pub rows_per_user: Option<f64>,
    /// Rows of a table shared by all orgs.
    pub rows: Option<u64>,
    pub skip: bool,
    pub columns: BTreeMap<String, ColumnProfile>,
}

/// The generic part of a seed profile.
#[derive(Debug, Clone, PartialEq)]
pub struct RowsProfile {
    pub size_skew: f64,
    pub size_jitter: f64,
    /// Rows per org, on average, of the largest (event-like) table.
    pub event_rows_per_org: f64,
    /// By table name as reported (`bookings`, `basejump.accounts`).
    pub tables: BTreeMap<String, TableProfile>,
}

impl Default for RowsProfile {
    fn default() -> Self {
        RowsProfile {
            size_skew: 0.8,
            size_jitter: 0.15,
            event_rows_per_org: 1000.0,
            tables: BTreeMap::new(),
        }
    }
}

/// A table's place in the tenancy, which decides how many rows it gets and when.
#[derive(Debug, Clone, PartialEq)]
pub enum Role {
    /// One row per org.
    Tenant,
    /// `auth.users`: the org's members (or, without a tenant table, the tenants).
    Users,
    /// The org's members: one row per user of the org.
    Membership { user: usize },
    /// Rows per org.
    PerOrg,
    /// Rows per row of a parent table (`fks[fk]`).
    Child { fk: usize },
    /// Rows per user of the org (`fks[fk]` points at the user).
    PerUser { fk: usize },
    /// Rows made once, shared by every org.
    Shared,
    /// Rows already there (made by migrations): referenced, not made.
    Existing,
    /// One row per row of `source`, made by an INSERT trigger on it (a profile per
    /// auth user): not made here; its keys are `fks[fk]`'s values.
    ByTrigger { source: usize, fk: usize },
}

/// Where a column's value comes from.
#[derive(Debug, Clone)]
pub enum Source {
    /// Set by foreign key `fks[i]`.
    Fk(usize),
    /// The org's tenant key.
    TenantKey,
    /// A new uuid key (time-ordered).
    Id,
    /// The next number of the table's counter (identity and serial keys).
    Serial,
    Gen(Gen),
    Null,
}

#[derive(Debug, Clone)]
pub struct ColumnPlan {
    pub name: String,
    pub wire: Wire,
    pub source: Source,
    pub null_share: f64,
    pub not_null: bool,
    /// The sequence to advance past the values written.
    pub sequence: Option<String>,
}

#[derive(Debug, Clone)]
pub struct FkPlan {
    pub name: String,
    /// Column indexes in the table's plan.
    pub columns: Vec<usize>,
    /// The referenced table's index in the plan, and its column indexes there.
    pub target: usize,
    pub target_columns: Vec<usize>,
    /// The referenced columns by name (resolved into `target_columns` once every
    /// table is planned).
    pub target_names: Vec<String>,
    pub nullable: bool,
    pub self_ref: bool,
    /// Left NULL: it closes a reference cycle, or points at rows made later.
    pub null_only: bool,
}

/// Keys that must stay unique (primary keys, unique constraints and indexes).
#[derive(Debug, Clone)]
pub struct UniquePlan {
    pub name: String,
    pub columns: Vec<usize>,
    /// Compare case-insensitively (`lower(email)`).
    pub fold_case: bool,
    /// Within one org only (the key includes org-scoped columns).
    pub per_org: bool,
}

/// Rows matching `predicate` must not share `keys` with overlapping `start`..`end`.
#[derive(Debug, Clone)]
pub struct ExclusionPlan {
    pub name: String,
    pub keys: Vec<usize>,
    pub start: usize,
    pub end: usize,
    pub predicate: Option<Cond>,
    pub per_org: bool,
}

/// How many rows: per org, per parent row, per user, or shared.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Count {
    One,
    PerOrg(f64),
    PerParent(f64),
    PerUser(f64),
    Shared(u64),
    Existing,
    ByTrigger,
}

#[derive(Debug, Clone)]
pub struct TablePlan {
    pub oid: u32,
    /// As reported (`bookings`, `auth.users`).
    pub name: String,
    pub sql_name: String,
    pub role: Role,
    pub count: Count,
    pub columns: Vec<ColumnPlan>,
    pub fks: Vec<FkPlan>,
    pub uniques: Vec<UniquePlan>,
    pub exclusions: Vec<ExclusionPlan>,
    pub checks: Vec<Check>,
    /// Generation order of the columns (earlier ones of an ordering first).
    pub order: Vec<usize>,
    /// (earlier, later, strict) column pairs.
    pub orders: Vec<(usize, usize, bool)>,
    /// Binary COPY (every column has a binary encoding), else text COPY.
    pub binary: bool,
    /// Later tables reference its rows: keep them per org.
    pub referenced: bool,
    /// The column holding a member's role (owner first).
    pub role_column: Option<usize>,
    /// Rows of people (for names).
    pub people: bool,
    /// A trigger on a table seed fills inserts into it: its indexes stay in place
    /// during the load (the trigger's ON CONFLICT needs them).
    pub trigger_target: bool,
}

impl TablePlan {
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// `COPY t (cols) FROM STDIN [(FORMAT binary)]`.
    pub fn copy_statement(&self) -> String {
        let cols: Vec<String> = self
            .columns
            .iter()
            .map(|c| crate::db::ident::quote(&c.name))
            .collect();
        format!(
            "COPY {} ({}) FROM STDIN{}",
            self.sql_name,
            cols.join(", "),
            if self.binary { " (FORMAT binary)" } else { "" }
        )
    }
}

/// The whole plan, in load order.
#[derive(Debug, Clone)]
pub struct Plan {
    pub tables: Vec<TablePlan>,
    /// One line each: what the plan leaves out or NULL, and why.
    pub notes: Vec<String>,
    /// There is a tenant table; without one, each "org" is one user.
    pub has_tenant: bool,
}

/// Rows a table already holds, with the values of the columns others reference (text).
#[derive(Debug, Clone, Default)]
pub struct ExistingRows {
    pub count: i64,
    /// Column name → values, one per row (the first rows, at most a few thousand).
    pub keys: Vec<BTreeMap<String, Option<String>>>,
}

/// Why there is no plan: the first thing that stops it, with the profile key to set.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanError {
    pub message: String,
    pub hint: String,
}

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

fn is_auth_users(r: &Relation) -> bool {
    r.schema == "auth" && r.short == "users"
}

/// What Supabase's auth service writes into `auth.users` for an e-mail sign-up, where
/// a profile says nothing else: (column, value, share of NULLs).
const AUTH_USERS: &[(&str, Option<&str>, f64)] = &[
    (
        "instance_id",
        Some("00000000-0000-0000-0000-000000000000"),
        0.0,
    ),
    ("aud", Some("authenticated"), 0.0),
    ("role", Some("authenticated"), 0.0),
    ("email", None, 0.0),
    (
        "raw_app_meta_data",
        Some("{\"provider\": \"email\", \"providers\": [\"email\"]}"),
        0.0,
    ),
    ("raw_user_meta_data", Some("{}"), 0.0),
    ("is_super_admin", Some("false"), 0.0),
    ("is_sso_user", Some("false"), 0.0),
    ("is_anonymous", Some("false"), 0.0),
    ("email_confirmed_at", None, 0.05),
    ("phone", None, 0.8),
    ("phone_confirmed_at", None, 1.0),
    ("banned_until", None, 1.0),
    ("deleted_at", None, 1.0),
    ("invited_at", None, 1.0),
    ("recovery_sent_at", None, 1.0),
    ("email_change_sent_at", None, 1.0),
    ("reauthentication_sent_at", None, 1.0),
];

fn auth_users_default(column: &str) -> Option<ColumnProfile> {
    let (_, value, null_share) = AUTH_USERS.iter().find(|(c, _, _)| *c == column)?;
    Some(ColumnProfile {
        value: value.map(str::to_string),
        null_share: Some(*null_share),
        ..ColumnProfile::default()
    })
}

/// Words in a table name that say its rows are the org's customers (many per org).
const CUSTOMERS: &[&str] = &[
    "client",
    "customer",
    "contact",
    "patient",
    "student",
    "guest",
    "attendee",
    "lead",
    "subscriber",
    "buyer",
    "visitor",
    "account_holder",
    "tenant_user",
    "recipient",
];

/// Words in a table name that say its rows are persons.
const PEOPLE: &[&str] = &[
    "client",
    "customer",
    "contact",
    "patient",
    "student",
    "member",
    "user",
    "person",
    "people",
    "staff",
    "employee",
    "profile",
    "provider",
    "guest",
    "attendee",
    "author",
    "owner",
    "teacher",
    "driver",
    "candidate",
    "lead",
    "subscriber",
    "player",
];

fn people(name: &str) -> bool {
    let n = name.to_lowercase();
    PEOPLE.iter().any(|w| n.contains(w))
}

/// Column names that pair as (earlier, later) when both exist with one type.
const PAIRS: &[(&str, &str)] = &[
    ("starts_at", "ends_at"),
    ("start_at", "end_at"),
    ("start_time", "end_time"),
    ("start_date", "end_date"),
    ("starts_on", "ends_on"),
    ("begins_at", "ends_at"),
    ("scheduled_at", "ends_at"),
    ("start", "end"),
    ("valid_from", "valid_until"),
    ("valid_from", "valid_to"),
    ("opened_at", "closed_at"),
    ("started_at", "finished_at"),
    ("started_at", "completed_at"),
    ("started_at", "ended_at"),
    ("created_at", "updated_at"),
    ("check_in", "check_out"),
    ("period_start", "period_end"),
    ("current_period_start", "current_period_end"),
];

impl Plan {
    /// Plan the rows of `model`'s project. `existing`: rows tables already hold, by oid.
    /// `triggers`: the load runs with triggers on (rows they make are not made here).
    pub fn new(
        model: &Model,
        profile: &RowsProfile,
        existing: &HashMap<u32, ExistingRows>,
        triggers: bool,
    ) -> Result<Plan, PlanError> {
        Planner {
            facts: &model.facts,
            tenancy: &model.tenancy,
            profile,
            existing,
            notes: vec![],
        }
        .plan(triggers)
    }

    pub fn table(&self, oid: u32) -> Option<usize> {
        self.tables.iter().position(|t| t.oid == oid)
    }
}

struct Planner<'a> {
    facts: &'a Facts,
    tenancy: &'a Tenancy,
    profile: &'a RowsProfile,
    existing: &'a HashMap<u32, ExistingRows>,
    notes: Vec<String>,
}

impl<'a> Planner<'a> {
    fn profile_of(&self, r: &Relation) -> Option<&'a TableProfile> {
        self.profile.tables.get(&r.name)
    }

    fn plan(mut self, triggers: bool) -> Result<Plan, PlanError> {
        self.check_profile()?;
        let roles = self.roles()?;
        let order = self.load_order(&roles)?;
        let mut tables: Vec<TablePlan> = Vec::new();
        let index: HashMap<u32, usize> = order.iter().enumerate().map(|(i, o)| (*o, i)).collect();
        for oid in &order {
            let r = self.facts.relation(*oid).expect("planned relations exist");
            let table = self.table(r, roles[oid].clone(), &index, &order)?;
            tables.push(table);
        }
        // Referenced columns by index, now that every table's columns are known.
        for t in 0..tables.len() {
            for f in 0..tables[t].fks.len() {
                let target = tables[t].fks[f].target;
                let resolved: Option<Vec<usize>> = tables[t].fks[f]
                    .target_names
                    .iter()
                    .map(|n| tables[target].column_index(n))
                    .collect();
                match resolved {
                    Some(cols) => tables[t].fks[f].target_columns = cols,
                    None => {
                        return Err(PlanError {
                            message: format!(
                                "{}: its foreign key {} references columns of {} that seed does not write",
                                tables[t].name, tables[t].fks[f].name, tables[target].name
                            ),
                            hint: format!("skip {} in a profile (tables.{}.skip: true)", tables[t].name, tables[t].name),
                        })
                    }
                }
            }
        }
        if triggers {
            self.trigger_made(&mut tables);
        }
        if std::env::var_os("DBKIT_DEBUG_PLAN").is_some() {
            for t in &tables {
                eprintln!("{} {:?} {:?}", t.name, t.role, t.count);
                for f in &t.fks {
                    eprintln!(
                        "   fk {} {:?} -> {} {:?} {:?}",
                        f.name,
                        f.columns
                            .iter()
                            .map(|c| t.columns.get(*c).map(|c| c.name.clone()))
                            .collect::<Vec<_>>(),
                        tables[f.target].name,
                        f.target_names,
                        f.target_columns
                    );
                }
            }
        }
        // Which tables later ones reference.
        let referenced: Vec<usize> = tables
            .iter()
            .flat_map(|t| t.fks.iter().filter(|f| !f.null_only).map(|f| f.target))
            .collect();
        for i in referenced {
            tables[i].referenced = true;
        }
        self.assign_counts(&mut tables);
        Ok(Plan {
            tables,
            notes: self.notes,
            has_tenant: self.tenancy.tenant_table.is_some(),
        })
    }

    /// Tables an INSERT trigger on a filled table writes into: their indexes stay; a
    /// table whose key is the trigger's row's key (a profile per user) is made by the
    /// trigger, one row per row, and not by seed.
    fn trigger_made(&mut self, tables: &mut [TablePlan]) {
        let re = regex::Regex::new(r#"(?i)insert\s+into\s+((?:"?[A-Za-z_][A-Za-z0-9_]*"?\s*\.\s*)?"?[A-Za-z_][A-Za-z0-9_]*"?)"#)
            .expect("valid regex");
        for trig in self
            .facts
            .triggers
            .iter()
            .filter(|t| t.enabled && t.on_insert && t.row_level)
        {
            let Some(s) = tables.iter().position(|t| t.oid == trig.table) else {
                continue;
            };
            if matches!(tables[s].role, Role::Existing) {
                continue;
            }
            let body = reached_body(self.facts, &trig.body);
            for cap in re.captures_iter(&body) {
                let name = cap[1].replace(['"', ' '], "");
                let (schema, short) = name.split_once('.').unwrap_or(("public", &name));
                let Some(rel) = self
                    .facts
                    .relations
                    .iter()
                    .find(|r| r.schema == schema && r.short == short)
                else {
                    continue;
                };
                let Some(t) = tables.iter().position(|p| p.oid == rel.oid) else {
                    continue;
                };
                if t == s {
                    continue;
                }
                tables[t].trigger_target = true;
                // Keys of T: its primary key and unique indexes on plain columns.
                let keys: Vec<Vec<usize>> = rel
                    .indexes
                    .iter()
                    .filter(|i| i.unique && i.predicate.is_none() && i.plain.iter().all(|p| *p))
                    .map(|i| {
                        let mut cols: Vec<usize> = i
                            .keys
                            .iter()
                            .filter_map(|c| tables[t].column_index(c))
                            .collect();
                        cols.sort_unstable();
                        cols
                    })
                    .filter(|k| !k.is_empty())
                    .collect();
                // One row of T per row of S: a foreign key to S that is a key of T.
                let one_to_one = tables[t].fks.iter().position(|f| {
                    f.target == s && {
                        let mut a = f.columns.clone();
                        a.sort_unstable();
                        keys.contains(&a)
                    }
                });
                if let Some(fk) = one_to_one {
                    if !matches!(tables[t].role, Role::ByTrigger { .. }) {
                        self.notes.push(format!(
                            "{}: made by trigger {} on {}, one row per row (not by seed; --no-triggers makes them instead)",
                            tables[t].name, trig.name, tables[s].name
                        ));
                    }
                    tables[t].role = Role::ByTrigger { source: s, fk };
                    tables[t].count = Count::ByTrigger;
                }
            }
        }
    }

    /// Unknown tables and columns in the profile are errors naming them.
    fn check_profile(&self) -> Result<(), PlanError> {
        for (name, tp) in &self.profile.tables {
            let Some(r) = self
                .facts
                .relations
                .iter()
                .find(|r| &r.name == name && (r.owned || is_auth_users(r)))
            else {
                let known: Vec<&str> = self
                    .facts
                    .relations
                    .iter()
                    .filter(|r| r.owned && r.kind == crate::schema::facts::RelKind::Table)
                    .map(|r| r.name.as_str())
                    .collect();
                return Err(PlanError {
                    message: format!("tables.{name}: no such table in this database"),
                    hint: format!("tables here: {}", known.join(", ")),
                });
            };
            for c in tp.columns.keys() {
                if r.column(c).is_none() {
                    let known: Vec<&str> = r.columns.iter().map(|c| c.name.as_str()).collect();
                    return Err(PlanError {
                        message: format!("tables.{name}.columns.{c}: {name} has no column {c}"),
                        hint: format!("its columns: {}", known.join(", ")),
                    });
                }
            }
        }
        Ok(())
    }

    /// The role of every table the seed fills or references.
    fn roles(&mut self) -> Result<HashMap<u32, Role>, PlanError> {
        let facts = self.facts;
        let mut roles: HashMap<u32, Role> = HashMap::new();
        let candidates: Vec<&Relation> = facts
            .relations
            .iter()
            .filter(|r| {
                r.owned
                    && r.kind == crate::schema::facts::RelKind::Table
                    && !r.partition
                    && r.schema != "supabase_migrations"
            })
            .collect();
        let users = facts.relations.iter().find(|r| is_auth_users(r));
        for r in &candidates {
            if self.profile_of(r).is_some_and(|p| p.skip) {
                continue;
            }
            let held = self.existing.get(&r.oid).map(|e| e.count).unwrap_or(0);
            let role = match self.tenancy.of(r.oid).map(|t| &t.kind) {
                Some(Kind::Tenant { .. }) => Role::Tenant,
                // The membership: its user column references auth.users.
                _ if self.tenancy.membership.as_ref().is_some_and(|m| {
                    m.oid == r.oid
                        && r.foreign_keys.iter().any(|f| {
                            f.columns == [m.user_column.clone()]
                                && users.is_some_and(|u| u.oid == f.target)
                        })
                }) =>
                {
                    Role::Membership { user: 0 }
                }
                Some(Kind::Keyed { .. }) => Role::PerOrg,
                Some(Kind::Child { .. }) => Role::Child { fk: 0 },
                Some(Kind::PerUser { .. }) => Role::PerUser { fk: 0 },
                Some(Kind::Public) | None if held > 0 => Role::Existing,
                Some(Kind::Public) | None => {
                    let to_users = r.foreign_keys.iter().any(|f| {
                        users.is_some_and(|u| u.oid == f.target)
                            && f.columns
                                .iter()
                                .all(|c| r.column(c).is_some_and(|c| c.not_null))
                    });
                    if to_users {
                        Role::PerUser { fk: 0 }
                    } else {
                        Role::Shared
                    }
                }
            };
            roles.insert(r.oid, role);
        }
        // auth.users when anything planned references it, or without a tenant table.
        if let Some(u) = users {
            let referenced = candidates.iter().any(|r| {
                roles.contains_key(&r.oid) && r.foreign_keys.iter().any(|f| f.target == u.oid)
            });
            if referenced || self.tenancy.membership.is_some() {
                roles.insert(u.oid, Role::Users);
            }
        }
        // Shared tables that must point at org rows are per org after all.
        loop {
            let mut changed = false;
            for r in &candidates {
                if roles.get(&r.oid) != Some(&Role::Shared) {
                    continue;
                }
                let scoped = r.foreign_keys.iter().find(|f| {
                    f.target != r.oid
                        && f.columns
                            .iter()
                            .all(|c| r.column(c).is_some_and(|c| c.not_null))
                        && roles
                            .get(&f.target)
                            .is_some_and(|t| !matches!(t, Role::Shared | Role::Existing))
                });
                if let Some(f) = scoped {
                    let role = if roles.get(&f.target) == Some(&Role::Users) {
                        Role::PerUser { fk: 0 }
                    } else {
                        Role::Child { fk: 0 }
                    };
                    roles.insert(r.oid, role);
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        Ok(roles)
    }

    /// Tables in foreign-key order: shared rows first, then the tenant table, users,
    /// the membership, and the rest as their references allow. A reference cycle is
    /// broken at a nullable foreign key (left NULL).
    fn load_order(&mut self, roles: &HashMap<u32, Role>) -> Result<Vec<u32>, PlanError> {
        let rank = |role: &Role| match role {
            Role::Existing => 0,
            Role::Shared => 1,
            Role::Tenant => 2,
            Role::Users => 3,
            Role::Membership { .. } => 4,
            _ => 5,
        };
        let mut pending: Vec<u32> = roles.keys().copied().collect();
        pending.sort_by_key(|o| {
            let r = self.facts.relation(*o).expect("exists");
            (rank(&roles[o]), r.name.clone())
        });
        let mut ordered: Vec<u32> = Vec::new();
        let needs = |r: &Relation, target: u32, strict: bool| {
            r.foreign_keys.iter().any(|f| {
                f.target == target
                    && f.target != r.oid
                    && (!strict
                        || f.columns
                            .iter()
                            .all(|c| r.column(c).is_some_and(|c| c.not_null)))
            })
        };
        while !pending.is_empty() {
            let ready = |strict: bool| {
                pending.iter().position(|o| {
                    let r = self.facts.relation(*o).expect("exists");
                    pending
                        .iter()
                        .filter(|p| *p != o)
                        .all(|p| !needs(r, *p, strict))
                })
            };
            let next = match ready(false).or_else(|| ready(true)) {
                Some(i) => i,
                None => {
                    let names: Vec<String> = pending
                        .iter()
                        .filter_map(|o| self.facts.relation(*o))
                        .map(|r| r.name.clone())
                        .collect();
                    return Err(PlanError {
                        message: format!(
                            "the NOT NULL foreign keys of {} form a cycle: no table can be filled first",
                            names.join(", ")
                        ),
                        hint: "skip one of them in a profile (tables.<name>.skip: true), or make one of the foreign keys nullable or DEFERRABLE".into(),
                    });
                }
            };
            ordered.push(pending.remove(next));
        }
        Ok(ordered)
    }

    fn table(
        &mut self,
        r: &Relation,
        role: Role,
        index: &HashMap<u32, usize>,
        order: &[u32],
    ) -> Result<TablePlan, PlanError> {
        let me = index[&r.oid];
        let tp = self.profile_of(r);
        let is_people = people(&r.short) || matches!(role, Role::Users | Role::Membership { .. });
        let tenant = role == Role::Tenant;
        // CHECKs: the table's and its columns' domains'.
        let mut checks: Vec<Check> = r
            .checks
            .iter()
            .map(|c| Check::parse(&c.name, &c.definition, None))
            .collect();
        for c in &r.columns {
            for d in &c.domain_checks {
                checks.push(Check::parse(&d.name, &d.definition, Some(&c.name)));
            }
        }
        let hints = Hints::of(&checks);
        let tenant_key = self.tenancy.key_of(r.oid).map(str::to_string);
        // Columns written: all but generated ones (identity and serial get values).
        let written: Vec<&crate::schema::facts::Column> =
            r.columns.iter().filter(|c| !c.generated).collect();
        // Foreign keys to planned tables.
        let mut fks: Vec<FkPlan> = Vec::new();
        let mut fk_of_column: HashMap<String, usize> = HashMap::new();
        let mut sorted_fks: Vec<&crate::schema::facts::ForeignKey> =
            r.foreign_keys.iter().collect();
        sorted_fks.sort_by_key(|f| std::cmp::Reverse(f.columns.len()));
        for f in sorted_fks {
            // A row's tenant is never left NULL: the foreign key carrying its tenant key
            // to the tenant table always points at its org (a nullable one included).
            let carries_tenant = tenant_key.as_ref().is_some_and(|k| f.columns.contains(k))
                && self
                    .tenancy
                    .tenant_table
                    .as_ref()
                    .is_some_and(|t| t.oid == f.target);
            let nullable = !carries_tenant
                && f.columns
                    .iter()
                    .any(|c| r.column(c).is_some_and(|c| !c.not_null));
            let Some(&target) = index.get(&f.target) else {
                let target = self
                    .facts
                    .relation(f.target)
                    .map(|t| t.name.clone())
                    .unwrap_or_default();
                if nullable {
                    self.notes.push(format!(
                        "{}.{}: left NULL (it references {target}, which seed does not fill)",
                        r.name,
                        f.columns.join(", ")
                    ));
                    for c in &f.columns {
                        fk_of_column.entry(c.clone()).or_insert(usize::MAX);
                    }
                    continue;
                }
                return Err(PlanError {
                    message: format!(
                        "{}: its foreign key {} references {target}, which seed does not fill",
                        r.name, f.name
                    ),
                    hint: format!(
                        "skip {} in a profile (tables.{}.skip: true)",
                        r.name, r.name
                    ),
                });
            };
            let later = order.iter().position(|o| *o == f.target).unwrap_or(0) > me;
            let self_ref = f.target == r.oid;
            let target_rel = self.facts.relation(f.target).expect("exists");
            let columns: Vec<usize> = f
                .columns
                .iter()
                .map(|c| {
                    written
                        .iter()
                        .position(|w| &w.name == c)
                        .unwrap_or(usize::MAX)
                })
                .collect();
            if columns.contains(&usize::MAX) {
                continue;
            }
            let i = fks.len();
            for c in &f.columns {
                fk_of_column.entry(c.clone()).or_insert(i);
            }
            fks.push(FkPlan {
                name: f.name.clone(),
                columns,
                target,
                target_columns: vec![],
                target_names: f.target_columns.clone(),
                nullable,
                self_ref,
                null_only: later && !self_ref,
            });
            if later && !self_ref && !nullable {
                return Err(PlanError {
                    message: format!(
                        "{}: its foreign key {} points at {}, which is filled after it",
                        r.name, f.name, target_rel.name
                    ),
                    hint: format!(
                        "skip one of them in a profile (tables.{}.skip: true)",
                        r.name
                    ),
                });
            }
        }
        // The role's foreign key.
        let role = match role {
            Role::Child { .. } => {
                let parent = self.tenancy.of(r.oid).and_then(|t| match &t.kind {
                    Kind::Child { via, .. } => Some(via.clone()),
                    _ => None,
                });
                let fk = fks
                    .iter()
                    .position(|f| {
                        parent.as_ref().is_some_and(|via| {
                            f.columns.len() == via.len()
                                && via.iter().all(|v| {
                                    written
                                        .iter()
                                        .position(|w| &w.name == v)
                                        .is_some_and(|i| f.columns.contains(&i))
                                })
                        }) && !f.null_only
                    })
                    .or_else(|| {
                        fks.iter()
                            .position(|f| !f.nullable && !f.self_ref && !f.null_only)
                    })
                    .or_else(|| fks.iter().position(|f| !f.self_ref && !f.null_only));
                match fk {
                    Some(fk) => Role::Child { fk },
                    None => Role::PerOrg,
                }
            }
            Role::PerUser { .. } => {
                let column = self.tenancy.of(r.oid).and_then(|t| match &t.kind {
                    Kind::PerUser { column } => Some(column.clone()),
                    _ => None,
                });
                let users = order
                    .iter()
                    .position(|o| self.facts.relation(*o).is_some_and(is_auth_users));
                let fk = fks.iter().position(|f| {
                    Some(f.target) == users
                        && column.as_ref().is_none_or(|c| {
                            written
                                .iter()
                                .position(|w| &w.name == c)
                                .is_some_and(|i| f.columns.contains(&i))
                        })
                });
                match fk {
                    Some(fk) => Role::PerUser { fk },
                    // A per-user table whose user column references nothing planned:
                    // its rows are per org, the column set to a member.
                    None => Role::PerOrg,
                }
            }
            Role::Membership { .. } => {
                let user_col = self
                    .tenancy
                    .membership
                    .as_ref()
                    .map(|m| m.user_column.clone())
                    .unwrap_or_default();
                let user = written.iter().position(|w| w.name == user_col).unwrap_or(0);
                Role::Membership { user }
            }
            other => other,
        };
        // Column sources.
        let mut columns = Vec::new();
        let auth_defaults: BTreeMap<String, ColumnProfile> = if is_auth_users(r) {
            written
                .iter()
                .filter_map(|c| Some((c.name.clone(), auth_users_default(&c.name)?)))
                .collect()
        } else {
            BTreeMap::new()
        };
        for c in &written {
            let profile = tp
                .and_then(|p| p.columns.get(&c.name))
                .or_else(|| auth_defaults.get(&c.name));
            let wire = Wire::of(c);
            let single_pk = r.primary_key == [c.name.clone()];
            let fk = fk_of_column.get(&c.name).copied();
            let source = if let Some(p) =
                profile.filter(|p| p.value.is_some() || p.weights.is_some())
            {
                match column::choose(c, hints.column(&c.name), Some(p), is_people, tenant) {
                    Ok(g) => Source::Gen(g),
                    Err(u) => return Err(self.unsupported(r, c, &u.type_name)),
                }
            } else if let Some(fk) = fk {
                if fk == usize::MAX {
                    Source::Null
                } else {
                    Source::Fk(fk)
                }
            } else if tenant_key.as_deref() == Some(c.name.as_str()) && role != Role::Tenant {
                Source::TenantKey
            } else if !c.identity_kind.is_empty() || c.sequence.is_some() {
                if matches!(wire, Wire::Int2 | Wire::Int4 | Wire::Int8) {
                    Source::Serial
                } else if role == Role::Existing {
                    Source::Null
                } else {
                    return Err(self.unsupported(r, c, &c.sql_type));
                }
            } else if single_pk && c.base_type == "uuid" {
                Source::Id
            } else if single_pk && matches!(wire, Wire::Int2 | Wire::Int4 | Wire::Int8) {
                Source::Serial
            } else {
                match column::choose(c, hints.column(&c.name), profile, is_people, tenant) {
                    Ok(g) => Source::Gen(g),
                    Err(u) if c.has_default => {
                        self.notes.push(format!(
                            "{}.{}: type {} has no generator; its default fills it",
                            r.name, c.name, u.type_name
                        ));
                        continue;
                    }
                    Err(_) if role == Role::Existing => Source::Null,
                    Err(u) if !c.not_null => {
                        self.notes.push(format!(
                            "{}.{}: type {} has no generator; left NULL (tables.{}.columns.{}.value fills it)",
                            r.name, c.name, u.type_name, r.name, c.name
                        ));
                        Source::Null
                    }
                    Err(u) => return Err(self.unsupported(r, c, &u.type_name)),
                }
            };
            let null_share = if c.not_null
                || hints.column(&c.name).is_some_and(|h| h.not_null)
                || matches!(source, Source::Id | Source::Serial | Source::TenantKey)
            {
                0.0
            } else {
                profile
                    .and_then(|p| p.null_share)
                    .unwrap_or_else(|| column::null_share(c))
            };
            columns.push(ColumnPlan {
                name: c.name.clone(),
                wire,
                source,
                null_share,
                not_null: c.not_null,
                sequence: c.sequence.clone(),
            });
        }
        // Foreign keys refer to written columns by index; columns skipped (default
        // fills them) shift indexes, so map again by name.
        let by_name = |name: &str| columns.iter().position(|c: &ColumnPlan| c.name == name);
        for f in &mut fks {
            f.columns = f
                .columns
                .iter()
                .map(|i| by_name(&written[*i].name).unwrap_or(usize::MAX))
                .collect();
        }
        let role = match role {
            Role::Membership { user } => Role::Membership {
                user: by_name(&written[user].name).unwrap_or(0),
            },
            other => other,
        };
        let binary = columns.iter().all(|c| {
            c.wire.binary()
                && !matches!(c.source, Source::Gen(Gen::Literal(_)))
                && !v_literal(&c.source)
        });
        let uniques = self.uniques(r, &columns, &role, &fks, index);
        let exclusions = self.exclusions(r, &columns, &fks, index);
        let mut orders: Vec<(usize, usize, bool)> = hints
            .orders
            .iter()
            .filter_map(|o| Some((by_name(&o.earlier)?, by_name(&o.later)?, o.strict)))
            .collect();
        for e in &exclusions {
            if !orders.iter().any(|(a, b, _)| *a == e.start && *b == e.end) {
                orders.push((e.start, e.end, true));
            }
        }
        for (a, b) in PAIRS {
            if let (Some(x), Some(y)) = (by_name(a), by_name(b)) {
                let same = columns[x].wire == columns[y].wire;
                if same
                    && !orders
                        .iter()
                        .any(|(p, q, _)| (*p == x && *q == y) || (*p == y && *q == x))
                {
                    orders.push((x, y, false));
                }
            }
        }
        let order = generation_order(columns.len(), &orders);
        let role_column = matches!(role, Role::Membership { .. })
            .then(|| {
                columns.iter().position(|c| {
                    c.name == "role" || c.name.ends_with("_role") || c.name == "account_role"
                })
            })
            .flatten();
        Ok(TablePlan {
            oid: r.oid,
            name: r.name.clone(),
            sql_name: r.sql_name.clone(),
            count: Count::One,
            role,
            columns,
            fks,
            uniques,
            exclusions,
            checks,
            order,
            orders,
            binary,
            referenced: false,
            role_column,
            people: is_people,
            trigger_target: false,
        })
    }

    fn unsupported(
        &self,
        r: &Relation,
        c: &crate::schema::facts::Column,
        type_name: &str,
    ) -> PlanError {
        PlanError {
            message: format!(
                "{}.{}: dbkit cannot make values of type {type_name}",
                r.name, c.name
            ),
            hint: format!(
                "give its value in a profile: tables.{}.columns.{}.value: '<text PostgreSQL reads as {type_name}>' (or skip the table: tables.{}.skip: true)",
                r.name, c.name, r.name
            ),
        }
    }

    fn uniques(
        &mut self,
        r: &Relation,
        columns: &[ColumnPlan],
        role: &Role,
        fks: &[FkPlan],
        _index: &HashMap<u32, usize>,
    ) -> Vec<UniquePlan> {
        let mut out = Vec::new();
        for ix in r.indexes.iter().filter(|i| i.unique) {
            let mut cols = Vec::new();
            let mut fold_case = false;
            let mut readable = true;
            for (key, plain) in ix.keys.iter().zip(&ix.plain) {
                if *plain {
                    match columns.iter().position(|c| c.name == key.trim_matches('"')) {
                        Some(i) => cols.push(i),
                        None => readable = false,
                    }
                } else {
                    let lower = key.to_lowercase();
                    fold_case |= lower.starts_with("lower(") || lower.starts_with("upper(");
                    let mut read = vec![];
                    for c in columns.iter().enumerate() {
                        let re = regex::Regex::new(&format!(r"\b{}\b", regex::escape(&c.1.name)))
                            .expect("valid");
                        if re.is_match(key) {
                            read.push(c.0);
                        }
                    }
                    if read.is_empty() {
                        readable = false;
                    }
                    cols.extend(read);
                }
            }
            if !readable {
                self.notes.push(format!(
                    "{}: unique index {} is on columns seed does not write; the server checks it",
                    r.name, ix.name
                ));
                continue;
            }
            // Keys made unique by construction need no tracking.
            if cols
                .iter()
                .any(|i| matches!(columns[*i].source, Source::Id | Source::Serial))
            {
                continue;
            }
            let per_org = role != &Role::Shared
                && cols.iter().any(|i| match columns[*i].source {
                    Source::TenantKey => true,
                    Source::Fk(f) => !fks[f].nullable || fks[f].self_ref,
                    _ => false,
                });
            out.push(UniquePlan {
                name: ix.name.clone(),
                columns: cols,
                fold_case,
                per_org,
            });
        }
        out
    }

    fn exclusions(
        &mut self,
        r: &Relation,
        columns: &[ColumnPlan],
        fks: &[FkPlan],
        _index: &HashMap<u32, usize>,
    ) -> Vec<ExclusionPlan> {
        let mut out = Vec::new();
        let by_name = |n: &str| columns.iter().position(|c| c.name == n.trim_matches('"'));
        for x in &r.exclusions {
            let mut keys = vec![];
            let mut range = None;
            let mut understood = true;
            for (element, op) in &x.elements {
                match op.as_str() {
                    "=" => match by_name(element) {
                        Some(i) => keys.push(i),
                        None => understood = false,
                    },
                    "&&" => match range_element().captures(element) {
                        Some(c) => match (by_name(&c[1]), by_name(&c[2])) {
                            (Some(a), Some(b)) => range = Some((a, b)),
                            _ => understood = false,
                        },
                        None => understood = false,
                    },
                    _ => understood = false,
                }
            }
            let Some((start, end)) = range.filter(|_| understood) else {
                self.notes.push(format!(
                    "{}: exclusion constraint {} has a form seed does not plan for; the server checks it",
                    r.name, x.name
                ));
                continue;
            };
            let predicate = x
                .predicate
                .as_ref()
                .map(|p| Check::parse(&x.name, p, None).cond);
            let per_org = keys.iter().any(|i| match columns[*i].source {
                Source::TenantKey => true,
                Source::Fk(f) => !fks[f].nullable,
                _ => false,
            });
            out.push(ExclusionPlan {
                name: x.name.clone(),
                keys,
                start,
                end,
                predicate,
                per_org,
            });
        }
        out
    }

    /// Rows per org (or parent, or user) of every table: profile values, else defaults
    /// that give the event-like table the most rows.
    fn assign_counts(&self, tables: &mut [TablePlan]) {
        let event = event_table(tables);
        let referenced_by_event: Vec<usize> = event
            .map(|e| tables[e].fks.iter().map(|f| f.target).collect())
            .unwrap_or_default();
        let names: Vec<String> = tables.iter().map(|t| t.name.clone()).collect();
        for (i, t) in tables.iter_mut().enumerate() {
            let p = self.profile.tables.get(&names[i]);
            t.count = match &t.role {
                Role::ByTrigger { .. } => Count::ByTrigger,
                Role::Tenant => Count::One,
                Role::Existing => Count::Existing,
                Role::Users => Count::PerOrg(if self.tenancy.tenant_table.is_some() {
                    p.and_then(|p| p.rows_per_org).unwrap_or(5.0)
                } else {
                    1.0
                }),
                Role::Membership { .. } => Count::PerUser(1.0),
                Role::Shared => Count::Shared(p.and_then(|p| p.rows).unwrap_or(10)),
                Role::PerUser { .. } => Count::PerUser(p.and_then(|p| p.rows_per_user).unwrap_or(
                    if t.uniques.iter().any(|u| {
                        u.columns.iter().all(|c| {
                            matches!(t.columns[*c].source, Source::Fk(_) | Source::TenantKey)
                        })
                    }) {
                        1.0
                    } else {
                        3.0
                    },
                )),
                Role::Child { fk } => {
                    let parent_is_event = Some(t.fks[*fk].target) == event;
                    match p.and_then(|p| p.rows_per_parent) {
                        Some(n) => Count::PerParent(n),
                        None => match p.and_then(|p| p.rows_per_org) {
                            Some(n) => Count::PerOrg(n),
                            None if Some(i) == event => {
                                Count::PerOrg(self.profile.event_rows_per_org)
                            }
                            None if parent_is_event => Count::PerParent(0.3),
                            None => Count::PerParent(3.0),
                        },
                    }
                }
                Role::PerOrg => Count::PerOrg(p.and_then(|p| p.rows_per_org).unwrap_or(
                    if Some(i) == event {
                        self.profile.event_rows_per_org
                    } else if referenced_by_event.contains(&i)
                        && CUSTOMERS.iter().any(|w| t.name.to_lowercase().contains(w))
                    {
                        150.0
                    } else if referenced_by_event.contains(&i) {
                        12.0
                    } else {
                        20.0
                    },
                )),
            };
        }
    }
}

/// An exclusion's range element: `tstzrange(starts_at, ends_at[, '[)'])`, its two
/// columns captured.
fn range_element() -> &'static regex::Regex {
    static RE: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    RE.get_or_init(|| {
        regex::Regex::new(
            r"^\w*range\(\s*([A-Za-z_][A-Za-z0-9_]*|\x22[^\x22]+\x22)\s*,\s*([A-Za-z_][A-Za-z0-9_]*|\x22[^\x22]+\x22)\s*(,\s*'[^']*'(::text)?)?\)$",
        )
        .expect("valid")
    })
}

fn v_literal(source: &Source) -> bool {
    match source {
        Source::Gen(Gen::Constant(Value::Literal(_))) => true,
        Source::Gen(Gen::Choice(items)) => {
            items.iter().any(|(v, _)| matches!(v, Value::Literal(_)))
        }
        _ => false,
    }
}

/// The event-like table: the tenant table with the most foreign keys to other org
/// tables and a time column of its own.
fn event_table(tables: &[TablePlan]) -> Option<usize> {
    tables
        .iter()
        .enumerate()
        .filter(|(_, t)| matches!(t.role, Role::PerOrg | Role::Child { .. }))
        .filter(|(_, t)| {
            t.columns.iter().any(|c| {
                matches!(c.wire, Wire::Timestamptz | Wire::Timestamp | Wire::Date)
                    && !c.name.contains("created")
                    && !c.name.contains("updated")
            })
        })
        .map(|(i, t)| {
            let fks = t
                .fks
                .iter()
                .filter(|f| {
                    !f.self_ref
                        && !matches!(
                            tables[f.target].role,
                            Role::Tenant | Role::Shared | Role::Existing
                        )
                })
                .count();
            (i, fks)
        })
        .filter(|(_, n)| *n >= 2)
        .max_by_key(|(i, n)| (*n, std::cmp::Reverse(*i)))
        .map(|(i, _)| i)
}

/// Columns in an order where each ordering's earlier column comes first.
fn generation_order(n: usize, orders: &[(usize, usize, bool)]) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::with_capacity(n);
    let mut left: Vec<usize> = (0..n).collect();
    while !left.is_empty() {
        let pos = left
            .iter()
            .position(|c| {
                !orders
                    .iter()
                    .any(|(a, b, _)| b == c && left.contains(a) && a != c)
            })
            .unwrap_or(0);
        out.push(left.remove(pos));
    }
    out
}

/// A trigger function's body followed by the bodies of the project's functions it
/// calls, and theirs (three calls deep): a trigger that inserts through a helper
/// (`PERFORM assign_role(new.id, ...)`) writes into the helper's tables.
fn reached_body(facts: &Facts, body: &str) -> String {
    let mut text = body.to_string();
    let mut seen: Vec<u32> = Vec::new();
    let mut frontier = vec![body.to_lowercase()];
    for _ in 0..3 {
        let mut next = Vec::new();
        for b in &frontier {
            for f in &facts.functions {
                if !seen.contains(&f.oid) && calls(b, &f.short.to_lowercase()) {
                    seen.push(f.oid);
                    text.push('\n');
                    text.push_str(&f.body);
                    next.push(f.body.to_lowercase());
                }
            }
        }
        frontier = next;
    }
    text
}

/// Whether `body` (lower case) calls a function named `name`: the name as a whole
/// word (a schema or quote may precede it), then `(`.
fn calls(body: &str, name: &str) -> bool {
    body.match_indices(name).any(|(at, _)| {
        let before = body[..at].chars().next_back();
        let rest = body[at + name.len()..].trim_start_matches('"').trim_start();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '_') && rest.starts_with('(')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn earlier_columns_are_generated_first() {
        assert_eq!(generation_order(3, &[(2, 0, true)]), vec![1, 2, 0]);
        // A cycle still yields every column once.
        let o = generation_order(2, &[(0, 1, true), (1, 0, true)]);
        assert_eq!(o.len(), 2);
    }

    #[test]
    fn a_call_is_the_whole_name_then_a_parenthesis() {
        assert!(calls(
            "perform public.assign_role(new.id, 'x');",
            "assign_role"
        ));
        assert!(calls("select \"assign_role\" (new.id)", "assign_role"));
        assert!(!calls("perform reassign_role(new.id);", "assign_role"));
        assert!(!calls("-- see assign_role for the rules", "assign_role"));
    }
}
