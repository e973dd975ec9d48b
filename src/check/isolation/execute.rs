//! Running the probes as PostgREST runs requests: `BEGIN; SET LOCAL ROLE <role>;
//! set_config('request.jwt.claims', <claims>, true)` with `role` and `sub` of a real
//! member of tenant A, each probe inside a savepoint, the whole transaction rolled
//! back. Relations never granted or revoked get the grants Supabase's default
//! privileges would give them, inside the same rolled-back transaction. A leak names
//! the object, the operation, the role, and the policy or grant that allowed it, at
//! the migration statement that introduced that.

use anyhow::Result;
use serde_json::{json, Map, Value};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Transaction};

use super::fixture::{self, params, SeededOrg};
use super::probe::{Actor, Param, Probe, Statement, Target};
use crate::check::locate::Locator;
use crate::check::rule::{Finding, Rule};
use crate::schema::facts::{Facts, Relation};
use crate::schema::tenancy::Tenancy;

/// Set the claim at a dotted path (`app_metadata.org_id`) in the claims object.
fn set_claim(claims: &mut Value, path: &str, value: Value) {
    let mut at = claims;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            at[part] = value;
            return;
        }
        if !at[part].is_object() {
            at[part] = json!({});
        }
        at = &mut at[part];
    }
}

/// What one probe did.
enum Outcome {
    /// Rows read or written (0: isolated).
    Rows(u64),
    /// Rejected by row-level security or privileges (42501).
    Denied,
    /// Past row-level security, stopped by an integrity constraint: RLS let it through.
    Constrained(String),
    /// Failed for another reason: the proof cannot tell.
    Other(String),
}

/// Primary keys (or whole rows) of a tenant's rows of one table, as a JSON array.
fn identities(r: Option<&Relation>, rows: Option<&Vec<Map<String, Value>>>) -> String {
    let rows = rows.map(Vec::as_slice).unwrap_or_default();
    let ids: Vec<Value> = rows
        .iter()
        .map(|row| match r.filter(|r| !r.primary_key.is_empty()) {
            Some(r) => Value::Object(
                r.primary_key
                    .iter()
                    .filter_map(|k| row.get(k).map(|v| (k.clone(), v.clone())))
                    .collect(),
            ),
            None => Value::Object(row.clone()),
        })
        .collect();
    Value::Array(ids).to_string()
}

fn bind(p: &Param, probe: &Probe, facts: &Facts, a: &SeededOrg, b: &SeededOrg) -> String {
    let oid = match probe.target {
        Target::Relation(oid) => oid,
        Target::Function(_) => 0,
    };
    match p {
        Param::OtherRows => identities(facts.relation(oid), b.rows.get(&oid)),
        Param::OwnRows => identities(facts.relation(oid), a.rows.get(&oid)),
        Param::OtherKey => b.id.clone(),
        Param::OwnKey => a.id.clone(),
        Param::OtherValue { table, column } | Param::OwnValue { table, column } => {
            let org = if matches!(p, Param::OwnValue { .. }) {
                a
            } else {
                b
            };
            org.rows
                .get(table)
                .and_then(|rs| rs.first())
                .and_then(|row| row.get(column))
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .unwrap_or_default()
        }
    }
}

async fn run(tx: &Transaction<'_>, sql: &str, values: &[String], counted: bool) -> Result<Outcome> {
    tx.batch_execute("SAVEPOINT dbkit_probe").await?;
    let result = if counted {
        tx.query_one(sql, &params(values))
            .await
            .map(|r| r.get::<_, i64>(0) as u64)
    } else {
        tx.execute(sql, &params(values)).await
    };
    tx.batch_execute("ROLLBACK TO SAVEPOINT dbkit_probe")
        .await?;
    Ok(match result {
        Ok(n) => Outcome::Rows(n),
        Err(e) if e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) => Outcome::Denied,
        Err(e) if e.code().is_some_and(|c| c.code().starts_with("23")) => {
            Outcome::Constrained(fixture::refusal(&e))
        }
        Err(e) => Outcome::Other(fixture::refusal(&e)),
    })
}

/// Grants Supabase's default privileges would have given (relations and sequences
/// never granted or revoked, in the exposed schemas).
const DEFAULT_GRANTS: &str = "
    SELECT format('GRANT %s ON %I.%I TO anon, authenticated',
                  CASE WHEN c.relkind = 'S' THEN 'USAGE, SELECT' ELSE 'SELECT, INSERT, UPDATE, DELETE' END,
                  n.nspname, c.relname)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S') AND c.relacl IS NULL AND n.nspname = ANY($1)";

/// A leak before it is blamed.
struct Leak<'a> {
    probe: &'a Probe,
    what: String,
}

/// Run `probes` as `actor` (member of `a` when a member). Leaks and untestable probes.
#[allow(clippy::too_many_arguments)]
async fn as_actor<'a>(
    client: &mut Client,
    facts: &Facts,
    tenancy: &Tenancy,
    actor: Actor,
    probes: &'a [Probe],
    a: &SeededOrg,
    b: &SeededOrg,
    untested: &mut Vec<Finding>,
) -> Result<Vec<Leak<'a>>> {
    let mut leaks = Vec::new();
    let tx = client.transaction().await?;
    for row in tx
        .query(DEFAULT_GRANTS, &[&tenancy.exposed_schemas])
        .await?
    {
        tx.batch_execute(&row.get::<_, String>(0)).await?;
    }
    let role = actor.role();
    if let Err(e) = tx.batch_execute(&format!("SET LOCAL ROLE {role}")).await {
        untested.push(Finding::new(
            Rule::IsolationUntested,
            format!(
                "cannot act as {role} (SET ROLE {role}): {}",
                fixture::refusal(&e)
            ),
        ));
        return Ok(leaks);
    }
    let mut claims = json!({"role": role});
    if actor == Actor::Member {
        claims["sub"] = json!(a.member);
        for claim in tenancy.claims() {
            set_claim(&mut claims, claim, json!(a.id));
        }
    }
    tx.query(
        "SELECT set_config('request.jwt.claims', $1, true)",
        &[&claims.to_string()],
    )
    .await?;
    for probe in probes.iter().filter(|p| p.actor == actor) {
        let outcome = match &probe.statement {
            Statement::Count { sql, params } | Statement::Write { sql, params } => {
                let values: Vec<String> =
                    params.iter().map(|p| bind(p, probe, facts, a, b)).collect();
                let counted = matches!(probe.statement, Statement::Count { .. });
                run(&tx, sql, &values, counted).await?
            }
            Statement::InsertOther => {
                let Target::Relation(oid) = probe.target else {
                    continue;
                };
                let Some(r) = facts.relation(oid) else {
                    continue;
                };
                let acting = (actor == Actor::Member).then_some(a.member.as_str());
                match fixture::insert_for(r, tenancy, b, 1, 7, acting) {
                    Ok((sql, values)) => {
                        let sql = sql.replace(" RETURNING to_jsonb(t)", "");
                        run(&tx, &sql, &values, false).await?
                    }
                    Err(e) => Outcome::Other(e.to_string()),
                }
            }
        };
        let outcome = match (outcome, probe.target) {
            (Outcome::Rows(n), Target::Relation(oid)) if probe.beyond_own => {
                let own = a.rows.get(&oid).map_or(0, Vec::len) as u64;
                Outcome::Rows(n.saturating_sub(own))
            }
            (outcome, _) => outcome,
        };
        let what = match outcome {
            Outcome::Rows(0) | Outcome::Denied => continue,
            Outcome::Rows(n) => probe.leak.replace("{n}", &n.to_string()),
            Outcome::Constrained(why) => format!(
                "{role} {} got past row-level security, stopped only by {why}",
                probe.op.sql()
            ),
            Outcome::Other(why) => {
                untested.push(
                    Finding::new(
                        Rule::IsolationUntested,
                        format!(
                            "{}: {} as {role} failed for another reason than row-level security, so isolation is not proven: {why}",
                            probe.object,
                            probe.op.sql()
                        ),
                    )
                    .object(probe.object.clone()),
                );
                continue;
            }
        };
        leaks.push(Leak { probe, what });
    }
    tx.rollback().await?;
    Ok(leaks)
}

/// Policies that let `role` run `cmd` on the table, for naming in a leak.
const PERMITTING: &str = "
    SELECT ARRAY(SELECT p.polname::text FROM pg_policy p
                 WHERE p.polrelid = $1 AND p.polpermissive
                   AND (p.polcmd = '*' OR p.polcmd = $2::text::\"char\")
                   AND (0 = ANY(p.polroles) OR (SELECT oid FROM pg_roles WHERE rolname = $3) = ANY(p.polroles))
                 ORDER BY 1)";

/// The cause in words, and the locator keys of the statements to blame.
async fn blame(
    client: &Client,
    facts: &Facts,
    leak: &Leak<'_>,
) -> Result<(String, Vec<Vec<String>>)> {
    let probe = leak.probe;
    let role = probe.actor.role();
    match probe.target {
        Target::Function(oid) => {
            let f = facts.functions.iter().find(|f| f.oid == oid);
            let short = f.map(|f| f.short.clone()).unwrap_or_default();
            let cause = match f {
                Some(f) if f.security_definer => format!(
                    "SECURITY DEFINER function {} (runs as its owner, past row-level security), executable by {role}",
                    f.name
                ),
                _ => format!("the policies on what {} reads, executable by {role}", probe.object),
            };
            Ok((cause, vec![vec![format!("function:{short}")]]))
        }
        Target::Relation(oid) => {
            let Some(r) = facts.relation(oid) else {
                return Ok((String::new(), vec![]));
            };
            let table = vec![format!("table:{}", r.short), format!("view:{}", r.short)];
            if r.kind != crate::schema::facts::RelKind::Table {
                let cause = if r.security_invoker {
                    format!("view {} and the policies of what it reads", r.name)
                } else {
                    format!(
                        "view {} without security_invoker: it reads as its owner, past row-level security; {role} may select from it",
                        r.name
                    )
                };
                return Ok((cause, vec![table]));
            }
            let grant = if r.default_acl {
                "Supabase's default privileges"
            } else {
                "a GRANT"
            };
            if !r.rls {
                let mut keys = vec![format!("rls:{}", r.short)];
                keys.extend(table);
                return Ok((
                    format!(
                        "row-level security is off and {role} holds {} on it ({grant})",
                        probe.op.sql()
                    ),
                    vec![keys],
                ));
            }
            let names: Vec<String> = client
                .query_one(PERMITTING, &[&oid, &probe.op.polcmd(), &role])
                .await?
                .get(0);
            if names.is_empty() {
                return Ok((
                    format!(
                        "no permissive policy for {role} (check triggers and restrictive policies)"
                    ),
                    vec![table],
                ));
            }
            let keys = names
                .iter()
                .map(|p| {
                    let mut k = vec![format!("policy:{}.{p}", r.short)];
                    k.extend(table.clone());
                    k
                })
                .collect();
            let cause = if names.len() == 1 {
                "policy"
            } else {
                "policies"
            };
            Ok((format!("{cause} {}", names.join(", ")), keys))
        }
    }
}

/// Run every probe; `tenant-leak` for what got through, `isolation-untested` for what
/// could not be told.
pub async fn run_probes(
    client: &mut Client,
    facts: &Facts,
    tenancy: &Tenancy,
    probes: &[Probe],
    orgs: &[SeededOrg],
    locator: &Locator,
) -> Result<Vec<Finding>> {
    let (a, b) = (&orgs[0], &orgs[1]);
    let mut findings = Vec::new();
    let mut leaks = Vec::new();
    for actor in [Actor::Member, Actor::Anon] {
        leaks.extend(as_actor(client, facts, tenancy, actor, probes, a, b, &mut findings).await?);
    }
    for leak in leaks {
        let (cause, keys) = blame(client, facts, &leak).await?;
        let mut finding = Finding::new(
            Rule::TenantLeak,
            format!(
                "{}: {} — {} as {} allowed by {cause}",
                leak.probe.object,
                leak.what,
                leak.probe.op.sql(),
                leak.probe.actor.role()
            ),
        )
        .object(leak.probe.object.clone());
        let keys: Vec<&[String]> = keys.iter().map(Vec::as_slice).collect();
        if let Some((_, (file, line))) = locator.latest(&keys) {
            finding = finding.at(file, line);
        }
        findings.push(finding);
    }
    Ok(findings)
}
