//! What a probe did, read back instead of counted: each table's rows as the owner sees
//! them (past row-level security), before and after a probe, matched by primary key,
//! and whose rows they are. A trigger that keeps an UPDATE in tenant A, or rows a
//! trigger made for A, then count as what they are, not as affected rows.

use std::collections::HashMap;

use anyhow::Result;
use serde_json::{Map, Value};
use tokio_postgres::Transaction;

use super::fixture::SeededOrg;
use crate::schema::facts::{Facts, Relation};
use crate::schema::tenancy::{Kind, Tenancy};

pub type Row = Map<String, Value>;

/// One row as stored: its physical place (an UPDATE always writes a new one, even of
/// the same values) and its values.
#[derive(Debug, Clone, PartialEq)]
pub struct Stored {
    pub ctid: String,
    pub row: Row,
}

/// Every row of `r`, as the role the transaction runs as sees them (the owner).
pub async fn take(tx: &Transaction<'_>, r: &Relation) -> Result<Vec<Stored>> {
    let sql = format!("SELECT t.ctid::text, to_jsonb(t) FROM {} AS t", r.sql_name);
    Ok(tx
        .query(&sql, &[])
        .await?
        .iter()
        .map(|row| Stored {
            ctid: row.get(0),
            row: row
                .get::<_, Value>(1)
                .as_object()
                .cloned()
                .unwrap_or_default(),
        })
        .collect())
}

/// A row's identity: its primary key's values, or the whole row without one.
pub fn identity(r: &Relation, row: &Row) -> Row {
    if r.primary_key.is_empty() {
        return row.clone();
    }
    r.primary_key
        .iter()
        .filter_map(|k| row.get(k).map(|v| (k.clone(), v.clone())))
        .collect()
}

/// The identities of `rows` as a JSON array (what `probe::among` binds).
pub fn identities<'a>(r: &Relation, rows: impl IntoIterator<Item = &'a Row>) -> String {
    Value::Array(
        rows.into_iter()
            .map(|row| Value::Object(identity(r, row)))
            .collect(),
    )
    .to_string()
}

/// What changed between two snapshots of one table.
#[derive(Debug, Default, PartialEq)]
pub struct Diff {
    /// (before, after) of rows written again (even with the same values).
    pub changed: Vec<(Row, Row)>,
    pub deleted: Vec<Row>,
    pub created: Vec<Row>,
}

pub fn diff(r: &Relation, before: &[Stored], after: &[Stored]) -> Diff {
    let mut out = Diff::default();
    let after_by_id: Vec<(Row, &Stored)> = after.iter().map(|s| (identity(r, &s.row), s)).collect();
    let mut matched = vec![false; after.len()];
    for b in before {
        let id = identity(r, &b.row);
        match after_by_id.iter().position(|(a, _)| *a == id) {
            Some(i) => {
                matched[i] = true;
                let a = after_by_id[i].1;
                if a.ctid != b.ctid {
                    out.changed.push((b.row.clone(), a.row.clone()));
                }
            }
            None => out.deleted.push(b.row.clone()),
        }
    }
    for (i, s) in after.iter().enumerate() {
        if !matched[i] {
            out.created.push(s.row.clone());
        }
    }
    out
}

/// One of the two tenants the proof acts between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tenant {
    A,
    B,
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Whose rows are whose: by tenant key, by user column, or through a child's parent
/// row (looked up in the parents' snapshots).
pub struct Owners<'a> {
    pub facts: &'a Facts,
    pub tenancy: &'a Tenancy,
    pub a: &'a SeededOrg,
    pub b: &'a SeededOrg,
    /// The snapshots parents are looked up in.
    pub tables: &'a HashMap<u32, Vec<Stored>>,
}

impl Owners<'_> {
    pub fn of(&self, oid: u32, row: &Row) -> Option<Tenant> {
        self.of_at(oid, row, 0)
    }

    fn tenant_of(&self, value: Option<&Value>, user: bool) -> Option<Tenant> {
        let value = value.filter(|v| !v.is_null()).map(text)?;
        let (a, b) = if user {
            (&self.a.member, &self.b.member)
        } else {
            (&self.a.id, &self.b.id)
        };
        if &value == a {
            Some(Tenant::A)
        } else if &value == b {
            Some(Tenant::B)
        } else {
            None
        }
    }

    fn of_at(&self, oid: u32, row: &Row, depth: usize) -> Option<Tenant> {
        if depth > 8 {
            return None;
        }
        match &self.tenancy.of(oid)?.kind {
            Kind::Tenant { key } | Kind::Keyed { key } => self.tenant_of(row.get(key), false),
            Kind::PerUser { column } => self.tenant_of(row.get(column), true),
            Kind::Child {
                via, parent_oid, ..
            } => {
                let r = self.facts.relation(oid)?;
                let fk = r.foreign_keys.iter().find(|f| &f.columns == via)?;
                let parents = self.tables.get(parent_oid)?;
                let parent = parents.iter().find(|p| {
                    fk.columns.iter().zip(&fk.target_columns).all(|(c, tc)| {
                        row.get(c)
                            .is_some_and(|v| !v.is_null() && p.row.get(tc) == Some(v))
                    })
                })?;
                self.of_at(*parent_oid, &parent.row, depth + 1)
            }
            Kind::Public => None,
        }
    }

    /// The rows of `oid` in `rows` that belong to `tenant`.
    pub fn rows_of<'r>(&self, oid: u32, rows: &'r [Stored], tenant: Tenant) -> Vec<&'r Row> {
        rows.iter()
            .map(|s| &s.row)
            .filter(|row| self.of(oid, row) == Some(tenant))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::facts::testing::policy;
    use crate::schema::facts::testing::{references, table, tenancy_of};
    use serde_json::json;

    fn stored(ctid: &str, v: Value) -> Stored {
        Stored {
            ctid: ctid.into(),
            row: v.as_object().unwrap().clone(),
        }
    }

    #[test]
    fn rows_are_matched_by_primary_key_and_a_rewrite_is_a_change() {
        let r = table(1, "notes", &["id", "org_id"]);
        let before = vec![
            stored("(0,1)", json!({"id": "1", "org_id": "a"})),
            stored("(0,2)", json!({"id": "2", "org_id": "b"})),
            stored("(0,3)", json!({"id": "3", "org_id": "b"})),
        ];
        let after = vec![
            stored("(0,1)", json!({"id": "1", "org_id": "a"})),
            // Same values, written again: an UPDATE went through.
            stored("(0,4)", json!({"id": "2", "org_id": "b"})),
            stored("(0,5)", json!({"id": "4", "org_id": "b"})),
        ];
        let d = diff(&r, &before, &after);
        assert_eq!(d.changed.len(), 1);
        assert_eq!(d.changed[0].0["id"], "2");
        assert_eq!(d.deleted, vec![before[2].row.clone()]);
        assert_eq!(d.created, vec![after[2].row.clone()]);
        assert_eq!(identities(&r, [&before[0].row]), r#"[{"id":"1"}]"#);
    }

    #[test]
    fn owners_by_key_by_user_and_through_the_parent() {
        let orgs = table(1, "orgs", &["id"]);
        let mut tasks = table(2, "tasks", &["id", "org_id"]);
        references(&mut tasks, "org_id", 1, "id");
        let mut notes = table(3, "task_notes", &["id", "task_id"]);
        references(&mut notes, "task_id", 2, "id");
        let tenant = "(org_id = ( SELECT ((auth.jwt() ->> 'org_id'::text))::uuid AS uuid))";
        let policies = vec![
            policy(&tasks, "t", "*", Some(tenant), None),
            policy(
                &notes,
                "n",
                "*",
                Some("(EXISTS ( SELECT 1 FROM tasks t WHERE (t.id = task_notes.task_id)))"),
                None,
            ),
        ];
        let facts = Facts {
            relations: vec![orgs.clone(), tasks.clone(), notes.clone()],
            policies: policies.clone(),
            ..Facts::default()
        };
        let tenancy = tenancy_of(vec![orgs, tasks, notes], policies);
        let org = |id: &str, member: &str| SeededOrg {
            id: id.into(),
            member: member.into(),
            rows: HashMap::new(),
        };
        let (a, b) = (org("A", "ua"), org("B", "ub"));
        let tables =
            HashMap::from([(2, vec![stored("(0,1)", json!({"id": "t1", "org_id": "B"}))])]);
        let owners = Owners {
            facts: &facts,
            tenancy: &tenancy,
            a: &a,
            b: &b,
            tables: &tables,
        };
        let row = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(owners.of(2, &row(json!({"org_id": "A"}))), Some(Tenant::A));
        assert_eq!(
            owners.of(3, &row(json!({"task_id": "t1"}))),
            Some(Tenant::B)
        );
        assert_eq!(owners.of(3, &row(json!({"task_id": "t9"}))), None);
        assert_eq!(owners.of(1, &row(json!({"id": "B"}))), Some(Tenant::B));
    }
}
