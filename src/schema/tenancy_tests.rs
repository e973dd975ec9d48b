//! Unit tests of the tenancy inference (pure: facts built by hand).
use super::*;
use crate::schema::config::TableConfig;
use crate::schema::facts::testing::{policy, references, table};
use crate::schema::facts::{Function, Relation};

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
            returns: String::new(),
            args: vec![],
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

fn auth_users() -> Relation {
    let mut users = table(10, "auth.users", &["id"]);
    users.owned = false;
    users.schema = "auth".into();
    users.short = "users".into();
    users
}

#[test]
fn per_user_tables_with_other_foreign_keys_stay_per_user() {
    // Every policy ties user_id to the caller; workspace_id (a usual tenant key name)
    // and a sharing flag are read without any caller: no tenant table.
    let mut workspaces = table(1, "workspaces", &["id", "user_id"]);
    references(&mut workspaces, "user_id", 10, "id");
    let mut folders = table(2, "folders", &["id", "user_id", "workspace_id"]);
    references(&mut folders, "user_id", 10, "id");
    references(&mut folders, "workspace_id", 1, "id");
    let mut files = table(3, "files", &["id", "user_id", "folder_id"]);
    references(&mut files, "user_id", 10, "id");
    references(&mut files, "folder_id", 2, "id");
    let own = "(user_id = auth.uid())";
    let policies = vec![
        policy(&workspaces, "own", "*", Some(own), Some(own)),
        policy(&folders, "own", "*", Some(own), Some(own)),
        policy(&files, "own", "*", Some(own), Some(own)),
        policy(&files, "shared", "r", Some("(folder_id IN ( SELECT folders.id FROM folders WHERE (folders.workspace_id IS NOT NULL)))"), None),
    ];
    let facts = Facts {
        relations: vec![auth_users(), workspaces, folders, files],
        policies,
        ..Facts::default()
    };
    let t = infer(&facts, &Config::default());
    assert!(t.tenant_table.is_none(), "{:?}", t.tenant_table);
    for table in ["workspaces", "folders", "files"] {
        assert_eq!(kind(&t, table), Some(&per_user("user_id")), "{table}");
    }
    let files = t.tables.iter().find(|x| x.table == "files").unwrap();
    assert_eq!(files.confidence, Confidence::High);
    assert!(
        files.evidence.contains("policy own: user_id = auth.uid()"),
        "{}",
        files.evidence
    );
}

#[test]
fn a_mirror_of_auth_users_is_no_tenant_table_and_service_role_tables_need_nothing() {
    let mut users = table(1, "users", &["id"]);
    references(&mut users, "id", 10, "id");
    let mut notes = table(2, "notifications", &["id", "user_id"]);
    references(&mut notes, "user_id", 1, "id");
    let keys = table(3, "api_keys", &["id", "key_hash"]);
    let mut service = policy(&keys, "service", "*", Some("true"), None);
    service.roles = vec!["service_role".into()];
    let policies = vec![
        policy(&users, "self", "*", Some("(id = auth.uid())"), None),
        policy(
            &notes,
            "own",
            "*",
            Some("(user_id = ( SELECT auth.uid() AS uid))"),
            None,
        ),
        service,
    ];
    let facts = Facts {
        relations: vec![auth_users(), users, notes, keys],
        policies,
        ..Facts::default()
    };
    let t = infer(&facts, &Config::default());
    assert!(t.tenant_table.is_none(), "{:?}", t.tenant_table);
    assert_eq!(kind(&t, "notifications"), Some(&per_user("user_id")));
    assert_eq!(kind(&t, "users"), Some(&per_user("id")));
    assert!(t.untenanted.is_empty(), "{:?}", t.untenanted);
    assert_eq!(t.service_only, vec!["api_keys"]);
}

#[test]
fn a_helper_in_another_schema_ties_the_key_and_mfa_claims_are_no_tenant_claims() {
    let teams = table(1, "teams", &["id"]);
    let mut invoices = table(2, "invoices", &["id", "team_id"]);
    references(&mut invoices, "team_id", 1, "id");
    let policies = vec![
        policy(&invoices, "team", "*", Some("(team_id IN ( SELECT private.get_teams_for_authenticated_user() AS get_teams_for_authenticated_user))"), None),
        policy(&invoices, "mfa", "*", Some("((auth.jwt() ->> 'aal'::text) = 'aal2'::text)"), None),
    ];
    let helper = Function {
        oid: 30,
        name: "private.get_teams_for_authenticated_user".into(),
        short: "get_teams_for_authenticated_user".into(),
        sql_name: "private.get_teams_for_authenticated_user".into(),
        exposed: false,
        security_definer: true,
        returns_set: true,
        required_args: 0,
        is_trigger: false,
        anon: true,
        authenticated: true,
        body: "select team_id from users_on_team where user_id = auth.uid()".into(),
        returns: String::new(),
        args: vec![],
    };
    let facts = Facts {
        relations: vec![teams, invoices],
        functions: vec![helper],
        policies,
        triggers: Vec::new(),
    };
    let t = infer(&facts, &Config::default());
    let root = t.tenant_table.as_ref().unwrap();
    assert_eq!(
        (root.table.as_str(), root.confidence),
        ("teams", Confidence::High)
    );
    assert_eq!(kind(&t, "invoices"), Some(&keyed("team_id")));
    assert!(t.claims().is_empty(), "{:?}", t.derivations);
    assert_eq!(
        t.derivations,
        vec![Derivation::Helper {
            function: "private.get_teams_for_authenticated_user".into()
        }]
    );
}

#[test]
fn nested_claims_keep_their_path() {
    let orgs = table(1, "orgs", &["id"]);
    let mut projects = table(2, "projects", &["id", "org_id"]);
    references(&mut projects, "org_id", 1, "id");
    let policies = vec![policy(
        &projects,
        "p",
        "*",
        Some("(org_id = ( SELECT (((auth.jwt() -> 'app_metadata'::text) ->> 'org_id'::text))::uuid AS uuid))"),
        None,
    )];
    let facts = Facts {
        relations: vec![orgs, projects],
        policies,
        ..Facts::default()
    };
    let t = infer(&facts, &Config::default());
    assert_eq!(t.claims(), vec!["app_metadata.org_id"]);
}

#[test]
fn the_membership_table_is_found_in_a_helper_body_over_several_lines() {
    // A users mirror carrying the user's current team, and the table the helper really
    // reads, `users_on_team`, named on a line of its own: the lookup is the membership.
    let teams = table(1, "teams", &["id"]);
    let mut users = table(2, "users", &["id", "team_id"]);
    references(&mut users, "id", 10, "id");
    references(&mut users, "team_id", 1, "id");
    let mut on_team = table(3, "users_on_team", &["id", "user_id", "team_id"]);
    references(&mut on_team, "user_id", 10, "id");
    references(&mut on_team, "team_id", 1, "id");
    let mut invoices = table(4, "invoices", &["id", "team_id"]);
    references(&mut invoices, "team_id", 1, "id");
    let in_teams = "(team_id IN ( SELECT private.get_teams() AS get_teams))";
    let policies = vec![
        policy(&invoices, "team", "*", Some(in_teams), None),
        policy(&users, "team", "r", Some(in_teams), None),
        policy(&on_team, "team", "r", Some(in_teams), None),
    ];
    let helper = |oid: u32, short: &str, body: &str| Function {
        oid,
        name: format!("private.{short}"),
        short: short.into(),
        sql_name: format!("private.{short}"),
        exposed: false,
        security_definer: true,
        returns_set: true,
        required_args: 0,
        is_trigger: false,
        anon: false,
        authenticated: true,
        body: body.into(),
        returns: String::new(),
        args: vec![],
    };
    let facts = Facts {
        relations: vec![auth_users(), teams, users, on_team, invoices],
        functions: vec![
            helper(
                30,
                "get_teams",
                "\n  select team_id\n  from users_on_team\n  where user_id = auth.uid()\n",
            ),
            // Reads the mirror by the caller too, on one line.
            helper(
                31,
                "my_email",
                "select email from users where id = auth.uid() and team_id is not null",
            ),
        ],
        policies,
        triggers: Vec::new(),
    };
    let t = infer(&facts, &Config::default());
    let m = t.membership.as_ref().expect("a membership table");
    assert_eq!(
        (m.table.as_str(), m.user_column.as_str()),
        ("users_on_team", "user_id")
    );
}
