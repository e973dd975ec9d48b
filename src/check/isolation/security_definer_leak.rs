//! `security-definer-leak`: every SECURITY DEFINER function anon or authenticated may
//! execute through the API is called, inside the proof's rolled-back transaction, as
//! anon and as a member of tenant A, with tenant B's ids, owners and names as its
//! arguments (picked by argument name and type: `org_id` gets B's key, `user_id` B's
//! member, `email` B's member's e-mail, `slug` B's slug, ...). What it returns or
//! changes decides:
//!
//! - it changed B's rows (read back as the owner): an error;
//! - it returned B's data (values of B's rows that are not its own arguments, and that
//!   the same call with unknown ids does not return): an error;
//! - it answers differently for B's ids than for unknown ones (`true` vs `false`, a
//!   count): a warning — it reveals something about B;
//! - it returned nothing, false or the same as for unknown ids, or refused (raised,
//!   permission denied): not a leak. A caller-checking helper such as
//!   `is_org_member(org)` is this case, and `security-definer-exposed` on it is only a
//!   warning then (`regrade`).
//!
//! See `security_definer_leak.md`.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::Result;
use serde_json::Value;
use tokio_postgres::{Client, Transaction};

use super::execute::{act, begin, classify, snapshots, Outcome, Who};
use super::fixture::{params, SeededOrg};
use super::snapshot::{self, diff, Owners, Stored, Tenant};
use crate::check::locate::Locator;
use crate::check::rule::{Finding, Rule, Severity};
use crate::schema::facts::{Facts, Function, FunctionArg};
use crate::schema::tenancy::{Kind, Tenancy};

/// Calls per function at most (argument candidates multiply).
const MAX_CALLS: usize = 6;

/// Argument types the proof cannot make a value of.
fn callable_arg(a: &FunctionArg) -> bool {
    !matches!(a.category.as_str(), "P" | "C" | "X") && a.base_type != "internal"
}

/// The functions to call: SECURITY DEFINER, in an exposed schema, not a trigger,
/// executable by anon or authenticated, with arguments the proof can make.
pub fn callable(facts: &Facts) -> Vec<&Function> {
    facts
        .functions
        .iter()
        .filter(|f| f.security_definer && f.exposed && !f.is_trigger && (f.anon || f.authenticated))
        .filter(|f| f.args.iter().all(callable_arg))
        .filter(|f| !matches!(f.returns.as_str(), "trigger" | "event_trigger"))
        .collect()
}

/// An argument name without the prefixes projects put on them (`p_org_id`,
/// `target_user`, `_name`, `new_role`).
fn bare(name: &str) -> String {
    let mut n = name.to_lowercase();
    loop {
        let stripped = [
            "_", "p_", "in_", "arg_", "target_", "new_", "the_", "v_", "a_",
        ]
        .iter()
        .find_map(|p| {
            n.strip_prefix(p)
                .filter(|rest| !rest.is_empty())
                .map(str::to_string)
        });
        match stripped {
            Some(rest) => n = rest,
            None => return n,
        }
    }
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// The values of an answer, as text: the leaves of its JSON (a row's columns, an
/// array's items), or the answer itself when it is not JSON.
fn leaves(result: &str) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            Value::Object(fields) => fields.values().for_each(|f| walk(f, out)),
            other => out.extend(text(other)),
        }
    }
    match serde_json::from_str::<Value>(result) {
        Ok(v) => {
            let mut out = Vec::new();
            walk(&v, &mut out);
            out
        }
        Err(_) => vec![result.to_string()],
    }
}

/// B's values an answer holds, neither passed in nor A's own: looked for in each value
/// of the answer that is not the caller's own (A's appointment at 15:15 does not reveal
/// B's opening hour, 15:15), whole or inside a text (`'Hello ' || email`).
fn revealed<'v>(
    result: &str,
    b_values: &'v BTreeSet<String>,
    a_values: &BTreeSet<String>,
    args: &BTreeSet<&String>,
) -> Vec<&'v String> {
    let answer = leaves(result);
    let foreign: Vec<&String> = answer
        .iter()
        .filter(|l| !a_values.contains(*l) && !args.contains(l))
        .collect();
    b_values
        .iter()
        .filter(|v| !args.contains(v) && !a_values.contains(*v))
        .filter(|v| foreign.iter().any(|l| l.contains(v.as_str())))
        .collect()
}

/// What the proof knows of a tenant: its key, its member, and its rows by table.
pub struct TenantData<'a> {
    pub org: &'a SeededOrg,
    /// Table short name -> the tenant's rows.
    pub rows: Vec<(String, Vec<&'a snapshot::Row>)>,
}

/// The table the planted vault secret is shown as among B's rows.
const VAULT: &str = "vault.secrets";

impl TenantData<'_> {
    /// The name of the vault secret planted for the calls, if one was.
    fn vault_name(&self) -> Option<String> {
        self.rows
            .iter()
            .find(|(t, _)| t == VAULT)
            .and_then(|(_, rows)| rows.first())
            .and_then(|r| r.get("name"))
            .and_then(text)
    }

    /// The first value of column `column` in any of the tenant's rows.
    fn column(&self, column: &str) -> Option<String> {
        self.rows
            .iter()
            .flat_map(|(_, rows)| rows.iter())
            .find_map(|row| row.get(column).and_then(text))
    }

    /// Text values of the tenant's rows that identify it (long enough not to be a
    /// shared label).
    fn values(&self) -> BTreeSet<String> {
        self.rows
            .iter()
            .flat_map(|(_, rows)| rows.iter())
            .flat_map(|row| row.values())
            .filter_map(text)
            .filter(|s| s.len() >= 6)
            .collect()
    }
}

/// Candidate values of tenant B for one argument, most likely first; a user argument
/// also gets the caller's own id (`assign_role(me, B's org, 'admin')`).
fn candidates(
    arg: &FunctionArg,
    tenancy: &Tenancy,
    b: &TenantData,
    me: &str,
    limit: usize,
) -> Vec<String> {
    let name = bare(&arg.name);
    let mut out: Vec<String> = Vec::new();
    let mut push = |v: Option<String>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            if !out.contains(&v) {
                out.push(v);
            }
        }
    };
    let tenant_key = Some(b.org.id.clone()).filter(|k| !k.is_empty());
    let user = Some(b.org.member.clone());
    let keys: Vec<&str> = tenancy
        .tables
        .iter()
        .filter_map(|t| match &t.kind {
            Kind::Keyed { key } => Some(key.as_str()),
            _ => None,
        })
        .collect();
    let tenant_words = [
        "org",
        "organization",
        "organisation",
        "team",
        "account",
        "tenant",
        "workspace",
        "company",
    ];
    let user_words = [
        "user",
        "uid",
        "user_id",
        "userid",
        "member",
        "member_id",
        "profile_id",
        "owner",
        "owner_id",
        "auth_id",
    ];
    if keys.contains(&name.as_str())
        || tenant_words
            .iter()
            .any(|w| name == *w || name == format!("{w}_id"))
    {
        push(tenant_key.clone());
    }
    if user_words.contains(&name.as_str()) {
        push(user.clone());
        push(Some(me.to_string()));
    }
    // `<table>_id`: tenant B's row of that table.
    if let Some(prefix) = name.strip_suffix("_id") {
        for (table, rows) in &b.rows {
            let singular = table.trim_end_matches('s');
            if table == prefix || singular == prefix || table.trim_end_matches("es") == prefix {
                push(rows.first().and_then(|r| r.get("id")).and_then(text));
            }
        }
    }
    // A secret's name: the vault secret planted for the calls.
    if name.contains("secret") || name.contains("key") || name == "name" {
        push(b.vault_name());
    }
    // A column of the same name in one of B's rows (`email`, `slug`, `name`, `role`).
    push(b.column(&name));
    if name.contains("email") {
        push(b.column("email"));
    }
    match (arg.category.as_str(), arg.base_type.as_str()) {
        (_, "uuid") => {
            push(tenant_key);
            push(user);
        }
        ("S", _) => {
            for c in ["slug", "name", "email", "title"] {
                push(b.column(c));
            }
            // Names of other kinds (display_name, username), then any text of B's.
            for (_, rows) in &b.rows {
                for row in rows.iter().take(1) {
                    for (c, v) in row.iter() {
                        if c.contains("name") {
                            push(text(v).filter(|t| !t.starts_with('{')));
                        }
                    }
                }
            }
        }
        _ => {}
    }
    if out.is_empty() {
        out.push(neutral(arg));
    }
    out.truncate(limit);
    out
}

/// A value that names nobody: what the same call with unknown ids gets.
fn nobody(arg: &FunctionArg) -> String {
    match (arg.category.as_str(), arg.base_type.as_str()) {
        (_, "uuid") => uuid::Uuid::new_v4().to_string(),
        ("S", _) => "dbkit-nobody".into(),
        _ => neutral(arg),
    }
}

/// A plain valid value of the argument's type.
fn neutral(arg: &FunctionArg) -> String {
    match (arg.category.as_str(), arg.base_type.as_str()) {
        (_, "uuid") => uuid::Uuid::new_v4().to_string(),
        (_, "jsonb" | "json") => "{}".into(),
        ("B", _) => "true".into(),
        ("N", _) => "1".into(),
        ("D", _) => "2030-01-01 00:00:00+00".into(),
        ("T", _) => "1 hour".into(),
        ("A", _) => "{}".into(),
        ("E", _) => String::new(),
        _ => "dbkit".into(),
    }
}

/// Every combination of the candidates, up to `MAX_CALLS`.
fn combinations(lists: &[Vec<String>]) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = vec![vec![]];
    for list in lists {
        let mut next = Vec::new();
        for prefix in &out {
            for v in list {
                let mut c = prefix.clone();
                c.push(v.clone());
                next.push(c);
            }
        }
        out = next;
        out.truncate(MAX_CALLS);
    }
    out
}

/// The call as SQL returning its result as text (JSON for values and rows).
fn call_sql(f: &Function) -> String {
    let args: Vec<String> = f
        .args
        .iter()
        .enumerate()
        .map(|(i, a)| {
            if a.category == "E" {
                // An enum: its first label when no value was given.
                format!(
                    "coalesce(nullif(${n}::text, '')::{t}, (enum_range(NULL::{t}))[1])",
                    n = i + 1,
                    t = a.sql_type
                )
            } else {
                format!("${}::text::{}", i + 1, a.sql_type)
            }
        })
        .collect();
    let call = format!("{}({})", f.sql_name, args.join(", "));
    if f.returns_set {
        format!("SELECT coalesce(jsonb_agg(to_jsonb(r)), '[]'::jsonb)::text FROM {call} AS r")
    } else if f.returns == "void" {
        format!("SELECT {call}::text")
    } else {
        format!("SELECT to_jsonb({call})::text")
    }
}

/// What one call did.
struct Call {
    /// The result as text, or the refusal.
    result: Result<Option<String>, Outcome>,
    /// Rows of tenant B written, deleted or created, by table.
    changed_b: Vec<(String, usize)>,
}

/// Plant a secret in Supabase Vault (inside the rolled-back transaction), so a function
/// that reads or deletes secrets by name is seen to: its name and value, as a row.
async fn plant_secret(tx: &Transaction<'_>) -> Result<Option<snapshot::Row>> {
    let exists: bool = tx
        .query_one("SELECT to_regclass('vault.secrets') IS NOT NULL", &[])
        .await?
        .get(0);
    if !exists {
        return Ok(None);
    }
    let tag = &uuid::Uuid::new_v4().simple().to_string()[..12];
    let (name, value) = (
        format!("dbkit_secret_{tag}"),
        format!("dbkit-secret-value-{tag}"),
    );
    tx.execute(
        "INSERT INTO vault.secrets (name, secret) VALUES ($1, $2)",
        &[&name, &value],
    )
    .await?;
    let mut row = snapshot::Row::new();
    row.insert("name".into(), Value::String(name));
    row.insert("secret".into(), Value::String(value));
    Ok(Some(row))
}

/// Vault's secrets as the owner sees them: how many, and whether the planted one is
/// there unchanged.
async fn vault_state(
    tx: &Transaction<'_>,
    planted: Option<&snapshot::Row>,
) -> Result<Option<(i64, bool)>> {
    let Some(row) = planted else {
        return Ok(None);
    };
    let (name, value) = (
        row.get("name").and_then(text).unwrap_or_default(),
        row.get("secret").and_then(text).unwrap_or_default(),
    );
    let r = tx
        .query_one(
            "SELECT count(*), count(*) FILTER (WHERE name = $1 AND secret = $2) = 1 FROM vault.secrets",
            &[&name, &value],
        )
        .await?;
    Ok(Some((r.get(0), r.get(1))))
}

/// Counters of this transaction's writes per table: what a call touched.
const WRITES: &str =
    "SELECT relid::oid, (n_tup_ins + n_tup_upd + n_tup_del)::int8 FROM pg_stat_xact_user_tables";

async fn writes(tx: &Transaction<'_>) -> Result<HashMap<u32, i64>> {
    Ok(tx
        .query(WRITES, &[])
        .await?
        .iter()
        .map(|r| (r.get::<_, u32>(0), r.get::<_, i64>(1)))
        .collect())
}

/// Where the calls run: the proof's transaction, the schema, who owns which row and
/// the rows before any call.
#[derive(Clone, Copy)]
struct Scene<'a, 't, 'o> {
    tx: &'a Transaction<'t>,
    facts: &'a Facts,
    tenancy: &'a Tenancy,
    owners: &'a Owners<'o>,
    before: &'a HashMap<u32, Vec<Stored>>,
}

/// Call `f` with `values` as `who`, in a savepoint; read back what it changed.
async fn call_once(
    scene: Scene<'_, '_, '_>,
    f: &Function,
    values: &[String],
    who: Who<'_>,
    planted: Option<&snapshot::Row>,
) -> Result<Call> {
    let Scene {
        tx,
        facts,
        tenancy,
        owners,
        before,
    } = scene;
    tx.batch_execute("SAVEPOINT dbkit_call").await?;
    let counted = writes(tx).await?;
    let vault_before = vault_state(tx, planted).await?;
    act(tx, tenancy, who).await?;
    let result = match tx.query_one(&call_sql(f), &params(values)).await {
        Ok(row) => Ok(row.get::<_, Option<String>>(0)),
        Err(e) => Err(classify(&e)),
    };
    let mut changed_b = Vec::new();
    if result.is_ok() {
        act(tx, tenancy, Who::Owner).await?;
        let now = writes(tx).await?;
        for (oid, n) in &now {
            if counted.get(oid) == Some(n) {
                continue;
            }
            let (Some(r), Some(rows)) = (facts.relation(*oid), before.get(oid)) else {
                continue;
            };
            let after = snapshot::take(tx, r).await?;
            let d = diff(r, rows, &after);
            let of_b = |row: &snapshot::Row| owners.of(*oid, row) == Some(Tenant::B);
            let n = d.changed.iter().filter(|(b, a)| of_b(b) || of_b(a)).count()
                + d.deleted.iter().filter(|row| of_b(row)).count()
                + d.created.iter().filter(|row| of_b(row)).count();
            if n > 0 {
                changed_b.push((r.name.clone(), n));
            }
        }
        if let (Some(before), Some(after)) = (vault_before, vault_state(tx, planted).await?) {
            if before != after {
                changed_b.push((VAULT.to_string(), 1));
            }
        }
    }
    tx.batch_execute("ROLLBACK TO SAVEPOINT dbkit_call").await?;
    Ok(Call { result, changed_b })
}

/// How `f` fared as one role.
enum Verdict {
    /// Nothing of B's returned or changed (the call ran, or was refused).
    Clean,
    Leak(String, Severity),
    /// Every call failed for the proof's own reasons.
    Uncalled(String),
}

/// The argument list as shown: `org_id = B's key`.
fn shown(f: &Function, values: &[String], b: &TenantData, me: &str) -> String {
    f.args
        .iter()
        .zip(values)
        .map(|(a, v)| {
            let row_of = b.rows.iter().find_map(|(table, rows)| {
                rows.iter()
                    .any(|r| r.get("id").and_then(text).as_ref() == Some(v))
                    .then_some(table)
            });
            let what = if *v == b.org.id {
                "tenant B's key".to_string()
            } else if *v == b.org.member {
                "tenant B's member".to_string()
            } else if *v == me {
                "the caller (tenant A's member)".to_string()
            } else if let Some(table) = row_of {
                format!("tenant B's row of {table}")
            } else if b.values().contains(v) {
                format!("tenant B's '{}'", v.chars().take(40).collect::<String>())
            } else {
                format!("'{}'", v.chars().take(40).collect::<String>())
            };
            let name = if a.name.is_empty() {
                "$"
            } else {
                a.name.as_str()
            };
            format!("{name} = {what}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[allow(clippy::too_many_arguments)]
async fn judge(
    tx: &Transaction<'_>,
    facts: &Facts,
    tenancy: &Tenancy,
    owners: &Owners<'_>,
    before: &HashMap<u32, Vec<Stored>>,
    f: &Function,
    b: &TenantData<'_>,
    a_values: &BTreeSet<String>,
    me: &str,
    who: Who<'_>,
) -> Result<(Verdict, usize)> {
    let planted = b
        .rows
        .iter()
        .find(|(t, _)| t == VAULT)
        .and_then(|(_, rows)| rows.first().copied());
    // A one-argument function gets every candidate; more arguments share the calls.
    let limit = if f.args.len() <= 1 { MAX_CALLS } else { 3 };
    let lists: Vec<Vec<String>> = f
        .args
        .iter()
        .map(|a| candidates(a, tenancy, b, me, limit))
        .collect();
    let combos = combinations(&lists);
    let unknown: Vec<String> = f.args.iter().map(nobody).collect();
    let scene = Scene {
        tx,
        facts,
        tenancy,
        owners,
        before,
    };
    let baseline = call_once(scene, f, &unknown, who, planted).await?;
    let baseline_text = baseline.result.as_ref().ok().cloned().flatten();
    let mut calls = 1;
    let mut failures = Vec::new();
    let mut answered_differently = None;
    let b_values = b.values();
    for values in &combos {
        calls += 1;
        let call = call_once(scene, f, values, who, planted).await?;
        if !call.changed_b.is_empty() {
            let changed: Vec<String> = call
                .changed_b
                .iter()
                .map(|(table, n)| {
                    if table == VAULT {
                        "the project's vault secrets".to_string()
                    } else {
                        format!("{n} row(s) of tenant B in {table}")
                    }
                })
                .collect();
            return Ok((
                Verdict::Leak(
                    format!(
                        "called with {}, it wrote or deleted {}",
                        shown(f, values, b, me),
                        changed.join(", ")
                    ),
                    Severity::Error,
                ),
                calls,
            ));
        }
        match call.result {
            Ok(Some(result)) => {
                let args: BTreeSet<&String> = values.iter().collect();
                // B's data is B's data, whatever the arguments were: the baseline only
                // tells answers (true, a count) apart.
                let revealed = revealed(&result, &b_values, a_values, &args);
                let secret = planted.and_then(|p| p.get("secret")).and_then(text);
                if let Some(v) = revealed
                    .iter()
                    .find(|v| Some(v.as_str()) == secret.as_deref())
                {
                    return Ok((
                        Verdict::Leak(
                            format!(
                                "called with {}, it returned a vault secret's value ('{}')",
                                shown(f, values, b, me),
                                v.chars().take(40).collect::<String>()
                            ),
                            Severity::Error,
                        ),
                        calls,
                    ));
                }
                if let Some(v) = revealed.first() {
                    return Ok((
                        Verdict::Leak(
                            format!(
                                "called with {}, it returned tenant B's data ({} of B's values, e.g. '{}')",
                                shown(f, values, b, me),
                                revealed.len(),
                                v.chars().take(40).collect::<String>()
                            ),
                            Severity::Error,
                        ),
                        calls,
                    ));
                }
                if answered_differently.is_none() && reveals(&result, baseline_text.as_deref()) {
                    answered_differently = Some(format!(
                        "called with {}, it answers {} where unknown ids get {}: review what it reveals about tenant B",
                        shown(f, values, b, me),
                        result.chars().take(40).collect::<String>(),
                        baseline_text.as_deref().unwrap_or("nothing")
                    ));
                }
            }
            // A call that fails on a constraint changed nothing: the function ran
            // past row-level security anyway, and its own rows decide.
            Ok(None) | Err(Outcome::Denied | Outcome::Rows(_) | Outcome::Constrained(_)) => {}
            Err(Outcome::Failed(why)) => failures.push(why),
        }
    }
    let verdict = match answered_differently {
        Some(what) => Verdict::Leak(what, Severity::Warning),
        None if failures.len() == combos.len() => Verdict::Uncalled(failures.swap_remove(0)),
        None => Verdict::Clean,
    };
    Ok((verdict, calls))
}

/// Does an answer for B's ids say more than the one for unknown ids: `true` where
/// unknown ids get `false`, a different number, more rows? (A new id the call made,
/// different each time, is not.)
fn reveals(result: &str, baseline: Option<&str>) -> bool {
    let parse = |t: &str| serde_json::from_str::<Value>(t).ok();
    let (r, b) = (parse(result), baseline.and_then(parse));
    match (r, b) {
        (Some(Value::Bool(true)), b) => b != Some(Value::Bool(true)),
        (Some(Value::Number(n)), b) => b != Some(Value::Number(n)),
        (Some(Value::Array(rows)), Some(Value::Array(base))) => rows.len() > base.len(),
        (Some(Value::Array(rows)), None) => !rows.is_empty(),
        _ => false,
    }
}

/// What the calls found.
#[derive(Debug, Default)]
pub struct Called {
    pub findings: Vec<Finding>,
    /// Functions called.
    pub functions: usize,
    /// Calls made per role.
    pub calls: BTreeMap<String, usize>,
    /// Functions (as `name()`) whose every call revealed and changed nothing of B's.
    pub cleared: Vec<String>,
    /// Functions the proof could not call, and why (`name()`, cause).
    pub uncalled: Vec<(String, String)>,
    /// Functions a call proved leaking (`security-definer-leak` names them).
    pub leaked: Vec<String>,
}

/// What the proof knows of `tenant`: its rows in the tables (read as the owner), and
/// its member's auth.users row (its e-mail) from the fixture.
fn tenant_data<'a>(
    facts: &Facts,
    tenancy: &Tenancy,
    owners: &Owners<'_>,
    before: &'a HashMap<u32, Vec<Stored>>,
    users: &'a [snapshot::Row],
    tenant: Tenant,
    org: &'a SeededOrg,
) -> TenantData<'a> {
    let mut rows: Vec<(String, Vec<&'a snapshot::Row>)> = tenancy
        .tables
        .iter()
        .filter_map(|t| {
            let r = facts.relation(t.oid)?;
            Some((
                r.short.clone(),
                owners.rows_of(t.oid, before.get(&t.oid)?, tenant),
            ))
        })
        .collect();
    let mine: Vec<&snapshot::Row> = users
        .iter()
        .filter(|row| row.get("id").and_then(Value::as_str) == Some(org.member.as_str()))
        .collect();
    rows.push(("users".into(), mine));
    TenantData { org, rows }
}

/// The members' auth.users rows, each given an e-mail where it has none (inside the
/// rolled-back transaction), so a function that returns a user's e-mail is seen to.
async fn give_emails(
    tx: &Transaction<'_>,
    facts: &Facts,
    orgs: &[&SeededOrg],
) -> Result<Vec<snapshot::Row>> {
    let Some(users) = facts
        .relations
        .iter()
        .find(|r| r.schema == "auth" && r.short == "users")
    else {
        return Ok(vec![]);
    };
    let members: Vec<String> = orgs.iter().map(|o| o.member.clone()).collect();
    if users.columns.iter().any(|c| c.name == "email") {
        tx.execute(
            "UPDATE auth.users SET email = 'dbkit-' || left(id::text, 8) || '@example.test' \
             WHERE id::text = ANY($1) AND email IS NULL",
            &[&members],
        )
        .await?;
    }
    Ok(tx
        .query(
            "SELECT to_jsonb(u) FROM auth.users u WHERE id::text = ANY($1)",
            &[&members],
        )
        .await?
        .iter()
        .filter_map(|r| r.get::<_, Value>(0).as_object().cloned())
        .collect())
}

/// Call every function in `functions` as each role that may execute it.
pub async fn run(
    client: &mut Client,
    facts: &Facts,
    tenancy: &Tenancy,
    functions: &[&Function],
    orgs: &[SeededOrg],
    locator: &Locator,
) -> Result<Called> {
    let mut out = Called {
        functions: functions.len(),
        ..Called::default()
    };
    if functions.is_empty() {
        return Ok(out);
    }
    let (a, b) = (&orgs[0], &orgs[1]);
    let mut leaked: BTreeSet<String> = BTreeSet::new();
    let mut refused: BTreeMap<String, usize> = BTreeMap::new();
    for (role, who) in [("anon", Who::Anon), ("authenticated", Who::Member(a))] {
        let tx = begin(client, tenancy).await?;
        let users = give_emails(&tx, facts, &[a, b]).await?;
        let secret = plant_secret(&tx).await?;
        let before = snapshots(&tx, facts, tenancy).await?;
        let owners = Owners {
            facts,
            tenancy,
            a,
            b,
            tables: &before,
        };
        let mut b_data = tenant_data(facts, tenancy, &owners, &before, &users, Tenant::B, b);
        if let Some(secret) = &secret {
            b_data.rows.push((VAULT.to_string(), vec![secret]));
        }
        let a_values = tenant_data(facts, tenancy, &owners, &before, &users, Tenant::A, a).values();
        for f in functions.iter().filter(|f| {
            if role == "anon" {
                f.anon
            } else {
                f.authenticated
            }
        }) {
            let object = format!("{}()", f.name);
            let (verdict, calls) = judge(
                &tx, facts, tenancy, &owners, &before, f, &b_data, &a_values, &a.member, who,
            )
            .await?;
            *out.calls.entry(role.to_string()).or_default() += calls;
            match verdict {
                Verdict::Clean => *refused.entry(object).or_default() += 1,
                Verdict::Uncalled(why) => out.uncalled.push((object, why)),
                Verdict::Leak(what, severity) => {
                    leaked.insert(object.clone());
                    // One finding per function: a second role that leaks too is named
                    // in the first one's.
                    if let Some(earlier) = out
                        .findings
                        .iter_mut()
                        .find(|x| x.object.as_deref() == Some(object.as_str()))
                    {
                        earlier.message.push_str(&format!("; as {role} too"));
                        earlier.severity = earlier.severity.max(severity);
                        continue;
                    }
                    let mut finding = Finding::new(
                        Rule::SecurityDefinerLeak,
                        format!(
                            "{object}: as {role}, {what} — SECURITY DEFINER (runs as its owner, past row-level security)"
                        ),
                    )
                    .object(object);
                    finding.severity = severity;
                    if let Some((file, line)) = locator.first(&[format!("function:{}", f.short)]) {
                        finding = finding.at(file, line);
                    }
                    out.findings.push(finding);
                }
            }
        }
        tx.rollback().await?;
    }
    out.leaked = leaked.iter().cloned().collect();
    out.cleared = refused
        .into_keys()
        .filter(|o| !leaked.contains(o) && !out.uncalled.iter().any(|(u, _)| u == o))
        .collect();
    Ok(out)
}

/// `security-definer-exposed` after the calls: on a function the proof called with B's
/// arguments and that revealed and changed nothing of B's, only a warning to review; on
/// one it could not call, the static verdict stands with the cause; on one a call
/// proved leaking, `security-definer-leak` says it all and the suspicion goes.
pub fn regrade(findings: &mut Vec<Finding>, called: &Called) {
    findings.retain(|f| {
        f.rule != Rule::SecurityDefinerExposed
            || !f.object.as_ref().is_some_and(|o| called.leaked.contains(o))
    });
    for f in findings
        .iter_mut()
        .filter(|f| f.rule == Rule::SecurityDefinerExposed)
    {
        let Some(object) = f.object.clone() else {
            continue;
        };
        if called.cleared.contains(&object) {
            f.severity = Severity::Warning;
            f.message.push_str(
                " — the proof called it with tenant B's ids, owners and names: it returned and changed nothing of B's",
            );
        } else if let Some((_, why)) = called.uncalled.iter().find(|(o, _)| *o == object) {
            f.message
                .push_str(&format!(" — the proof could not call it to tell: {why}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_reveals_b_s_values_not_a_s_that_contain_them() {
        let set = |vs: &[&str]| -> BTreeSet<String> { vs.iter().map(|v| v.to_string()).collect() };
        let b = set(&["15:15:00", "dbkit-b@example.test"]);
        let a = set(&["2026-12-09T15:15:00+00:00", "dbkit-a@example.test"]);
        let none = BTreeSet::new();
        // A's own appointment, whose time of day is B's opening hour: nothing of B's.
        let mine =
            r#"[{"starts_at": "2026-12-09T15:15:00+00:00", "note": "dbkit-a@example.test"}]"#;
        assert!(revealed(mine, &b, &a, &none).is_empty());
        // B's opening hour itself, and B's e-mail inside a greeting: revealed.
        assert_eq!(
            revealed(r#"{"opens_at": "15:15:00"}"#, &b, &a, &none),
            vec!["15:15:00"]
        );
        assert_eq!(
            revealed("Hello dbkit-b@example.test", &b, &a, &none),
            vec!["dbkit-b@example.test"]
        );
    }

    fn arg(name: &str, base: &str, category: &str) -> FunctionArg {
        FunctionArg {
            name: name.into(),
            sql_type: base.into(),
            base_type: base.into(),
            category: category.into(),
        }
    }

    #[test]
    fn argument_names_lose_their_prefixes() {
        assert_eq!(bare("p_org_id"), "org_id");
        assert_eq!(bare("_target_user"), "user");
        assert_eq!(bare("new_role"), "role");
        assert_eq!(bare("id"), "id");
    }

    #[test]
    fn arguments_get_tenant_b_s_values_by_name_and_type() {
        let org = SeededOrg {
            id: "b-org".into(),
            member: "b-user".into(),
            rows: HashMap::new(),
        };
        let member_row = serde_json::json!({"id": "b-user", "email": "b@example.com"});
        let project = serde_json::json!({"id": "b-project", "slug": "b-slug", "org_id": "b-org"});
        let b = TenantData {
            org: &org,
            rows: vec![
                ("users".into(), vec![member_row.as_object().unwrap()]),
                ("projects".into(), vec![project.as_object().unwrap()]),
            ],
        };
        let tenancy = crate::schema::facts::testing::tenancy_of(vec![], vec![]);
        let c = |a: FunctionArg| candidates(&a, &tenancy, &b, "a-user", 3);
        assert_eq!(c(arg("p_org_id", "uuid", "U"))[0], "b-org");
        assert_eq!(
            c(arg("target_user", "uuid", "U"))[..2],
            ["b-user", "a-user"]
        );
        assert_eq!(c(arg("project_id", "uuid", "U"))[0], "b-project");
        assert_eq!(c(arg("email", "text", "S"))[0], "b@example.com");
        assert_eq!(c(arg("slug", "text", "S"))[0], "b-slug");
        assert!(c(arg("x", "uuid", "U")).contains(&"b-user".to_string()));
        assert_eq!(c(arg("n", "int4", "N")), vec!["1"]);
    }

    #[test]
    fn an_answer_reveals_when_it_says_more_than_for_unknown_ids() {
        assert!(reveals("true", Some("false")));
        assert!(!reveals("false", Some("false")));
        assert!(reveals("3", Some("0")));
        assert!(reveals("[1, 2]", Some("[]")));
        assert!(!reveals("[]", Some("[]")));
        // A new id made by each call is no answer about B.
        assert!(!reveals("\"e2c2\"", Some("\"76cb\"")));
    }

    #[test]
    fn combinations_are_capped() {
        let lists = vec![
            vec!["a".to_string(), "b".into(), "c".into()],
            vec!["1".to_string(), "2".into(), "3".into()],
        ];
        let all = combinations(&lists);
        assert_eq!(all.len(), MAX_CALLS);
        assert_eq!(all[0], vec!["a", "1"]);
    }

    #[test]
    fn regrade_lowers_cleared_helpers_only() {
        let mut findings = vec![
            Finding::new(
                Rule::SecurityDefinerExposed,
                "is_member() is executable by anon",
            )
            .object("is_member()"),
            Finding::new(
                Rule::SecurityDefinerExposed,
                "read_secret() is executable by anon",
            )
            .object("read_secret()"),
        ];
        findings.push(
            Finding::new(
                Rule::SecurityDefinerExposed,
                "purge() is executable by anon",
            )
            .object("purge()"),
        );
        let called = Called {
            cleared: vec!["is_member()".into()],
            uncalled: vec![("read_secret()".into(), "no such table".into())],
            leaked: vec!["purge()".into()],
            ..Called::default()
        };
        regrade(&mut findings, &called);
        assert_eq!(findings.len(), 2, "the proven leak replaces the suspicion");
        assert_eq!(findings[0].severity, Severity::Warning);
        assert_eq!(findings[1].severity, Severity::Error);
        assert!(findings[1]
            .message
            .ends_with("could not call it to tell: no such table"));
    }
}
