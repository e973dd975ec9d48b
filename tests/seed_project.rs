//! `dbkit seed` on schemas dbkit was not written for: the salon example
//! (`examples/salon`: a membership helper, an exclusion constraint, a cross-column
//! CHECK) and an issue tracker (`tests/fixtures/tracker`: composite and
//! self-referencing foreign keys, a domain with a regex CHECK, arrays, jsonb, generated
//! and identity columns, a partial unique index on an expression). Seed exits 0, every
//! tenant table has rows, every foreign-key path stays inside its tenant (checked by SQL
//! here), the same seed gives identical rows; refusals, `--reset` and bad input. Through
//! the real binary against a real PostgreSQL, a handful of orgs.

mod common;

use std::path::{Path, PathBuf};

use common::{dbkit_in, TestDb};
use predicates::prelude::*;

const ANCHOR: &str = "2026-01-15";

fn manifest(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// A database with the platform and `project`'s migrations applied (a template built
/// once per test run).
fn project_db(name: &str, project: &Path) -> TestDb {
    let project = project.to_path_buf();
    let template = common::template(name, |db| {
        let url = db.url().clone();
        common::block_on(async move {
            let client = dbkit::db::connect(&url).await?;
            dbkit::platform::provide(&client).await
        })
        .unwrap();
        dbkit_in(&project)
            .args(["migrate", "--database-url", &db.url_string()])
            .assert()
            .success();
    });
    common::fresh_db_from(&template)
}

fn salon_db() -> TestDb {
    project_db("seed_salon", &manifest("examples/salon"))
}

fn tracker_db() -> TestDb {
    project_db("seed_tracker", &manifest("tests/fixtures/tracker"))
}

fn scalar(db: &TestDb, query: &str) -> String {
    let rows = db.query(&format!("SELECT x::text FROM ({query}) AS q(x)"));
    rows[0].get::<_, Option<String>>(0).unwrap_or_default()
}

fn count(db: &TestDb, query: &str) -> i64 {
    scalar(db, query).parse().unwrap()
}

fn seed(db: &TestDb, args: &[&str]) -> std::process::Output {
    dbkit_in(&common::work_dir())
        .args(["seed", "--anchor-date", ANCHOR, "--format", "json"])
        .args(["--database-url", &db.url_string()])
        .args(args)
        .timeout(std::time::Duration::from_secs(300))
        .output()
        .unwrap()
}

fn seed_ok(db: &TestDb, args: &[&str]) -> serde_json::Value {
    let out = seed(db, args);
    assert!(
        out.status.success(),
        "seed failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// md5 of each table's contents (sorted), for comparing two databases.
fn md5s(db: &TestDb, tables: &[&str]) -> Vec<String> {
    tables
        .iter()
        .map(|t| {
            scalar(
                db,
                &format!(
                    "SELECT md5(coalesce(string_agg(x::text, E'\\n' ORDER BY x::text), '')) FROM {t} x"
                ),
            )
        })
        .collect()
}

const SALON: [&str; 6] = [
    "organizations",
    "organization_members",
    "staff",
    "services",
    "clients",
    "bookings",
];

#[test]
fn the_salon_is_seeded_inside_its_tenants_and_the_same_seed_repeats_it() {
    let (a, b) = (salon_db(), salon_db());
    let summary = seed_ok(&a, &["--orgs", "3", "--seed", "7"]);
    for t in SALON {
        let n = count(&a, &format!("SELECT count(*) FROM public.{t}"));
        assert!(n > 0, "{t} is empty");
        assert_eq!(summary["tables"][t], n, "{t}");
    }
    assert_eq!(summary["tables"]["organizations"], 3);
    // The event table has the most rows; tenants differ in size.
    let bookings = count(&a, "SELECT count(*) FROM bookings");
    for t in SALON {
        assert!(bookings >= count(&a, &format!("SELECT count(*) FROM {t}")));
    }
    assert!(
        count(
            &a,
            "SELECT max(n) - min(n) FROM (SELECT count(*) n FROM bookings GROUP BY organization_id) c"
        ) > 0
    );
    // Every foreign-key path stays inside the booking's organization.
    for (join, what) in [
        (
            "JOIN staff s ON s.id = b.staff_id WHERE s.organization_id <> b.organization_id",
            "staff",
        ),
        (
            "JOIN clients c ON c.id = b.client_id WHERE c.organization_id <> b.organization_id",
            "clients",
        ),
        (
            "JOIN services v ON v.id = b.service_id WHERE v.organization_id <> b.organization_id",
            "services",
        ),
    ] {
        assert_eq!(
            count(&a, &format!("SELECT count(*) FROM bookings b {join}")),
            0,
            "{what}"
        );
    }
    // Members are real auth users, and every organization has an owner.
    assert_eq!(
        count(&a, "SELECT count(*) FROM organization_members m LEFT JOIN auth.users u ON u.id = m.user_id WHERE u.id IS NULL"),
        0
    );
    assert_eq!(
        count(&a, "SELECT count(*) FROM organizations o WHERE NOT EXISTS \
                   (SELECT 1 FROM organization_members m WHERE m.organization_id = o.id AND m.role = 'owner')"),
        0
    );
    // The cross-column CHECK and the exclusion constraint hold (the server enforced
    // them during the load; this says what they mean).
    assert_eq!(
        count(
            &a,
            "SELECT count(*) FROM bookings WHERE ends_at <= starts_at"
        ),
        0
    );
    assert_eq!(
        count(&a, "SELECT count(*) FROM bookings x JOIN bookings y ON x.staff_id = y.staff_id AND x.id < y.id \
                   AND tstzrange(x.starts_at, x.ends_at) && tstzrange(y.starts_at, y.ends_at) \
                   WHERE x.status <> 'cancelled' AND y.status <> 'cancelled'"),
        0
    );
    // Every status of the IN-list; past and future bookings.
    assert_eq!(count(&a, "SELECT count(DISTINCT status) FROM bookings"), 5);
    assert_eq!(
        count(
            &a,
            &format!("SELECT count(DISTINCT starts_at < '{ANCHOR}') FROM bookings")
        ),
        2
    );
    // Plausible values: names, e-mails matching the CHECK, slugs from names.
    assert_eq!(
        count(
            &a,
            "SELECT count(*) FROM staff WHERE email !~ '^[a-z]+\\.[a-z]+[0-9]*@'"
        ),
        0
    );
    assert_eq!(
        count(
            &a,
            "SELECT count(*) FROM organizations WHERE slug !~ '^[a-z]+(-[a-z]+)*-[0-9]+$'"
        ),
        0
    );

    // The same seed gives identical rows, ids included.
    let again = seed_ok(&b, &["--orgs", "3", "--seed", "7"]);
    assert_eq!(summary["fingerprint"], again["fingerprint"]);
    let tables: Vec<&str> = SALON.iter().copied().chain(["auth.users"]).collect();
    assert_eq!(md5s(&a, &tables), md5s(&b, &tables));
    // Indexes and constraints are all back, valid.
    assert_eq!(
        count(
            &a,
            "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid \
                         WHERE c.relnamespace = 'public'::regnamespace AND NOT i.indisvalid"
        ),
        0
    );
    assert_eq!(
        scalar(
            &a,
            "SELECT count(*) FROM pg_constraint WHERE conname = 'bookings_no_staff_overlap'"
        ),
        "1"
    );
}

#[test]
fn the_tracker_keeps_composite_and_self_references_inside_the_workspace() {
    let (a, b) = (tracker_db(), tracker_db());
    let summary = seed_ok(&a, &["--orgs", "3"]);
    for t in [
        "workspaces",
        "workspace_members",
        "projects",
        "labels",
        "issues",
        "issue_labels",
        "comments",
    ] {
        let n = count(&a, &format!("SELECT count(*) FROM {t}"));
        assert!(n > 0, "{t} is empty");
        assert_eq!(summary["tables"][t], n, "{t}");
    }
    for (query, what) in [
        ("SELECT count(*) FROM issues i JOIN issues p ON p.id = i.parent_id WHERE p.workspace_id <> i.workspace_id", "parent issue"),
        ("SELECT count(*) FROM issues i JOIN projects p ON p.id = i.project_id WHERE p.workspace_id <> i.workspace_id", "project"),
        ("SELECT count(*) FROM issue_labels il JOIN issues i ON i.id = il.issue_id JOIN labels l ON l.id = il.label_id WHERE l.workspace_id <> i.workspace_id", "label"),
        ("SELECT count(*) FROM issues i WHERE NOT EXISTS (SELECT 1 FROM workspace_members m WHERE m.workspace_id = i.workspace_id AND m.user_id = i.reporter_id)", "reporter"),
        ("SELECT count(*) FROM issues i WHERE i.assignee_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM workspace_members m WHERE m.workspace_id = i.workspace_id AND m.user_id = i.assignee_id)", "assignee"),
        ("SELECT count(*) FROM comments c JOIN issues i ON i.id = c.issue_id WHERE NOT EXISTS (SELECT 1 FROM workspace_members m WHERE m.workspace_id = i.workspace_id AND m.user_id = c.author_id)", "comment author"),
    ] {
        assert_eq!(count(&a, query), 0, "{what} crosses workspaces");
    }
    // The self-reference is used, the generated column computed, arrays and jsonb set.
    assert!(
        count(
            &a,
            "SELECT count(*) FROM issues WHERE parent_id IS NOT NULL"
        ) > 0
    );
    assert_eq!(
        count(
            &a,
            "SELECT count(*) FROM issues WHERE title_length <> char_length(title)"
        ),
        0
    );
    assert!(
        count(
            &a,
            "SELECT count(*) FROM issues WHERE cardinality(tags) > 0"
        ) > 0
    );
    assert!(
        count(
            &a,
            "SELECT count(*) FROM issues WHERE jsonb_typeof(metadata) = 'object'"
        ) > 0
    );
    // Cross-column CHECKs: a done issue has closed_at, never before it opened.
    assert_eq!(
        count(
            &a,
            "SELECT count(*) FROM issues WHERE status IN ('done', 'closed') AND closed_at IS NULL"
        ),
        0
    );
    assert!(count(&a, "SELECT count(*) FROM issues WHERE status = 'done'") > 0);
    // The identity sequence is past the rows written: a new row gets a fresh id.
    a.execute(
        "INSERT INTO labels (workspace_id, name) SELECT id, 'fresh label' FROM workspaces LIMIT 1",
    );

    let again = seed_ok(&b, &["--orgs", "3"]);
    assert_eq!(summary["fingerprint"], again["fingerprint"]);
    let tables = [
        "workspaces",
        "projects",
        "issues",
        "comments",
        "issue_labels",
    ];
    assert_eq!(md5s(&a, &tables), md5s(&b, &tables));
}

/// A tenant key of text and no tenant table (`tests/fixtures/ledger`: organizations
/// live in an external identity provider; a membership table maps users to them; a
/// trigger on auth.users inserts a default membership through a helper function, with
/// ON CONFLICT on membership's unique key): each org's key goes into the text columns
/// in its text form, and the table the helper writes into keeps its unique key while
/// the seed loads (triggers on).
#[test]
fn a_text_tenant_key_and_a_trigger_writing_through_a_helper_are_seeded() {
    let db = project_db("seed_ledger", &manifest("tests/fixtures/ledger"));
    let summary = seed_ok(&db, &["--orgs", "3"]);
    let n = count(&db, "SELECT count(*) FROM entries");
    assert!(n > 0, "entries is empty");
    assert_eq!(summary["tables"]["entries"], n);
    assert_eq!(
        count(&db, "SELECT count(DISTINCT organization_id) FROM entries"),
        3
    );
    // Every entry's organization is one its members hold.
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM entries e WHERE NOT EXISTS \
             (SELECT 1 FROM member_roles r WHERE r.organization_id = e.organization_id)"
        ),
        0
    );
    // The trigger ran for every seeded user.
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM member_roles WHERE organization_id = 'default_org'"
        ),
        count(&db, "SELECT count(*) FROM auth.users")
    );
}

/// A nullable tenant key (a foreign key to the tenant table without NOT NULL) is never
/// left NULL: such a row would belong to no tenant (liam's projects; then its triggers
/// copying the project's organization into children found NULL).
#[test]
fn a_nullable_tenant_key_is_always_set() {
    let db = salon_db();
    db.execute(
        "CREATE TABLE public.notes (
             id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
             organization_id uuid REFERENCES public.organizations (id),
             body text NOT NULL);
         ALTER TABLE public.notes ENABLE ROW LEVEL SECURITY;
         CREATE POLICY notes_members ON public.notes FOR ALL TO authenticated
             USING (public.is_org_member(organization_id));",
    );
    seed_ok(&db, &["--orgs", "3"]);
    assert!(count(&db, "SELECT count(*) FROM notes") > 20);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM notes WHERE organization_id IS NULL"
        ),
        0
    );
}

/// A tenant row the migrations made (a demo org) is not the seed's: seed refuses
/// without pointing at `--reset` (which would not delete it), and keeps it.
#[test]
fn rows_the_migrations_made_in_a_table_seed_fills_are_named_and_kept() {
    let db = salon_db();
    db.execute("INSERT INTO organizations (name, slug) VALUES ('Demo', 'demo');");
    for args in [
        &["--orgs", "2"][..],
        &["--orgs", "2", "--reset", "--yes"][..],
    ] {
        let out = seed(&db, args);
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr
                .contains("holds rows dbkit did not make in tables seed fills (organizations: 1)")
                && stderr.contains("never deletes rows it did not make")
                && !stderr.contains("deletes what an earlier seed made"),
            "{stderr}"
        );
    }
    assert_eq!(
        scalar(&db, "SELECT string_agg(slug, ',') FROM organizations"),
        "demo"
    );
    assert_eq!(count(&db, "SELECT count(*) FROM bookings"), 0);
}

#[test]
fn a_seeded_database_is_refused_and_reset_deletes_only_what_seed_made() {
    let db = salon_db();
    // Rows that are not the seed's: a user of the project's own, and a table of theirs.
    db.execute(
        "INSERT INTO auth.users (id, email) VALUES ('00000000-0000-4000-8000-0000000000aa', 'me@example.com');
         CREATE TABLE public.release_notes (id int PRIMARY KEY, body text NOT NULL);
         INSERT INTO public.release_notes VALUES (1, 'kept');",
    );
    let first = seed_ok(&db, &["--orgs", "2", "--seed", "1"]);
    let out = seed(&db, &["--orgs", "2"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("already holds tenant rows") && stderr.contains("--reset"),
        "{stderr}"
    );

    let second = seed_ok(&db, &["--orgs", "2", "--seed", "2", "--reset", "--yes"]);
    assert_ne!(first["fingerprint"], second["fingerprint"]);
    assert_eq!(count(&db, "SELECT count(*) FROM organizations"), 2);
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM auth.users WHERE email = 'me@example.com'"
        ),
        1
    );
    assert_eq!(scalar(&db, "SELECT body FROM release_notes"), "kept");
    assert_eq!(
        count(&db, "SELECT count(*) FROM auth.users"),
        1 + second["tables"]["auth.users"].as_i64().unwrap()
    );

    // Rows seed did not make in a table it filled: reset refuses, nothing changes.
    db.execute("INSERT INTO organizations (name, slug) VALUES ('Mine', 'mine');");
    let before = count(&db, "SELECT count(*) FROM bookings");
    let out = seed(&db, &["--orgs", "2", "--reset", "--yes"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("rows dbkit did not make"), "{stderr}");
    assert_eq!(count(&db, "SELECT count(*) FROM bookings"), before);
}

#[test]
fn bad_input_is_one_line_naming_what_and_where_and_nothing_is_loaded() {
    // Not migrated.
    let empty = common::fresh_db();
    let out = seed(&empty, &["--orgs", "2"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no tables to seed") && stderr.contains("dbkit migrate"),
        "{stderr}"
    );

    // A type without a generator: named with the profile key that fills it.
    let db = salon_db();
    db.execute(
        "ALTER TABLE services ADD COLUMN wal_position pg_lsn NOT NULL DEFAULT '0/0';
                ALTER TABLE services ALTER COLUMN wal_position DROP DEFAULT;
                ALTER TABLE clients ADD COLUMN last_lsn pg_lsn;",
    );
    let out = seed(&db, &["--orgs", "2"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("services.wal_position")
            && stderr.contains("tables.services.columns.wal_position.value"),
        "{stderr}"
    );
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("p.yaml");
    std::fs::write(
        &profile,
        "tables:\n  services:\n    columns:\n      wal_position: {value: '0/16B3748'}\n",
    )
    .unwrap();
    let summary = seed_ok(
        &db,
        &["--orgs", "2", "--profile", profile.to_str().unwrap()],
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM services WHERE wal_position = '0/16B3748'"
        ),
        summary["tables"]["services"].as_i64().unwrap()
    );
    // The nullable one is left NULL, and said so once.
    let notes: Vec<&str> = summary["notes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n.as_str())
        .filter(|n| n.contains("clients.last_lsn"))
        .collect();
    assert_eq!(notes.len(), 1, "{summary}");
    assert!(notes[0].contains("left NULL"), "{notes:?}");
    assert_eq!(count(&db, "SELECT count(last_lsn) FROM clients"), 0);

    // A CHECK no row can satisfy: named with its table; nothing is kept.
    let db = salon_db();
    db.execute("ALTER TABLE clients ADD COLUMN code text NOT NULL DEFAULT 'x'; \
                ALTER TABLE clients ALTER COLUMN code DROP DEFAULT; \
                ALTER TABLE clients ADD CONSTRAINT clients_code_both CHECK (code ~ '^[a-z]+$' AND code ~ '^[0-9]+$');");
    let out = seed(&db, &["--orgs", "2"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("clients")
            && stderr.contains("clients_code_both")
            && stderr.contains("nothing was kept"),
        "{stderr}"
    );
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{stderr}"
    );
    assert_eq!(count(&db, "SELECT count(*) FROM organizations"), 0);

    // Unknown tables and columns in a profile are named.
    std::fs::write(&profile, "tables:\n  bookingz: {rows_per_org: 3}\n").unwrap();
    let out = seed(
        &db,
        &["--orgs", "2", "--profile", profile.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("tables.bookingz: no such table"));
    std::fs::write(
        &profile,
        "tables:\n  bookings:\n    columns:\n      colour: {value: red}\n",
    )
    .unwrap();
    let out = seed(
        &db,
        &["--orgs", "2", "--profile", profile.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("tables.bookings.columns.colour: bookings has no column colour"));
}

#[test]
fn a_profile_sets_rows_weights_and_skips() {
    let db = salon_db();
    let dir = tempfile::tempdir().unwrap();
    let profile = dir.path().join("p.yaml");
    std::fs::write(
        &profile,
        "tables:\n  bookings:\n    rows_per_org: 40\n    columns:\n      status: {weights: {confirmed: 1, cancelled: 0}}\n  clients: {rows_per_org: 7}\n",
    )
    .unwrap();
    let summary = seed_ok(
        &db,
        &["--orgs", "2", "--profile", profile.to_str().unwrap()],
    );
    assert_eq!(
        scalar(&db, "SELECT string_agg(DISTINCT status, ',') FROM bookings"),
        "confirmed"
    );
    let bookings = summary["tables"]["bookings"].as_i64().unwrap();
    assert!((40..=120).contains(&bookings), "{bookings}");
    let clients = summary["tables"]["clients"].as_i64().unwrap();
    assert!((7..=25).contains(&clients), "{clients}");

    // --print-profile writes the profile dbkit derives, which seeds as it says.
    let out = dbkit_in(&common::work_dir())
        .args([
            "seed",
            "--print-profile",
            "--database-url",
            &db.url_string(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("tables:")
            && text.contains("  bookings:")
            && text.contains("rows_per_org: 1000"),
        "{text}"
    );
    assert!(
        text.contains("status:") && text.contains("no_show"),
        "{text}"
    );
    let derived = dir.path().join("derived.yaml");
    std::fs::write(&derived, text.as_bytes()).unwrap();
    let _ = predicate::str::contains("");
    seed_ok(
        &db,
        &[
            "--orgs",
            "1",
            "--reset",
            "--yes",
            "--profile",
            derived.to_str().unwrap(),
        ],
    );
}
