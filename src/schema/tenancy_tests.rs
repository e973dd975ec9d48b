//! Unit tests of the tenancy inference (pure: facts built by hand).
use super::*;
use crate::schema::config::TableConfig;
use crate::schema::facts::testing::{policy, references, table};
use crate::schema::facts::Function;

/// The starter shape: accounts, memberships, a helper, a keyed table, a child
/// and a per-user table, with an auth.users outside the project's schemas.
fn starter() -> Facts {
    let mut users = table(10, "auth.users", &["id"]);
    users.owned = false;
    users.schema = "auth".into();
    users.short = "users".into();
    let accounts = table(1, "accounts", &["id"]);
    let mut members = table(2, "accounts_memberships", &["account_id", "user_id"]);
    references(&mut members, "account_id", 1, "id");
    references(&mut members, "user_id", 10, "id");
    let mut tasks = table(3, "tasks", &["id", "account_id", "created_by"]);
    references(&mut tasks, "account_id", 1, "id");
    references(&mut tasks, "created_by", 10, "id");
    let mut comments = table(4, "task_comments", &["id", "task_id"]);
    references(&mut comments, "task_id", 3, "id");
    let mut profiles = table(5, "profiles", &["id"]);
    references(&mut profiles, "id", 10, "id");
    let mut audit = table(6, "audit", &["id"]);
    audit.rls = false;
    let policies = vec![
        policy(&tasks, "tasks_all", "*", Some("public.has_role_on_account(account_id)"), None),
        policy(&members, "read", "r", Some("((user_id = ( SELECT auth.uid() AS uid)) OR public.has_role_on_account(account_id))"), None),
        policy(&comments, "via", "*", Some("(EXISTS ( SELECT 1 FROM public.tasks t WHERE (t.id = task_comments.task_id)))"), None),
        policy(&profiles, "own", "*", Some("(id = ( SELECT auth.uid() AS uid))"), None),
    ];
    Facts {
        relations: vec![users, accounts, members, tasks, comments, profiles, audit],
        triggers: vec![],
        functions: vec![Function {
            oid: 20,
            name: "has_role_on_account".into(),
            short: "has_role_on_account".into(),
            sql_name: "public.has_role_on_account".into(),
            exposed: true,
            security_definer: true,
            returns_set: false,
            required_args: 1,
            is_trigger: false,
            anon: false,
            authenticated: true,
            body: "select exists (select 1 from public.accounts_memberships m where m.user_id = auth.uid())".into(),
        }],
        policies,
    }
}

fn kind<'a>(t: &'a Tenancy, table: &str) -> Option<&'a Kind> {
    t.tables.iter().find(|x| x.table == table).map(|x| &x.kind)
}

fn keyed(key: &str) -> Kind {
    Kind::Keyed { key: key.into() }
}

fn per_user(column: &str) -> Kind {
    Kind::PerUser {
        column: column.into(),
    }
}

#[test]
fn starter_shape_is_inferred() {
    let t = infer(&starter(), &Config::default());
    assert_eq!(t.tenant_table.as_ref().unwrap().table, "accounts");
    assert_eq!(kind(&t, "tasks"), Some(&keyed("account_id")));
    assert!(
        matches!(kind(&t, "task_comments"), Some(Kind::Child { via, .. }) if via == &["task_id"])
    );
    assert_eq!(kind(&t, "profiles"), Some(&per_user("id")));
    let m = t.membership.as_ref().unwrap();
    assert_eq!(
        (m.table.as_str(), m.user_column.as_str()),
        ("accounts_memberships", "user_id")
    );
    assert_eq!(
        t.derivations,
        vec![Derivation::Helper {
            function: "has_role_on_account".into()
        }]
    );
    assert_eq!(t.untenanted, vec!["audit"]);
}

#[test]
fn configuration_wins() {
    let mut config = Config::default();
    config.tenancy.tables.insert(
        "audit".into(),
        TableConfig {
            public: true,
            ..TableConfig::default()
        },
    );
    config.tenancy.tables.insert(
        "tasks".into(),
        TableConfig {
            per_user: Some("created_by".into()),
            ..TableConfig::default()
        },
    );
    let t = infer(&starter(), &config);
    assert!(t.untenanted.is_empty());
    assert_eq!(kind(&t, "audit"), Some(&Kind::Public));
    assert_eq!(kind(&t, "tasks"), Some(&per_user("created_by")));
}

#[test]
fn claim_keys_of_any_name_and_a_key_without_foreign_key() {
    let orgs = table(1, "organizations", &["id"]);
    let mut projects = table(2, "projects", &["id", "organization_id"]);
    references(&mut projects, "organization_id", 1, "id");
    let tickets = table(3, "tickets", &["id", "tenant_id"]);
    let policies = vec![policy(
        &projects,
        "p",
        "*",
        Some("(organization_id = ((auth.jwt() ->> 'org'::text))::uuid)"),
        None,
    )];
    let facts = Facts {
        relations: vec![orgs, projects, tickets],
        policies,
        ..Facts::default()
    };
    let t = infer(&facts, &Config::default());
    assert_eq!(t.tenant_table.as_ref().unwrap().table, "organizations");
    assert_eq!(kind(&t, "projects"), Some(&keyed("organization_id")));
    assert_eq!(kind(&t, "tickets"), Some(&keyed("tenant_id")));
    assert_eq!(t.claims(), vec!["org"]);
}

#[test]
fn columns_read_sees_own_columns_only() {
    let cols = columns_read(
        "(EXISTS ( SELECT 1 FROM appointments a WHERE (a.id = notes.appointment_id)))",
        "notes",
    );
    assert_eq!(cols.into_iter().collect::<Vec<_>>(), vec!["appointment_id"]);
}
