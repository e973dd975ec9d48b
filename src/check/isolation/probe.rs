//! Probe planning: which requests the proof makes, as PostgREST would make them, for
//! every relation the model or the API exposes. A pure function of the facts and the
//! tenancy model; the fixture's values are bound when a probe runs (`execute`).
//!
//! As an authenticated member of tenant A: read tenant B's rows; insert a row carrying
//! B's key (into the membership table: A's own membership of B); move one of A's rows
//! to B; update and delete B's rows (picked by primary key, not by tenant key). Through
//! every exposed view and zero-argument set-returning function: read B's rows. As
//! anon: read anything, and every write.
//!
//! Each probe says how its outcome is judged (`Judge`): a write is read back from the
//! tables as the owner, not counted.

use serde::Serialize;

use crate::db::ident::quote;
use crate::schema::facts::{Facts, RelKind, Relation};
use crate::schema::tenancy::{Kind, Membership, Tenancy};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Actor {
    Anon,
    /// An authenticated member of tenant A.
    Member,
}

impl Actor {
    pub fn role(self) -> &'static str {
        match self {
            Actor::Anon => "anon",
            Actor::Member => "authenticated",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Op {
    Select,
    Insert,
    Update,
    Delete,
}

impl Op {
    pub fn sql(self) -> &'static str {
        match self {
            Op::Select => "SELECT",
            Op::Insert => "INSERT",
            Op::Update => "UPDATE",
            Op::Delete => "DELETE",
        }
    }

    /// pg_policy.polcmd.
    pub fn polcmd(self) -> &'static str {
        match self {
            Op::Select => "r",
            Op::Insert => "a",
            Op::Update => "w",
            Op::Delete => "d",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Relation(u32),
    Function(u32),
}

/// A value bound when the probe runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Param {
    /// Tenant B's rows of the target, as a JSON array of their primary keys.
    OtherRows,
    /// Tenant A's rows of the target, likewise.
    OwnRows,
    /// Tenant B's key, as text.
    OtherKey,
    /// Tenant A's key, as text.
    OwnKey,
    /// The value in column `column` of tenant B's first row of table `table`.
    OtherValue { table: u32, column: String },
    /// Likewise of tenant A's.
    OwnValue { table: u32, column: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Statement {
    /// A query returning one count: rows read.
    Count { sql: String, params: Vec<Param> },
    /// A write. No RETURNING, as PostgREST's `return=minimal` (that would also apply
    /// SELECT policies to the new rows).
    Write { sql: String, params: Vec<Param> },
    /// The fixture's INSERT of a new row of tenant B; `joining`: into the membership
    /// table, with the acting user as the member (A joins B).
    InsertOther { joining: bool },
}

/// How a probe's outcome is judged, from the rows read or the tables read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Judge {
    /// A count of rows read: any is a leak.
    Read,
    /// Tenant B's rows written or deleted.
    OthersTouched,
    /// Tenant A's rows now tenant B's, where B's member reads them.
    MovedToOther,
    /// New rows: read by another tenant (or anyone, after anon) is a leak; read by
    /// nobody but the service role, an open INSERT to review.
    Planted,
    /// Any row written or deleted (anon).
    AnyTouched,
    /// A's own membership of tenant B created.
    Joined,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub target: Target,
    pub judge: Judge,
    /// As reported.
    pub object: String,
    pub actor: Actor,
    pub op: Op,
    /// What a leak means, with `{n}` for the count.
    pub leak: String,
    pub statement: Statement,
}

/// `to_jsonb(t)` is one of the rows in `$n` (a JSON array of primary keys).
pub fn among(n: usize) -> String {
    format!(
        "EXISTS (SELECT 1 FROM jsonb_array_elements(${n}::text::jsonb) e WHERE to_jsonb(t) @> e)"
    )
}

/// A column an UPDATE may set to itself.
fn settable(r: &Relation) -> Option<String> {
    r.columns
        .iter()
        .find(|c| c.writable())
        .map(|c| quote(&c.name))
}

fn count(sql: String, params: Vec<Param>) -> Statement {
    Statement::Count { sql, params }
}

fn write(sql: String, params: Vec<Param>) -> Statement {
    Statement::Write { sql, params }
}

/// The probes of one table the model names.
fn table_probes(r: &Relation, kind: &Kind, membership: Option<&Membership>, out: &mut Vec<Probe>) {
    let name = &r.sql_name;
    let probe = |actor, op, judge, leak: &str, statement| Probe {
        target: Target::Relation(r.oid),
        judge,
        object: r.name.clone(),
        actor,
        op,
        leak: leak.to_string(),
        statement,
    };
    // `sql` run by a member on tenant B's rows (picked by primary key) and by anon on
    // every row.
    let member_and_anon =
        |op, statement: fn(String, Vec<Param>) -> Statement, sql: String, leaks: [&str; 2]| {
            let member_sql = format!("{sql} WHERE {}", among(1));
            let (member, anon) = match op {
                Op::Select => (Judge::Read, Judge::Read),
                _ => (Judge::OthersTouched, Judge::AnyTouched),
            };
            [
                probe(
                    Actor::Member,
                    op,
                    member,
                    leaks[0],
                    statement(member_sql, vec![Param::OtherRows]),
                ),
                probe(Actor::Anon, op, anon, leaks[1], statement(sql, vec![])),
            ]
        };
    let public = matches!(kind, Kind::Public);
    if !public {
        out.extend(member_and_anon(
            Op::Select,
            count,
            format!("SELECT count(*) FROM {name} AS t"),
            [
                "SELECT read {n} row(s) of tenant B",
                "anon SELECT read {n} row(s)",
            ],
        ));
    }
    if let Some(c) = settable(r) {
        out.extend(member_and_anon(
            Op::Update,
            write,
            format!("UPDATE {name} AS t SET {c} = t.{c}"),
            [
                "UPDATE changed {n} row(s) of tenant B (picked by primary key, no tenant filter)",
                "anon UPDATE changed {n} row(s)",
            ],
        ));
    }
    out.push(probe(
        Actor::Member,
        Op::Delete,
        Judge::OthersTouched,
        "DELETE removed {n} row(s) of tenant B (picked by primary key, no tenant filter)",
        write(
            format!("DELETE FROM {name} AS t WHERE {}", among(1)),
            vec![Param::OtherRows],
        ),
    ));
    out.push(probe(
        Actor::Anon,
        Op::Delete,
        Judge::AnyTouched,
        "anon DELETE removed {n} row(s)",
        write(
            format!("DELETE FROM {name} AS t WHERE {} OR {}", among(1), among(2)),
            vec![Param::OtherRows, Param::OwnRows],
        ),
    ));
    out.push(probe(
        Actor::Anon,
        Op::Insert,
        Judge::Planted,
        "anon INSERT was accepted",
        Statement::InsertOther { joining: false },
    ));
    if matches!(kind, Kind::Tenant { .. }) {
        // A new tenant is nobody's yet (create-an-organisation): a leak only when
        // another tenant then reads it.
        out.push(probe(
            Actor::Member,
            Op::Insert,
            Judge::Planted,
            "INSERT of a new tenant was accepted",
            Statement::InsertOther { joining: false },
        ));
        return;
    }
    if public {
        return;
    }
    if membership.is_some_and(|m| m.oid == r.oid) {
        out.push(joining(r, membership));
    } else {
        out.push(probe(
            Actor::Member,
            Op::Insert,
            Judge::Planted,
            "INSERT of a row carrying tenant B's key was accepted",
            Statement::InsertOther { joining: false },
        ));
    }
    // Without a WHERE clause no column is read, so only the UPDATE policy (not the
    // SELECT one) decides which rows change: set the tenant key (or the parent, for a
    // child) to B's, moving A's rows; then to A's, taking over B's.
    let tenant_column = match kind {
        Kind::Keyed { key } => r.columns.iter().find(|c| &c.name == key).map(|c| {
            (
                key.clone(),
                c.sql_type.clone(),
                Param::OtherKey,
                Param::OwnKey,
            )
        }),
        Kind::Child {
            via, parent_oid, ..
        } if via.len() == 1 => {
            let fk = r.foreign_keys.iter().find(|f| &f.columns == via);
            fk.and_then(|f| {
                let c = r.columns.iter().find(|c| c.name == via[0])?;
                let (table, column) = (*parent_oid, f.target_columns[0].clone());
                Some((
                    via[0].clone(),
                    c.sql_type.clone(),
                    Param::OtherValue {
                        table,
                        column: column.clone(),
                    },
                    Param::OwnValue { table, column },
                ))
            })
        }
        _ => None,
    };
    if let Some((column, sql_type, other, own)) = tenant_column {
        let c = quote(&column);
        let sql = format!("UPDATE {name} AS t SET {c} = $1::text::{sql_type}");
        let (sql_anon, other_anon) = (sql.clone(), other.clone());
        out.push(probe(
            Actor::Member,
            Op::Update,
            Judge::MovedToOther,
            &format!("UPDATE without a filter moved {{n}} row(s) of tenant A to tenant B (SET {column} = B's), where B's member reads them"),
            write(sql.clone(), vec![other]),
        ));
        out.push(probe(
            Actor::Member,
            Op::Update,
            Judge::OthersTouched,
            &format!(
                "UPDATE without a filter took over {{n}} row(s) of tenant B (SET {column} = A's)"
            ),
            write(sql, vec![own]),
        ));
        out.push(probe(
            Actor::Anon,
            Op::Update,
            Judge::AnyTouched,
            &format!("anon UPDATE without a filter changed {{n}} row(s) (SET {column})"),
            write(sql_anon, vec![other_anon]),
        ));
    }
}

/// Reads through a view or function: B's rows are those carrying B's key.
fn read_probes(
    target: Target,
    object: &str,
    from: &str,
    keys: &[String],
    anon: bool,
    authenticated: bool,
    out: &mut Vec<Probe>,
) {
    if anon {
        out.push(Probe {
            target,
            judge: Judge::Read,
            object: object.to_string(),
            actor: Actor::Anon,
            op: Op::Select,
            leak: "anon SELECT read {n} row(s)".into(),
            statement: count(format!("SELECT count(*) FROM {from} AS t"), vec![]),
        });
    }
    if authenticated && !keys.is_empty() {
        let carries: Vec<String> = keys
            .iter()
            .map(|k| format!("to_jsonb(t) ->> '{}' = $1", k.replace('\'', "''")))
            .collect();
        out.push(Probe {
            target,
            judge: Judge::Read,
            object: object.to_string(),
            actor: Actor::Member,
            op: Op::Select,
            leak: "SELECT read {n} row(s) of tenant B".into(),
            statement: count(
                format!(
                    "SELECT count(*) FROM {from} AS t WHERE {}",
                    carries.join(" OR ")
                ),
                vec![Param::OtherKey],
            ),
        });
    }
}

/// Why a table the model names is not probed, if it is not.
pub fn skipped(facts: &Facts, tenancy: &Tenancy, oid: u32) -> Option<&'static str> {
    let t = tenancy.of(oid)?;
    let r = facts.relation(oid)?;
    if t.closed {
        Some("service role only (row-level security on, no policy for an API role)")
    } else if !(r.anon || r.authenticated) {
        Some("no API role holds a privilege on it")
    } else {
        None
    }
}

/// Every probe, for the tables the model names (except those not filled, and those no
/// API role can touch), the exposed views and the exposed zero-argument set-returning
/// functions that are not SECURITY DEFINER (those are called with arguments, by
/// `security_definer_leak`).
pub fn plan(facts: &Facts, tenancy: &Tenancy, unfilled: &[u32]) -> Vec<Probe> {
    let mut out = Vec::new();
    for t in &tenancy.tables {
        if unfilled.contains(&t.oid) || skipped(facts, tenancy, t.oid).is_some() {
            continue;
        }
        if let Some(r) = facts.relation(t.oid) {
            table_probes(r, &t.kind, tenancy.membership.as_ref(), &mut out);
        }
    }
    let mut keys: Vec<String> = tenancy
        .tables
        .iter()
        .filter_map(|t| match &t.kind {
            Kind::Keyed { key } => Some(key.clone()),
            _ => None,
        })
        .collect();
    keys.sort();
    keys.dedup();
    for v in facts
        .relations
        .iter()
        .filter(|r| r.exposed && r.kind != RelKind::Table)
    {
        read_probes(
            Target::Relation(v.oid),
            &v.name,
            &v.sql_name,
            &keys,
            v.anon,
            v.authenticated,
            &mut out,
        );
    }
    for f in facts.functions.iter().filter(|f| {
        f.exposed && f.returns_set && f.required_args == 0 && !f.is_trigger && !f.security_definer
    }) {
        read_probes(
            Target::Function(f.oid),
            &format!("{}()", f.name),
            &format!("{}()", f.sql_name),
            &keys,
            f.anon,
            f.authenticated,
            &mut out,
        );
    }
    out
}

/// `membership-self-insert`'s probe: A's own membership of B (the fixture's row for B, with the acting user in
/// the membership's user column).
pub fn joining(r: &Relation, membership: Option<&Membership>) -> Probe {
    let user = membership.map_or("user", |m| m.user_column.as_str());
    let key = membership.map_or("tenant", |m| m.key.as_str());
    Probe {
        target: Target::Relation(r.oid),
        judge: Judge::Joined,
        object: r.name.clone(),
        actor: Actor::Member,
        op: Op::Insert,
        leak: format!(
            "a member of tenant A inserted its own membership of tenant B ({user} = A's user, {key} = B's){{then}}: any user joins any tenant"
        ),
        statement: Statement::InsertOther { joining: true },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::facts::testing::{policy, references, table};
    use crate::schema::facts::Function;
    use crate::schema::tenancy::infer;
    use crate::schema::Config;

    #[test]
    fn the_membership_probe_joins_as_the_acting_user() {
        let members = table(2, "members", &["org_id", "user_id"]);
        let m = Membership {
            oid: 2,
            table: "members".into(),
            key: "org_id".into(),
            user_column: "user_id".into(),
        };
        let p = joining(&members, Some(&m));
        assert_eq!(p.statement, Statement::InsertOther { joining: true });
        assert_eq!(p.judge, Judge::Joined);
        assert!(
            p.leak.contains("user_id = A's user, org_id = B's"),
            "{}",
            p.leak
        );
    }

    fn facts() -> Facts {
        let orgs = table(1, "orgs", &["id"]);
        let mut appointments = table(2, "appointments", &["id", "org_id"]);
        references(&mut appointments, "org_id", 1, "id");
        let mut notes = table(3, "notes", &["id", "appointment_id"]);
        references(&mut notes, "appointment_id", 2, "id");
        let mut view = table(4, "appointments_v", &["id", "org_id"]);
        view.kind = RelKind::View;
        view.reads = vec![2];
        let policies = vec![
            policy(
                &appointments,
                "tenant",
                "*",
                Some("(org_id = ( SELECT ((auth.jwt() ->> 'org_id'::text))::uuid AS uuid))"),
                None,
            ),
            policy(
                &orgs,
                "own",
                "r",
                Some("(id = ( SELECT ((auth.jwt() ->> 'org_id'::text))::uuid AS uuid))"),
                None,
            ),
            policy(
                &notes,
                "via",
                "*",
                Some(
                    "(EXISTS ( SELECT 1 FROM appointments a WHERE (a.id = notes.appointment_id)))",
                ),
                None,
            ),
        ];
        Facts {
            relations: vec![orgs, appointments, notes, view],
            triggers: vec![],
            functions: vec![Function {
                oid: 9,
                name: "all_appointments".into(),
                short: "all_appointments".into(),
                sql_name: "public.all_appointments".into(),
                exposed: true,
                security_definer: false,
                returns_set: true,
                required_args: 0,
                is_trigger: false,
                anon: true,
                authenticated: true,
                body: String::new(),
                returns: String::new(),
                args: vec![],
            }],
            policies,
        }
    }

    /// The probes planned for `facts()` with the default configuration.
    fn planned(unfilled: &[u32]) -> Vec<Probe> {
        let facts = facts();
        plan(&facts, &infer(&facts, &Config::default()), unfilled)
    }

    fn find<'a>(probes: &'a [Probe], object: &str, actor: Actor, leak: &str) -> Vec<&'a Probe> {
        probes
            .iter()
            .filter(|p| p.object == object && p.actor == actor && p.leak.contains(leak))
            .collect()
    }

    #[test]
    fn tenant_tables_get_every_probe() {
        let probes = planned(&[]);
        let read = find(&probes, "appointments", Actor::Member, "SELECT read");
        assert!(
            matches!(&read[0].statement, Statement::Count { params, .. } if params == &[Param::OtherRows])
        );
        let moved = find(&probes, "appointments", Actor::Member, "filter moved");
        match &moved[0].statement {
            Statement::Write { sql, params } => {
                assert!(!sql.contains("WHERE"), "{sql}");
                assert_eq!(params, &[Param::OtherKey]);
            }
            other => panic!("{other:?}"),
        }
        let takeover = find(&probes, "appointments", Actor::Member, "took over");
        assert_eq!(takeover[0].judge, Judge::OthersTouched);
        for op in [Op::Insert, Op::Update, Op::Delete] {
            assert!(
                probes
                    .iter()
                    .any(|p| p.object == "appointments" && p.actor == Actor::Anon && p.op == op),
                "anon {op:?}"
            );
        }
        // The tenant table: a new tenant is judged by who reads it; no move.
        assert!(probes
            .iter()
            .any(|p| p.object == "orgs" && p.op == Op::Insert && p.judge == Judge::Planted));
        assert!(!probes
            .iter()
            .any(|p| p.object == "orgs" && p.judge == Judge::MovedToOther));
        assert!(find(&probes, "orgs", Actor::Member, "SELECT read").len() == 1);
    }

    #[test]
    fn children_move_through_their_parent_and_views_and_functions_are_read() {
        let probes = planned(&[]);
        let moved = find(&probes, "notes", Actor::Member, "filter moved");
        assert!(
            matches!(&moved[0].statement, Statement::Write { params, .. }
            if params == &[Param::OtherValue { table: 2, column: "id".into() }])
        );
        let view = find(&probes, "appointments_v", Actor::Member, "SELECT read");
        assert!(
            matches!(&view[0].statement, Statement::Count { sql, .. } if sql.contains("'org_id'"))
        );
        assert_eq!(
            find(&probes, "all_appointments()", Actor::Anon, "anon SELECT").len(),
            1
        );
    }

    #[test]
    fn unfilled_tables_are_not_probed() {
        let probes = planned(&[3]);
        assert!(!probes.iter().any(|p| p.object == "notes"));
    }

    #[test]
    fn service_role_only_tables_are_skipped_and_memberships_joined() {
        let mut f = facts();
        f.policies.retain(|p| p.table != "notes");
        let tenancy = infer(&f, &Config::default());
        assert!(skipped(&f, &tenancy, 3).is_some_and(|why| why.contains("service role only")));
        assert!(!plan(&f, &tenancy, &[]).iter().any(|p| p.object == "notes"));

        let mut members = table(5, "members", &["org_id", "user_id"]);
        references(&mut members, "org_id", 1, "id");
        f.policies.push(policy(
            &members,
            "join",
            "a",
            None,
            Some("((user_id = auth.uid()) OR (org_id = ( SELECT ((auth.jwt() ->> 'org_id'::text))::uuid AS uuid)))"),
        ));
        f.relations.push(members);
        let tenancy = infer(&f, &Config::default());
        assert_eq!(
            tenancy.membership.as_ref().map(|m| m.table.as_str()),
            Some("members")
        );
        let probes = plan(&f, &tenancy, &[]);
        let joins: Vec<&Probe> = probes
            .iter()
            .filter(|p| p.object == "members" && p.op == Op::Insert && p.actor == Actor::Member)
            .collect();
        assert_eq!(joins.len(), 1);
        assert_eq!(joins[0].statement, Statement::InsertOther { joining: true });
    }
}
