//! Running the probes as PostgREST runs requests: `BEGIN; SET LOCAL ROLE <role>;
//! set_config('request.jwt.claims', <claims>, true)` with `role` and `sub` of a real
//! member of tenant A, each probe inside a savepoint, the whole transaction rolled
//! back. Relations never granted or revoked get the grants Supabase's default
//! privileges would give them, inside the same rolled-back transaction.
//!
//! A write is judged by what it did, read back as the owner (`snapshot`): which rows
//! were written, deleted or created, and whose they are; a row planted in tenant B
//! leaks when B's member (or anon) then reads it. A refusal by row-level security, a
//! privilege or the project's own code (a trigger that raises) is isolation; a write
//! stopped only by an integrity constraint got past row-level security and counts; any
//! other failure is the proof's own (`proof-failed`), with its cause. A leak names the
//! object, the operation, the role, and the policy or grant that allowed it, at the
//! migration statement that introduced that.

use std::collections::HashMap;

use anyhow::Result;
use serde_json::{json, Value};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, Transaction};

use super::fixture::{self, params, SeededOrg};
use super::membership_self_insert;
use super::probe::{Actor, Judge, Param, Probe, Statement, Target};
use super::snapshot::{self, diff, identities, Owners, Stored, Tenant};
use crate::check::locate::Locator;
use crate::check::rule::{Finding, Rule, Severity};
use crate::schema::facts::{Facts, RelKind};
use crate::schema::tenancy::{Kind, Tenancy};

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

/// Who a statement runs as.
#[derive(Debug, Clone, Copy)]
pub enum Who<'a> {
    /// The connecting role (the owner: past row-level security).
    Owner,
    Anon,
    /// An authenticated member of this tenant.
    Member(&'a SeededOrg),
}

/// Switch the transaction to `who`, as PostgREST does for a request.
pub async fn act(
    tx: &Transaction<'_>,
    tenancy: &Tenancy,
    who: Who<'_>,
) -> Result<(), tokio_postgres::Error> {
    let (role, claims) = match who {
        Who::Owner => return tx.batch_execute("RESET ROLE").await,
        Who::Anon => ("anon", json!({"role": "anon"})),
        Who::Member(org) => {
            let mut claims = json!({"role": "authenticated", "sub": org.member});
            for claim in tenancy.claims() {
                set_claim(&mut claims, claim, json!(org.id));
            }
            ("authenticated", claims)
        }
    };
    tx.batch_execute(&format!("SET LOCAL ROLE {role}")).await?;
    tx.query(
        "SELECT set_config('request.jwt.claims', $1, true)",
        &[&claims.to_string()],
    )
    .await?;
    Ok(())
}

/// What one request did.
#[derive(Debug)]
pub enum Outcome {
    /// Rows read (a count) or judged written (0: isolated).
    Rows(u64),
    /// Rejected by row-level security or privileges (42501), or by the project's own
    /// code (a trigger or function that raises).
    Denied,
    /// Past row-level security, stopped by an integrity constraint: RLS let it through.
    Constrained(String),
    /// Failed for another reason: the proof's own failure, with its cause.
    Failed(String),
}

/// How PostgreSQL's refusal of a request reads.
pub fn classify(e: &tokio_postgres::Error) -> Outcome {
    let Some(code) = e.code() else {
        return Outcome::Failed(e.to_string());
    };
    let class = &code.code()[..2];
    // A trigger or function of the project that raises, or a policy that recurses
    // (every such request fails), refuses the request too.
    if code == &SqlState::INSUFFICIENT_PRIVILEGE || class == "P0" || code.code() == "42P17" {
        Outcome::Denied
    } else if class == "23" {
        Outcome::Constrained(fixture::refusal(e))
    } else {
        Outcome::Failed(format!(
            "{} (SQLSTATE {})",
            fixture::refusal(e),
            code.code()
        ))
    }
}

/// Grants Supabase's default privileges would have given (relations and sequences
/// never granted or revoked, in the exposed schemas).
const DEFAULT_GRANTS: &str = "
    SELECT format('GRANT %s ON %I.%I TO anon, authenticated',
                  CASE WHEN c.relkind = 'S' THEN 'USAGE, SELECT' ELSE 'SELECT, INSERT, UPDATE, DELETE' END,
                  n.nspname, c.relname)
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S') AND c.relacl IS NULL AND n.nspname = ANY($1)";

/// Open the proof's rolled-back transaction: default grants, a statement timeout (a
/// function under test may loop or sleep).
pub async fn begin<'c>(client: &'c mut Client, tenancy: &Tenancy) -> Result<Transaction<'c>> {
    let tx = client.transaction().await?;
    tx.batch_execute("SET LOCAL statement_timeout = '10s'")
        .await?;
    for row in tx
        .query(DEFAULT_GRANTS, &[&tenancy.exposed_schemas])
        .await?
    {
        tx.batch_execute(&row.get::<_, String>(0)).await?;
    }
    Ok(tx)
}

/// The tables' rows as the owner sees them, by oid.
pub async fn snapshots(
    tx: &Transaction<'_>,
    facts: &Facts,
    tenancy: &Tenancy,
) -> Result<HashMap<u32, Vec<Stored>>> {
    let mut out = HashMap::new();
    for t in &tenancy.tables {
        if let Some(r) = facts.relation(t.oid) {
            out.insert(t.oid, snapshot::take(tx, r).await?);
        }
    }
    Ok(out)
}

/// The run's setting: the model, the two tenants and the tables as they were.
struct Run<'a> {
    facts: &'a Facts,
    tenancy: &'a Tenancy,
    a: &'a SeededOrg,
    b: &'a SeededOrg,
    before: HashMap<u32, Vec<Stored>>,
}

impl Run<'_> {
    fn owners(&self) -> Owners<'_> {
        Owners {
            facts: self.facts,
            tenancy: self.tenancy,
            a: self.a,
            b: self.b,
            tables: &self.before,
        }
    }

    /// The value a parameter binds to; None: the fixture has nothing to bind.
    fn bind(&self, p: &Param, probe: &Probe) -> Option<String> {
        let oid = match probe.target {
            Target::Relation(oid) => oid,
            Target::Function(_) => 0,
        };
        let rows_of = |tenant| -> Option<String> {
            let r = self.facts.relation(oid)?;
            let before = self.before.get(&oid).map(Vec::as_slice).unwrap_or_default();
            Some(identities(r, self.owners().rows_of(oid, before, tenant)))
        };
        let non_empty = |s: &String| !s.is_empty();
        match p {
            Param::OtherRows => rows_of(Tenant::B),
            Param::OwnRows => rows_of(Tenant::A),
            Param::OtherKey => Some(self.b.id.clone()).filter(non_empty),
            Param::OwnKey => Some(self.a.id.clone()).filter(non_empty),
            Param::OtherValue { table, column } | Param::OwnValue { table, column } => {
                let tenant = if matches!(p, Param::OwnValue { .. }) {
                    Tenant::A
                } else {
                    Tenant::B
                };
                let rows = self.before.get(table)?;
                self.owners()
                    .rows_of(*table, rows, tenant)
                    .first()
                    .and_then(|row| row.get(column))
                    .filter(|v| !v.is_null())
                    .map(|v| match v {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
            }
        }
    }
}

/// Count `rows` of `r` that `who` reads, in a savepoint of its own (undone after, so
/// the transaction is the owner's again). A role refused the read reads none of them.
async fn visible_to(
    tx: &Transaction<'_>,
    run: &Run<'_>,
    oid: u32,
    rows: &[&snapshot::Row],
    who: Who<'_>,
) -> Result<u64> {
    let Some(r) = run.facts.relation(oid) else {
        return Ok(0);
    };
    if rows.is_empty() {
        return Ok(0);
    }
    let ids = identities(r, rows.iter().copied());
    let sql = format!(
        "SELECT count(*) FROM {} AS t WHERE {}",
        r.sql_name,
        super::probe::among(1)
    );
    tx.batch_execute("SAVEPOINT dbkit_read").await?;
    let read = async {
        act(tx, run.tenancy, who).await?;
        tx.query_one(&sql, &[&ids]).await
    }
    .await;
    tx.batch_execute("ROLLBACK TO SAVEPOINT dbkit_read").await?;
    match read {
        Ok(row) => Ok(row.get::<_, i64>(0) as u64),
        Err(e) if matches!(classify(&e), Outcome::Denied) => Ok(0),
        Err(e) => Err(e.into()),
    }
}

/// A probe's verdict.
enum Verdict {
    Isolated,
    /// A leak: what happened, and how severe.
    Leak(String, Severity),
    /// The proof could not tell: its own failure.
    Failed(String),
}

/// Judge a write that went through, reading the table back as the owner.
async fn judge_write(tx: &Transaction<'_>, run: &Run<'_>, probe: &Probe) -> Result<Verdict> {
    let Target::Relation(oid) = probe.target else {
        return Ok(Verdict::Isolated);
    };
    let Some(r) = run.facts.relation(oid) else {
        return Ok(Verdict::Isolated);
    };
    act(tx, run.tenancy, Who::Owner).await?;
    let after = snapshot::take(tx, r).await?;
    let before = run.before.get(&oid).map(Vec::as_slice).unwrap_or_default();
    let d = diff(r, before, &after);
    let owners = run.owners();
    let owner = |row: &snapshot::Row| owners.of(oid, row);
    let leak = |n: usize, extra: String| {
        let what = probe
            .leak
            .replace("{n}", &n.to_string())
            .replace("{then}", &extra);
        Verdict::Leak(what, Severity::Error)
    };
    let touched = |tenant: Option<Tenant>| {
        d.changed
            .iter()
            .map(|(b, _)| b)
            .chain(&d.deleted)
            .filter(|row| tenant.is_none() || owner(row) == tenant)
            .count()
    };
    Ok(match probe.judge {
        Judge::Read => Verdict::Isolated,
        Judge::OthersTouched => match touched(Some(Tenant::B)) {
            0 => Verdict::Isolated,
            n => leak(n, String::new()),
        },
        Judge::AnyTouched => match touched(None) {
            0 => Verdict::Isolated,
            n => leak(n, String::new()),
        },
        Judge::MovedToOther => {
            let moved: Vec<&snapshot::Row> = d
                .changed
                .iter()
                .filter(|(b, a)| owner(b) == Some(Tenant::A) && owner(a) == Some(Tenant::B))
                .map(|(_, a)| a)
                .collect();
            match visible_to(tx, run, oid, &moved, Who::Member(run.b)).await? {
                0 => Verdict::Isolated,
                n => leak(n as usize, String::new()),
            }
        }
        Judge::Joined => {
            let joined = d.created.iter().any(|row| {
                owner(row) == Some(Tenant::B)
                    && run.tenancy.membership.as_ref().is_some_and(|m| {
                        row.get(&m.user_column).and_then(Value::as_str)
                            == Some(run.a.member.as_str())
                    })
            });
            if !joined {
                return Ok(Verdict::Isolated);
            }
            // With the membership in place, does A read B's tenant row?
            let tenant_row = run.tenancy.tenant_table.as_ref().and_then(|t| {
                let rows = run.before.get(&t.oid)?;
                let b_rows = owners.rows_of(t.oid, rows, Tenant::B);
                Some((t.oid, t.table.clone(), b_rows))
            });
            let mut reads = false;
            if let Some((t, _, rows)) = &tenant_row {
                reads = visible_to(tx, run, *t, rows, Who::Member(run.a)).await? > 0;
            }
            let then = membership_self_insert::then(
                reads,
                tenant_row.as_ref().map(|(_, n, _)| n.as_str()),
            );
            leak(1, then)
        }
        Judge::Planted => {
            let created: Vec<&snapshot::Row> = d.created.iter().collect();
            if created.is_empty() {
                return Ok(Verdict::Isolated);
            }
            // A new tenant is its creator's (create-an-organisation); who else reads it
            // is the SELECT probe's business. Created by anon, it is an open form.
            let new_tenant = matches!(
                run.tenancy.of(oid).map(|t| &t.kind),
                Some(Kind::Tenant { .. })
            );
            if new_tenant {
                return Ok(match probe.actor {
                    Actor::Member => Verdict::Isolated,
                    Actor::Anon => Verdict::Leak(
                        format!(
                            "{}: anyone may create a tenant — intended (sign-up)? If so, ignore this warning",
                            probe.leak.replace("{n}", &created.len().to_string())
                        ),
                        Severity::Warning,
                    ),
                });
            }
            let by_b = visible_to(tx, run, oid, &created, Who::Member(run.b)).await?;
            let by_anon = visible_to(tx, run, oid, &created, Who::Anon).await?;
            let by_a = visible_to(tx, run, oid, &created, Who::Member(run.a)).await?;
            let readers: Vec<&str> = [
                (by_b, "tenant B's member"),
                (by_anon, "anon"),
                (by_a, "tenant A's member"),
            ]
            .iter()
            .filter(|(n, _)| *n > 0)
            .map(|(_, who)| *who)
            .collect();
            match probe.actor {
                Actor::Member if by_b + by_anon > 0 => {
                    leak(created.len(), String::new()).with_detail(format!("; read back by {}", readers.join(" and ")))
                }
                Actor::Member => Verdict::Isolated,
                Actor::Anon if !readers.is_empty() => {
                    leak(created.len(), String::new()).with_detail(format!("; read back by {}", readers.join(" and ")))
                }
                Actor::Anon => Verdict::Leak(
                    format!(
                        "{}, but no role other than the service role reads the row: an open form (waitlist, sign-up, contact)? If so, ignore this warning",
                        probe.leak.replace("{n}", &created.len().to_string())
                    ),
                    Severity::Warning,
                ),
            }
        }
    })
}

impl Verdict {
    fn with_detail(self, detail: String) -> Verdict {
        match self {
            Verdict::Leak(what, s) => Verdict::Leak(format!("{what}{detail}"), s),
            other => other,
        }
    }
}

/// Run one probe in a savepoint, as its actor; everything it did is undone.
async fn probe_once(tx: &Transaction<'_>, run: &Run<'_>, probe: &Probe) -> Result<Verdict> {
    let role = probe.actor.role();
    let who = match probe.actor {
        Actor::Anon => Who::Anon,
        Actor::Member => Who::Member(run.a),
    };
    let (sql, values, counted) = match &probe.statement {
        Statement::Count { sql, params } | Statement::Write { sql, params } => {
            let mut values = Vec::new();
            for p in params {
                match run.bind(p, probe) {
                    Some(v) => values.push(v),
                    None => {
                        return Ok(Verdict::Failed(format!(
                            "the fixture has no value to bind for {p:?} (no row of the tenant in the table it names)"
                        )))
                    }
                }
            }
            let counted = matches!(probe.statement, Statement::Count { .. });
            (sql.clone(), values, counted)
        }
        Statement::InsertOther { joining } => {
            let Target::Relation(oid) = probe.target else {
                return Ok(Verdict::Isolated);
            };
            let Some(r) = run.facts.relation(oid) else {
                return Ok(Verdict::Isolated);
            };
            // Joining: B's row, with the acting user as the member (and A's row where
            // the user column's foreign key points, which the fixture would take it from).
            let joiner;
            let org = if *joining {
                let mut org = SeededOrg {
                    member: run.a.member.clone(),
                    ..run.b.clone()
                };
                if let Some(m) = &run.tenancy.membership {
                    for fk in r
                        .foreign_keys
                        .iter()
                        .filter(|f| f.columns == [m.user_column.clone()])
                    {
                        org.rows.insert(
                            fk.target,
                            run.a.rows.get(&fk.target).cloned().unwrap_or_default(),
                        );
                    }
                }
                joiner = org;
                &joiner
            } else {
                run.b
            };
            let acting = (probe.actor == Actor::Member).then_some(run.a.member.as_str());
            match fixture::insert_for(r, run.tenancy, org, 1, 7, acting) {
                Ok((sql, values)) => (sql.replace(" RETURNING to_jsonb(t)", ""), values, false),
                Err(e) => return Ok(Verdict::Failed(e.to_string())),
            }
        }
    };
    tx.batch_execute("SAVEPOINT dbkit_probe").await?;
    let verdict = async {
        act(tx, run.tenancy, who).await?;
        let outcome = if counted {
            match tx.query_one(&sql, &params(&values)).await {
                Ok(row) => Outcome::Rows(row.get::<_, i64>(0) as u64),
                Err(e) => classify(&e),
            }
        } else {
            match tx.execute(&sql, &params(&values)).await {
                Ok(_) => {
                    // Reading back may fail too (a policy of B's that errors): the
                    // proof cannot tell then.
                    return Ok(judge_write(tx, run, probe).await.unwrap_or_else(|e| {
                        Verdict::Failed(format!(
                            "reading back what it wrote failed: {}",
                            crate::error::one_line(&e)
                        ))
                    }));
                }
                Err(e) => classify(&e),
            }
        };
        Ok::<_, anyhow::Error>(match outcome {
            Outcome::Rows(0) | Outcome::Denied => Verdict::Isolated,
            Outcome::Rows(n) => {
                Verdict::Leak(probe.leak.replace("{n}", &n.to_string()), Severity::Error)
            }
            Outcome::Constrained(why) => Verdict::Leak(
                format!(
                    "{role} {} got past row-level security, stopped only by {why}",
                    probe.op.sql()
                ),
                Severity::Error,
            ),
            Outcome::Failed(why) => Verdict::Failed(why),
        })
    }
    .await;
    tx.batch_execute("ROLLBACK TO SAVEPOINT dbkit_probe")
        .await?;
    verdict
}

/// A leak before it is blamed.
struct Leak<'a> {
    probe: &'a Probe,
    what: String,
    severity: Severity,
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
            if r.kind != RelKind::Table {
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

/// A read of per-user rows every user may make on purpose — owner writes, shared
/// reads: the project has no tenant table (each user is a tenant of one), a policy ties
/// the table's rows to their user (`PerUser`, high confidence: `auth.uid() = user_id`
/// on its writes), and every permissive policy letting the probe's role SELECT reads
/// no column of the row — `USING (true)`, `auth.role() = 'authenticated'`: a chat's
/// messages, public profiles. The policies' names, else `None`. Tables of a
/// multi-tenant model, and rows no policy ties to a user, never qualify.
fn shared_read(facts: &Facts, tenancy: &Tenancy, probe: &Probe) -> Option<Vec<String>> {
    if probe.op != super::probe::Op::Select
        || tenancy.tenant_table.is_some()
        || tenancy.membership.is_some()
    {
        return None;
    }
    let Target::Relation(oid) = probe.target else {
        return None;
    };
    let r = facts
        .relation(oid)
        .filter(|r| r.kind == RelKind::Table && r.rls)?;
    // A policy ties the rows to their user (their writes are the user's own), or
    // dbkit.yaml says they are per user.
    if !tenancy.of(oid).is_some_and(|t| {
        matches!(t.kind, Kind::PerUser { .. })
            && (t.configured || t.confidence == crate::schema::tenancy::Confidence::High)
    }) {
        return None;
    }
    let role = probe.actor.role();
    let letting: Vec<_> = facts
        .policies_on(r)
        .filter(|p| p.permissive && (p.cmd == "r" || p.cmd == "*"))
        .filter(|p| p.roles.iter().any(|x| x == "public" || x == role))
        .collect();
    let shared = !letting.is_empty()
        && letting.iter().all(|p| {
            p.using
                .as_deref()
                .is_some_and(|u| crate::schema::tenancy::columns_read(u, &r.short).is_empty())
        });
    shared.then(|| letting.iter().map(|p| p.name.clone()).collect())
}

/// What the probes found, and what each tried.
pub struct Probed {
    pub findings: Vec<Finding>,
    /// Per probe: (object, role, operation) tried.
    pub tried: Vec<(String, &'static str, &'static str)>,
    /// (object, role, operation) of every error-severity leak.
    pub leaked: Vec<(String, &'static str, &'static str)>,
    /// (object, operation) of every probe the proof could judge (not its own failure).
    pub judged: Vec<(String, &'static str)>,
}

/// Run every probe; `tenant-leak` (and `membership-self-insert`) for what got through,
/// `proof-failed` for what the proof could not tell.
pub async fn run_probes(
    client: &mut Client,
    facts: &Facts,
    tenancy: &Tenancy,
    probes: &[Probe],
    orgs: &[SeededOrg],
    locator: &Locator,
) -> Result<Probed> {
    let (a, b) = (&orgs[0], &orgs[1]);
    let mut findings = Vec::new();
    let mut leaks = Vec::new();
    let mut tried = Vec::new();
    let mut judged = Vec::new();
    for actor in [Actor::Member, Actor::Anon] {
        let tx = begin(client, tenancy).await?;
        let role = actor.role();
        let who = match actor {
            Actor::Anon => Who::Anon,
            Actor::Member => Who::Member(a),
        };
        tx.batch_execute("SAVEPOINT dbkit_role").await?;
        if let Err(e) = act(&tx, tenancy, who).await {
            findings.push(Finding::new(
                Rule::ProofFailed,
                format!(
                    "the proof cannot act as {role} (SET ROLE {role}): {}; nothing was tested as {role}",
                    fixture::refusal(&e)
                ),
            ));
            continue;
        }
        tx.batch_execute("ROLLBACK TO SAVEPOINT dbkit_role").await?;
        let run = Run {
            facts,
            tenancy,
            a,
            b,
            before: snapshots(&tx, facts, tenancy).await?,
        };
        for probe in probes.iter().filter(|p| p.actor == actor) {
            tried.push((probe.object.clone(), role, probe.op.sql()));
            let verdict = probe_once(&tx, &run, probe).await?;
            if !matches!(verdict, Verdict::Failed(_)) {
                judged.push((probe.object.clone(), probe.op.sql()));
            }
            match verdict {
                Verdict::Isolated => {}
                Verdict::Leak(what, severity) => {
                    let (what, severity) = match shared_read(facts, tenancy, probe) {
                        Some(policies) if severity == Severity::Error => (
                            format!(
                                "{what}, every user's rows readable on purpose by {} (no column of the row in its USING): rows of one user, shared with {}, not a leak between tenants — review that nothing private is kept there (sensitive-columns-exposed reports secrets and personal data)",
                                policies.join(", "),
                                if probe.actor == Actor::Anon { "everyone" } else { "every signed-in user" }
                            ),
                            Severity::Warning,
                        ),
                        _ => (what, severity),
                    };
                    leaks.push(Leak {
                        probe,
                        what,
                        severity,
                    })
                }
                Verdict::Failed(why) => findings.push(
                    Finding::new(
                        Rule::ProofFailed,
                        format!(
                            "{}: the proof's {} as {role} failed on its own, so this is unproven: {why}",
                            probe.object,
                            probe.op.sql()
                        ),
                    )
                    .object(probe.object.clone()),
                ),
            }
        }
        tx.rollback().await?;
    }
    findings.dedup();
    let leaked = leaks
        .iter()
        .filter(|l| l.severity == Severity::Error)
        .map(|l| {
            (
                l.probe.object.clone(),
                l.probe.actor.role(),
                l.probe.op.sql(),
            )
        })
        .collect();
    // One finding per object, role, rule and severity: what each request did, and
    // what allowed it, placed at the statement defined last among those to blame.
    // (rule, severity, probe, what each request did, the keys to blame)
    type Group<'p> = (Rule, Severity, &'p Probe, Vec<String>, Vec<Vec<String>>);
    let mut groups: Vec<Group> = Vec::new();
    for leak in &leaks {
        let (cause, keys) = blame(client, facts, leak).await?;
        let rule = match leak.probe.judge {
            Judge::Joined => Rule::MembershipSelfInsert,
            _ => Rule::TenantLeak,
        };
        let part = format!(
            "{} — {} as {} allowed by {cause}",
            leak.what,
            leak.probe.op.sql(),
            leak.probe.actor.role()
        );
        let same = |g: &&mut (Rule, Severity, &Probe, Vec<String>, Vec<Vec<String>>)| {
            g.0 == rule
                && g.1 == leak.severity
                && g.2.object == leak.probe.object
                && g.2.actor == leak.probe.actor
        };
        match groups.iter_mut().find(same) {
            Some(g) => {
                g.3.push(part);
                g.4.extend(keys);
            }
            None => groups.push((rule, leak.severity, leak.probe, vec![part], keys)),
        }
    }
    for (rule, severity, probe, parts, keys) in groups {
        let mut finding = Finding::new(rule, format!("{}: {}", probe.object, parts.join("; ")))
            .object(probe.object.clone());
        finding.severity = severity;
        let keys: Vec<&[String]> = keys.iter().map(Vec::as_slice).collect();
        if let Some((_, (file, line))) = locator.latest(&keys) {
            finding = finding.at(file, line);
        }
        findings.push(finding);
    }
    Ok(Probed {
        findings,
        tried,
        leaked,
        judged,
    })
}
