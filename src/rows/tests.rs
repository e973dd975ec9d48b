//! Unit tests of the plan and the generator together (pure: facts built by hand).
use std::collections::HashMap;

use super::column::Window;
use super::generate::{anchor_of, Generator, Params, Sink, Stopped};
use super::plan::{Count, Plan, Role, RowsProfile};
use super::value::Value;
use crate::schema::facts::testing::{references, table, tenancy_of};
use crate::schema::facts::{Check, Relation};
use crate::schema::Model;

fn typed(r: &mut Relation, column: &str, base: &str, category: &str) {
    let c = r.columns.iter_mut().find(|c| c.name == column).unwrap();
    c.base_type = base.into();
    c.sql_type = base.into();
    c.category = category.into();
}

/// orgs (the tenant), members (auth users), items per org, events referencing items
/// with a time span that must end after it starts.
fn model() -> Model {
    let mut users = table(10, "auth.users", &["id"]);
    users.owned = false;
    users.schema = "auth".into();
    users.short = "users".into();
    let orgs = table(1, "orgs", &["id"]);
    let mut members = table(2, "members", &["org_id", "user_id"]);
    members.primary_key = vec!["org_id".into(), "user_id".into()];
    references(&mut members, "org_id", 1, "id");
    references(&mut members, "user_id", 10, "id");
    let mut items = table(3, "items", &["id", "org_id", "name"]);
    typed(&mut items, "name", "text", "S");
    references(&mut items, "org_id", 1, "id");
    let mut events = table(
        4,
        "events",
        &[
            "id",
            "org_id",
            "item_id",
            "owner_id",
            "starts_at",
            "ends_at",
        ],
    );
    typed(&mut events, "starts_at", "timestamptz", "D");
    typed(&mut events, "ends_at", "timestamptz", "D");
    references(&mut events, "org_id", 1, "id");
    references(&mut events, "item_id", 3, "id");
    references(&mut events, "owner_id", 10, "id");
    events.checks.push(Check {
        name: "events_span".into(),
        columns: vec!["starts_at".into(), "ends_at".into()],
        definition: "CHECK ((ends_at > starts_at))".into(),
    });
    let relations = vec![users, orgs, members, items, events];
    let tenancy = tenancy_of(relations.clone(), vec![]);
    Model {
        facts: crate::schema::facts::Facts {
            relations,
            ..Default::default()
        },
        tenancy,
    }
}

#[derive(Default)]
struct Collect {
    rows: Vec<(usize, Vec<Value>, u32)>,
    org: u32,
}

impl Sink for Collect {
    fn row(&mut self, table: usize, values: &[Value]) -> Result<(), Stopped> {
        self.rows.push((table, values.to_vec(), self.org));
        Ok(())
    }
    fn org_done(&mut self, index: u32) -> Result<(), Stopped> {
        self.org = index + 1;
        Ok(())
    }
}

fn generate(plan: &Plan, seed: u64) -> Collect {
    let params = Params {
        orgs: 4,
        seed,
        window: Window {
            anchor: anchor_of(chrono::NaiveDate::from_ymd_opt(2026, 1, 15).unwrap()),
            past_days: 30,
            future_days: 10,
        },
        size_skew: 0.8,
        size_jitter: 0.1,
        cover: false,
    };
    let n = plan.tables.len();
    let mut out = Collect::default();
    Generator::new(plan, params, vec![1; n], vec![vec![]; n])
        .run(&mut out)
        .unwrap();
    out
}

#[test]
fn roles_follow_the_tenancy_and_the_event_table_is_largest() {
    let m = model();
    let plan = Plan::new(&m, &RowsProfile::default(), &HashMap::new(), true).unwrap();
    let role = |name: &str| plan.tables.iter().find(|t| t.name == name).unwrap();
    assert_eq!(role("orgs").role, Role::Tenant);
    assert_eq!(role("auth.users").role, Role::Users);
    assert!(matches!(role("members").role, Role::Membership { .. }));
    assert_eq!(role("items").role, Role::PerOrg);
    assert_eq!(role("events").count, Count::PerOrg(1000.0));
    // Load order: a table after every table it references.
    let at = |name: &str| plan.tables.iter().position(|t| t.name == name).unwrap();
    assert!(at("orgs") < at("members") && at("auth.users") < at("members"));
    assert!(at("items") < at("events"));
}

#[test]
fn rows_stay_inside_their_org_satisfy_checks_and_repeat_per_seed() {
    let m = model();
    let profile = RowsProfile {
        event_rows_per_org: 40.0,
        ..RowsProfile::default()
    };
    let plan = Plan::new(&m, &profile, &HashMap::new(), true).unwrap();
    let at = |name: &str| plan.tables.iter().position(|t| t.name == name).unwrap();
    let col = |t: usize, name: &str| plan.tables[t].column_index(name).unwrap();
    let out = generate(&plan, 7);
    let (items, events, members) = (at("items"), at("events"), at("members"));
    // item id -> org index; member user -> org index.
    let mut item_org = HashMap::new();
    let mut member_org = HashMap::new();
    for (t, row, org) in &out.rows {
        if *t == items {
            item_org.insert(row[col(items, "id")].to_text(), *org);
        }
        if *t == members {
            member_org.insert(row[col(members, "user_id")].to_text(), *org);
        }
    }
    let mut n = 0;
    for (t, row, org) in out.rows.iter().filter(|(t, _, _)| *t == events) {
        n += 1;
        assert_eq!(
            item_org[&row[col(*t, "item_id")].to_text()],
            *org,
            "item of another org"
        );
        assert_eq!(
            member_org[&row[col(*t, "owner_id")].to_text()],
            *org,
            "owner of another org"
        );
        let (s, e) = (&row[col(*t, "starts_at")], &row[col(*t, "ends_at")]);
        assert!(e.ordinal() > s.ordinal(), "{s:?} {e:?}");
    }
    assert!(n > 40, "{n}");
    // Every org has members, the same seed gives the same rows, another seed others.
    assert_eq!(
        member_org
            .values()
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        4
    );
    assert_eq!(generate(&plan, 7).rows, out.rows);
    assert_ne!(generate(&plan, 8).rows, out.rows);
}

/// A table keyed by two enums (role × permission, no tenant): its rows take distinct
/// pairs of the enums' labels, as many as there are, never a label of its own making.
#[test]
fn a_key_of_enums_is_used_up_pair_by_pair_with_labels_only() {
    let mut m = model();
    let mut grants = table(5, "grants", &["id", "role", "permission"]);
    for (column, labels) in [
        ("role", vec!["admin", "moderator"]),
        ("permission", vec!["delete", "pin"]),
    ] {
        typed(&mut grants, column, column, "E");
        let c = grants
            .columns
            .iter_mut()
            .find(|c| c.name == column)
            .unwrap();
        c.enum_labels = labels.into_iter().map(String::from).collect();
        c.not_null = true;
    }
    grants.indexes.push(crate::schema::facts::Index {
        name: "grants_role_permission_key".into(),
        unique: true,
        primary: false,
        keys: vec!["role".into(), "permission".into()],
        plain: vec![true, true],
        predicate: None,
        method: "btree".into(),
        constraint: true,
    });
    m.facts.relations.push(grants);
    m.tenancy = tenancy_of(m.facts.relations.clone(), vec![]);
    let plan = Plan::new(&m, &RowsProfile::default(), &HashMap::new(), true).unwrap();
    let t = plan.tables.iter().position(|t| t.name == "grants").unwrap();
    let col = |name: &str| plan.tables[t].column_index(name).unwrap();
    let out = generate(&plan, 7);
    let pairs: Vec<(Option<String>, Option<String>)> = out
        .rows
        .iter()
        .filter(|(table, _, _)| *table == t)
        .map(|(_, row, _)| (row[col("role")].to_text(), row[col("permission")].to_text()))
        .collect();
    let mut distinct = pairs.clone();
    distinct.sort();
    distinct.dedup();
    assert_eq!(distinct.len(), pairs.len(), "a pair repeated: {pairs:?}");
    assert!(!pairs.is_empty() && pairs.len() <= 4, "{pairs:?}");
    for (role, permission) in &pairs {
        assert!(
            matches!(role.as_deref(), Some("admin" | "moderator"))
                && matches!(permission.as_deref(), Some("delete" | "pin")),
            "{role:?} {permission:?}"
        );
    }
}
