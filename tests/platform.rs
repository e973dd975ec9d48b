//! The Supabase platform layer (`dbkit::platform`) on real PostgreSQL: what it
//! provides, that a Supabase-style project's migrations then apply unchanged, that it
//! is a no-op where the objects exist (twice, or on a Supabase-like database), that an
//! extension the server lacks is one error naming the package, and that `dbkit
//! migrate` on the local cluster provides it before a Supabase-layout project runs.

mod common;

use std::path::Path;

use common::{dbkit, fresh_db, TestDb};
use dbkit::platform::{self, Provided};
use predicates::prelude::*;

/// A Supabase-style project of our own: auth.users references and a trigger on it,
/// policies calling auth.uid(), `comment on policy`, an extension in the extensions
/// schema and an operator class and function of extensions used unqualified (the
/// search_path), storage policies using storage.foldername(name), the realtime
/// publication. Named as `supabase migration new` names files.
const PROJECT: &[(&str, &str)] = &[
    (
        "20240101090000_profiles.sql",
        r#"create extension if not exists "pg_trgm" with schema extensions;

create table public.profiles (
    id uuid primary key references auth.users (id) on delete cascade,
    username text unique,
    created_at timestamptz not null default now()
);
alter table public.profiles enable row level security;

create policy "profiles are readable by signed-in users" on public.profiles
    for select to authenticated using (true);
create policy "users update their own profile" on public.profiles
    for update to authenticated using ((select auth.uid()) = id);
comment on policy "users update their own profile" on public.profiles is 'owner only';

create index profiles_username_trgm on public.profiles using gin (username gin_trgm_ops);

create function public.handle_new_user() returns trigger
    language plpgsql security definer set search_path = ''
as $$
begin
    insert into public.profiles (id, username)
    values (new.id, new.raw_user_meta_data ->> 'username');
    return new;
end
$$;
create trigger on_auth_user_created after insert on auth.users
    for each row execute function public.handle_new_user();

alter publication supabase_realtime add table public.profiles;
"#,
    ),
    (
        "20240102090000_avatars.sql",
        r#"insert into storage.buckets (id, name, public) values ('avatars', 'avatars', false);

create policy "users read their own avatars" on storage.objects
    for select to authenticated
    using (bucket_id = 'avatars' and (storage.foldername(name))[1] = (select auth.uid()::text));
create policy "users upload their own avatars" on storage.objects
    for insert to authenticated
    with check (bucket_id = 'avatars' and (storage.foldername(name))[1] = (select auth.uid()::text));

create table public.notes (
    id uuid primary key default uuid_generate_v4(),
    owner uuid not null default auth.uid() references auth.users (id),
    body text
);
alter table public.notes enable row level security;
create policy "owners read their notes" on public.notes
    for select to authenticated using ((select auth.uid()) = owner);
"#,
    ),
];

fn write_project(root: &Path) -> std::path::PathBuf {
    let dir = root.join("supabase").join("migrations");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, sql) in PROJECT {
        std::fs::write(dir.join(name), sql).unwrap();
    }
    // Profiles are readable by every signed-in user on purpose (the proof would
    // otherwise report user B reading user A's profile): said in the project's dbkit.yaml.
    std::fs::write(
        root.join("dbkit.yaml"),
        "tenancy:\n  tables:\n    profiles: { public: true }\n",
    )
    .unwrap();
    dir
}

fn provide(db: &TestDb) -> Provided {
    let url = db.url().clone();
    common::block_on(async move {
        let client = dbkit::db::connect(&url).await?;
        platform::provide(&client).await
    })
    .unwrap_or_else(|e| panic!("provide: {}", dbkit::error::one_line(&e)))
}

/// Everything of the platform a migration could see: roles' attributes, the auth,
/// storage and extensions schemas (owners, ACLs), their tables' columns and RLS,
/// functions with bodies and ACLs, extensions, the database's settings, default
/// privileges, publications with their tables.
fn snapshot(db: &TestDb) -> Vec<String> {
    db.query(
        "SELECT 'role ' || rolname || ' login=' || rolcanlogin || ' inherit=' || rolinherit
                || ' bypassrls=' || rolbypassrls || ' createrole=' || rolcreaterole
           FROM pg_roles WHERE rolname IN ('anon', 'authenticated', 'service_role', 'supabase_auth_admin')
         UNION ALL
         SELECT 'schema ' || nspname || ' owner=' || nspowner::regrole::text || ' acl=' || coalesce(nspacl::text, '-')
           FROM pg_namespace WHERE nspname IN ('auth', 'storage', 'extensions', 'public')
         UNION ALL
         SELECT 'table ' || c.oid::regclass::text || ' rls=' || c.relrowsecurity || ' acl=' || coalesce(c.relacl::text, '-')
                || ' cols=' || (SELECT string_agg(a.attname || ':' || format_type(a.atttypid, a.atttypmod), ',' ORDER BY a.attnum)
                                  FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)
           FROM pg_class c WHERE c.relnamespace::regnamespace::text IN ('auth', 'storage') AND c.relkind = 'r'
         UNION ALL
         SELECT 'function ' || p.oid::regprocedure::text || ' ' || pg_get_functiondef(p.oid) || ' acl=' || coalesce(p.proacl::text, '-')
           FROM pg_proc p WHERE p.pronamespace::regnamespace::text IN ('auth', 'storage')
         UNION ALL
         SELECT 'extension ' || extname || ' in ' || extnamespace::regnamespace::text FROM pg_extension
         UNION ALL
         SELECT 'setting ' || coalesce(setrole::regrole::text, '-') || ' ' || array_to_string(setconfig, ';')
           FROM pg_db_role_setting WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
         UNION ALL
         SELECT 'default acl ' || defaclrole::regrole::text || ' ' || coalesce(defaclnamespace::regnamespace::text, '-')
                || ' ' || defaclobjtype::text || ' ' || defaclacl::text FROM pg_default_acl
         UNION ALL
         SELECT 'publication ' || p.pubname || ' all=' || p.puballtables || ' tables='
                || coalesce((SELECT string_agg(t.tablename, ',' ORDER BY t.tablename) FROM pg_publication_tables t
                             WHERE t.pubname = p.pubname), '')
           FROM pg_publication p
         ORDER BY 1",
    )
    .iter()
    .map(|r| r.get::<_, String>(0))
    .collect()
}

/// An empty database gets every piece; a second `provide` creates nothing and changes
/// nothing.
#[test]
fn provide_creates_the_platform_once() {
    let db = fresh_db();
    let first = provide(&db);
    for object in [
        "schema auth",
        "table auth.users",
        "function auth.uid()",
        "function auth.role()",
        "function auth.email()",
        "function auth.jwt()",
        "schema storage",
        "table storage.buckets",
        "table storage.objects",
        "function storage.foldername(text)",
        "function storage.filename(text)",
        "function storage.extension(text)",
        "schema extensions",
        "extension uuid-ossp in extensions",
        "extension pgcrypto in extensions",
        "search_path \"$user\", public, extensions (database)",
        "grant usage on schema public to anon",
        "publication supabase_realtime",
        // Supabase Auth's and Storage's current tables and types (issue 21).
        "table auth.identities",
        "table auth.sessions",
        "table auth.mfa_factors",
        "table auth.mfa_challenges",
        "table auth.refresh_tokens",
        "table auth.one_time_tokens",
        "table auth.sso_providers",
        "type auth.aal_level",
        "type auth.factor_type",
        "type storage.buckettype",
        "table storage.s3_multipart_uploads",
    ] {
        assert!(
            first.created.iter().any(|c| c == object),
            "{object} missing from {:#?}",
            first.created
        );
    }
    assert_eq!(
        first
            .created
            .iter()
            .filter(|c| c.starts_with("grant default privileges on "))
            .count(),
        3,
        "{:#?}",
        first.created
    );
    // Roles are the cluster's: another test may have made them, but they exist now.
    let roles = db.query(
        "SELECT rolname::text, rolcanlogin, rolbypassrls FROM pg_roles \
         WHERE rolname IN ('anon', 'authenticated', 'service_role', 'supabase_auth_admin') ORDER BY 1",
    );
    let roles: Vec<(String, bool, bool)> = roles
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(
        roles,
        vec![
            ("anon".into(), false, false),
            ("authenticated".into(), false, false),
            ("service_role".into(), false, true),
            ("supabase_auth_admin".into(), false, false),
        ]
    );
    assert!(db
        .query("SELECT relrowsecurity FROM pg_class WHERE oid = 'storage.objects'::regclass")[0]
        .get::<_, bool>(0));
    // PostgREST's login role switches to the API roles: it is a member of each.
    let members = db.query(
        "SELECT string_agg(r.rolname, ',' ORDER BY r.rolname) FROM pg_auth_members m \
         JOIN pg_roles r ON r.oid = m.roleid \
         WHERE m.member = 'authenticator'::regrole AND r.rolname IN ('anon', 'authenticated', 'service_role')",
    );
    assert_eq!(
        members[0].get::<_, String>(0),
        "anon,authenticated,service_role"
    );
    let before = snapshot(&db);
    let second = provide(&db);
    assert_eq!(second, Provided::default());
    assert_eq!(snapshot(&db), before);
}

/// The helpers behave like Supabase's: claims from `request.jwt.claims`, path parts.
#[test]
fn auth_and_storage_helpers_read_claims_and_paths() {
    let db = fresh_db();
    provide(&db);
    let row = &db.query(
        "SELECT set_config('request.jwt.claims',
                           '{\"sub\": \"6f1e2d3c-0000-4000-8000-000000000001\", \"role\": \"authenticated\", \"email\": \"a@example.com\"}',
                           false),
                auth.uid()::text, auth.role(), auth.email(), auth.jwt() ->> 'email',
                storage.foldername('user-1/photos/cat.tar.gz')::text,
                storage.filename('user-1/photos/cat.tar.gz'),
                storage.extension('user-1/photos/cat.tar.gz'),
                storage.foldername('top.png')::text",
    )[0];
    assert_eq!(
        row.get::<_, String>(1),
        "6f1e2d3c-0000-4000-8000-000000000001"
    );
    assert_eq!(row.get::<_, String>(2), "authenticated");
    assert_eq!(row.get::<_, String>(3), "a@example.com");
    assert_eq!(row.get::<_, String>(4), "a@example.com");
    assert_eq!(row.get::<_, String>(5), "{user-1,photos}");
    assert_eq!(row.get::<_, String>(6), "cat.tar.gz");
    assert_eq!(row.get::<_, String>(7), "gz");
    assert_eq!(row.get::<_, String>(8), "{}");
    // Outside a request there is no user.
    let none = &db.query("SELECT auth.uid() IS NULL, auth.jwt() IS NULL")[0];
    assert!(none.get::<_, bool>(0) && none.get::<_, bool>(1));
}

/// A scratch database gets the platform, then the Supabase-style project applies with
/// `dbkit migrate` unchanged, and works: the trigger on auth.users fills profiles,
/// defaults use an extension's function through the search_path.
#[test]
fn a_supabase_style_project_applies_on_the_platform() {
    let db = fresh_db();
    provide(&db);
    let root = tempfile::tempdir().unwrap();
    let dir = write_project(root.path());
    dbkit()
        .args(["migrate", "--database-url", &db.url_string()])
        .arg("--migrations")
        .arg(&dir)
        .assert()
        .success();
    db.execute(
        "INSERT INTO auth.users (id, email, raw_user_meta_data)
         VALUES ('6f1e2d3c-0000-4000-8000-000000000001', 'a@example.com', '{\"username\": \"ada\"}');
         INSERT INTO public.notes (owner, body) VALUES ('6f1e2d3c-0000-4000-8000-000000000001', 'hi');",
    );
    assert_eq!(
        db.query("SELECT username FROM public.profiles")[0].get::<_, String>(0),
        "ada"
    );
    assert_eq!(
        db.query(
            "SELECT string_agg(tablename, ',') FROM pg_publication_tables WHERE pubname = 'supabase_realtime'"
        )[0]
        .get::<_, String>(0),
        "profiles"
    );
    assert_eq!(
        db.query("SELECT count(*) FROM pg_policies WHERE schemaname = 'storage'")[0]
            .get::<_, i64>(0),
        2
    );
    assert_eq!(
        db.query(
            "SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pg_trgm'"
        )[0]
        .get::<_, String>(0),
        "extensions"
    );
}

/// Where Supabase's objects exist already (with definitions of their own here, so a
/// replacement would show), `provide` leaves every one of them as it was.
#[test]
fn existing_platform_objects_are_left_alone() {
    let db = fresh_db();
    db.execute(
        "DO $$ BEGIN
             IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anon') THEN CREATE ROLE anon NOLOGIN; END IF;
             IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'authenticated') THEN CREATE ROLE authenticated NOLOGIN; END IF;
             IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'service_role') THEN CREATE ROLE service_role NOLOGIN BYPASSRLS; END IF;
             IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'supabase_auth_admin') THEN CREATE ROLE supabase_auth_admin NOLOGIN; END IF;
         EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
         END $$;
         CREATE SCHEMA auth;
         CREATE TABLE auth.users (id uuid PRIMARY KEY, email text, supabase_only int);
         CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS
           $f$ SELECT nullif(current_setting('request.jwt.claim.sub', true), '')::uuid /* supabase */ $f$;
         CREATE FUNCTION auth.role() RETURNS text LANGUAGE sql STABLE AS $f$ SELECT 'x' /* supabase */ $f$;
         CREATE FUNCTION auth.email() RETURNS text LANGUAGE sql STABLE AS $f$ SELECT 'x' /* supabase */ $f$;
         CREATE FUNCTION auth.jwt() RETURNS jsonb LANGUAGE sql STABLE AS $f$ SELECT '{}'::jsonb /* supabase */ $f$;
         CREATE SCHEMA storage;
         CREATE TABLE storage.buckets (id text PRIMARY KEY, name text);
         CREATE TABLE storage.objects (id uuid PRIMARY KEY, bucket_id text, name text);
         CREATE FUNCTION storage.foldername(name text) RETURNS text[] LANGUAGE sql AS $f$ SELECT '{}'::text[] $f$;
         CREATE FUNCTION storage.filename(name text) RETURNS text LANGUAGE sql AS $f$ SELECT '' $f$;
         CREATE FUNCTION storage.extension(name text) RETURNS text LANGUAGE sql AS $f$ SELECT '' $f$;
         CREATE SCHEMA extensions;
         CREATE EXTENSION pgcrypto WITH SCHEMA public;
         CREATE EXTENSION \"uuid-ossp\" WITH SCHEMA extensions;
         ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO anon;
         ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE ON SEQUENCES TO anon;
         ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT EXECUTE ON FUNCTIONS TO anon;
         GRANT USAGE ON SCHEMA public TO anon;
         CREATE PUBLICATION supabase_realtime FOR ALL TABLES;",
    );
    db.execute(&format!(
        "ALTER DATABASE \"{}\" SET search_path = public, extensions",
        db.name()
    ));
    let before = snapshot(&db);
    let provided = provide(&db);
    // Only what this stand-in lacks of current Supabase is added (Auth's tables beside
    // users, their enum types, Storage's multipart tables; the cluster's roles and
    // their memberships, when no test made them yet) ...
    assert!(
        provided.created.iter().all(|c| {
            (c.starts_with("table auth.")
                || c.starts_with("table storage.")
                || c.starts_with("type ")
                || c.starts_with("role ")
                || c.ends_with(" to authenticator"))
                && !c.ends_with(".users")
                && !c.ends_with(".buckets")
                && !c.ends_with(".objects")
        }),
        "{provided:#?}"
    );
    // ... and every object that was there is as it was (a FOR ALL TABLES publication
    // lists the new tables too, by definition: its own settings are compared).
    let key = |line: &String| line.split(' ').take(2).collect::<Vec<_>>().join(" ");
    let own = |lines: Vec<String>| -> Vec<String> {
        lines
            .into_iter()
            .map(|l| match l.find(" tables=") {
                Some(at) if l.starts_with("publication ") => l[..at].to_string(),
                _ => l,
            })
            .collect()
    };
    let existed: Vec<String> = before.iter().map(key).collect();
    let after: Vec<String> = snapshot(&db)
        .into_iter()
        .filter(|line| existed.contains(&key(line)))
        .collect();
    assert_eq!(own(after), own(before));
    assert_eq!(provide(&db), Provided::default());
}

/// An extension the server lacks: one error naming it, its file:line and the Debian
/// package, before anything runs — not a cascade of failures.
#[test]
fn a_missing_extension_is_one_error_naming_the_package() {
    let db = fresh_db();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("V1__base.sql"),
        "CREATE TABLE docs (id int);",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("V2__embeddings.sql"),
        "-- vectors\ncreate extension if not exists vector with schema public;\n\
         alter table docs add column embedding vector(3);\n",
    )
    .unwrap();
    let out = dbkit()
        .args(["migrate", "--database-url", &db.url_string()])
        .arg("--migrations")
        .arg(dir.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("V2__embeddings.sql:2"))
        .stderr(predicate::str::contains("vector"))
        .get_output()
        .clone();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let major: i32 =
        db.query("SELECT current_setting('server_version_num')::int / 10000")[0].get(0);
    assert!(
        stderr.contains(&format!("postgresql-{major}-pgvector")),
        "{stderr}"
    );
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with("error:")).count(),
        1,
        "{stderr}"
    );
    assert_eq!(
        stderr.lines().filter(|l| l.starts_with("hint:")).count(),
        1,
        "{stderr}"
    );
    assert_eq!(
        db.query("SELECT count(*) FROM pg_class WHERE relname = 'docs'")[0].get::<_, i64>(0),
        0,
        "nothing ran"
    );
}

/// `dbkit migrate` on the local cluster with a Supabase-layout project: the platform
/// first (said on stderr), then the project, in one session whose `RESET ALL` before
/// each file keeps the extensions search path (V2's default calls uuid_generate_v4()
/// unqualified). A second run provides nothing.
#[test]
fn migrate_on_the_local_cluster_provides_the_platform_first() {
    let root = common::work_dir();
    write_project(&root);
    common::dbkit_in(&root)
        .args(["migrate", "--migrations", "supabase/migrations"])
        .assert()
        .success()
        .stderr(predicate::str::contains("provided the Supabase platform"));
    let out = common::dbkit_in(&root)
        .args([
            "migrate",
            "status",
            "--format",
            "json",
            "--migrations",
            "supabase/migrations",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let rows: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 2, "{rows}");
    assert!(rows
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["state"] == "applied"));
    std::fs::write(
        root.join("supabase/migrations/20240103090000_more.sql"),
        "create table public.more (id uuid primary key default uuid_generate_v4());",
    )
    .unwrap();
    common::dbkit_in(&root)
        .args(["migrate", "--migrations", "supabase/migrations"])
        .assert()
        .success()
        .stderr(predicate::str::contains("provided").not());
    common::dbkit_in(&root)
        .args(["db", "destroy", "--yes"])
        .assert()
        .success();
}

/// `dbkit check` on a Supabase-layout project: its scratch databases get the platform,
/// so the project applies (no `apply-failed`); a migration creating an extension the
/// server lacks is one `extension-unavailable` finding naming the package, not a
/// cascade, and the check fails closed (`incomplete`).
#[test]
fn check_applies_a_supabase_project_and_names_a_missing_extension() {
    let root = tempfile::tempdir().unwrap();
    let dir = write_project(root.path());
    // The target whose history check compares (none): scratch databases go beside it.
    let target = fresh_db();
    let report = |expected_exit: i32| -> serde_json::Value {
        let out = dbkit()
            .args(["--database-url", &target.url_string()])
            .args(["check", "--format", "json", "--migrations"])
            .arg(&dir)
            .assert()
            .code(expected_exit)
            .get_output()
            .stdout
            .clone();
        serde_json::from_slice(&out).unwrap()
    };
    let hits = |report: &serde_json::Value, rule: &str| -> Vec<serde_json::Value> {
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["rule"] == rule)
            .cloned()
            .collect()
    };
    let clean = report(0);
    assert_eq!(
        hits(&clean, "apply-failed"),
        Vec::<serde_json::Value>::new(),
        "{clean:#?}"
    );
    assert!(clean.get("incomplete").is_none(), "{clean:#?}");
    std::fs::write(
        dir.join("20240103090000_embeddings.sql"),
        "create extension if not exists vector with schema extensions;\n\
         alter table public.notes add column embedding vector(3);\n",
    )
    .unwrap();
    let failed = report(1);
    assert_eq!(
        hits(&failed, "apply-failed"),
        Vec::<serde_json::Value>::new()
    );
    assert!(
        failed["incomplete"]
            .as_str()
            .unwrap()
            .starts_with("the server lacks vector (install postgresql-"),
        "{failed:#?}"
    );
    let failing = hits(&failed, "extension-unavailable");
    assert_eq!(failing.len(), 1, "{failing:#?}");
    assert_eq!(failing[0]["line"], 1);
    assert!(
        failing[0]["file"]
            .as_str()
            .unwrap()
            .ends_with("20240103090000_embeddings.sql")
            && failing[0]["message"]
                .as_str()
                .unwrap()
                .contains("-pgvector"),
        "{failing:#?}"
    );
}

/// A lab cloned from a cached template of a Supabase-layout project still has the
/// platform's database search_path (CREATE DATABASE … TEMPLATE does not copy database
/// settings): extension functions resolve unqualified in a new session.
#[test]
fn a_cloned_lab_keeps_the_extensions_search_path() {
    use dbkit::lab::{CachePolicy, CacheUse, Lab};
    let root = tempfile::tempdir().unwrap();
    let dir = write_project(root.path());
    let server = common::server_url();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (first, second) = runtime
        .block_on(async {
            let set = dbkit::migrate::MigrationSet::load(&dir)?;
            let build = || {
                Lab::seeded_at_with(
                    &server,
                    "platform",
                    set.clone(),
                    20240102090000_i64,
                    None,
                    CachePolicy::On,
                )
            };
            let first = build().await?;
            let second = build().await?;
            anyhow::Ok((first, second))
        })
        .unwrap_or_else(|e| panic!("lab: {}", dbkit::error::one_line(&e)));
    assert!(
        matches!(first.1.cache, CacheUse::Stored(_)),
        "{:?}",
        first.1.cache
    );
    assert!(
        matches!(second.1.cache, CacheUse::Hit(_)),
        "{:?}",
        second.1.cache
    );
    let clone = second.0.url().clone();
    let row = &common::sql(
        &clone,
        "SELECT uuid_generate_v4() IS NOT NULL, current_setting('search_path')",
    )[0];
    assert!(row.get::<_, bool>(0));
    assert_eq!(row.get::<_, String>(1), "\"$user\", public, extensions");
    runtime
        .block_on(async {
            first.0.finish(false).await?;
            second.0.finish(false).await
        })
        .unwrap();
}

/// A project in dbkit's own layout that is a Supabase project all the same (as the
/// realworld sets are without their hand-written shim), referencing what current
/// Supabase has: MFA factors, identities, sessions, `storage.buckets.avif_autodetection`,
/// the role `authenticator`.
const PLAIN_LAYOUT_PROJECT: &[(&str, &str)] = &[
    (
        "V1__profiles.sql",
        "create table public.profiles (\n    id uuid primary key references auth.users (id) on delete cascade,\n    provider text\n);\n\
         alter table public.profiles enable row level security;\n\
         create policy own on public.profiles for select to authenticated using ((select auth.uid()) = id);\n\
         alter role authenticator set statement_timeout to '15s';\n",
    ),
    (
        "V2__mfa.sql",
        "create function public.has_verified_factor() returns boolean\n    language sql stable security definer set search_path = ''\n\
         as $$ select exists (select 1 from auth.mfa_factors f where f.user_id = auth.uid() and f.status = 'verified') $$;\n\
         create view public.my_logins with (security_invoker = true) as\n    select i.provider, s.aal, s.created_at from auth.identities i join auth.sessions s using (user_id);\n\
         insert into storage.buckets (id, name, public, avif_autodetection) values ('avatars', 'avatars', false, false);\n",
    ),
];

fn write_plain_layout(root: &Path) -> std::path::PathBuf {
    let dir = root.join("migrations");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, sql) in PLAIN_LAYOUT_PROJECT {
        std::fs::write(dir.join(name), sql).unwrap();
    }
    dir
}

/// Issue 19 item 5: on a plain PostgreSQL named by --database-url (a CI service
/// container), a Supabase project fails on `schema "auth"` — and the error says to pass
/// `--platform supabase`; with it, the platform is provided (current Auth and Storage
/// objects included) and the project applies.
#[test]
fn platform_supabase_provides_the_platform_on_a_plain_server() {
    let db = fresh_db();
    let root = tempfile::tempdir().unwrap();
    let dir = write_plain_layout(root.path());
    let migrate = |extra: &[&str]| {
        dbkit()
            .args(["migrate", "--database-url", &db.url_string()])
            .arg("--migrations")
            .arg(&dir)
            .args(extra)
            .assert()
    };
    let out = migrate(&[]).code(2).get_output().clone();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("V1__profiles.sql:") && stderr.contains("schema \"auth\" does not exist"),
        "{stderr}"
    );
    let hint = stderr
        .lines()
        .find(|l| l.starts_with("hint:"))
        .unwrap_or("");
    assert!(
        hint.contains("schema auth is Supabase's")
            && hint.contains("dbkit migrate --platform supabase"),
        "{stderr}"
    );
    migrate(&["--platform", "supabase"])
        .success()
        .stderr(predicate::str::contains("provided the Supabase platform"));
    assert_eq!(
        db.query("SELECT count(*) FROM storage.buckets WHERE id = 'avatars' AND NOT avif_autodetection AND type = 'STANDARD'")[0]
            .get::<_, i64>(0),
        1
    );
    assert_eq!(
        db.query("SELECT count(*) FROM refinery_schema_history")[0].get::<_, i64>(0),
        2
    );
    // The helper runs: no factor, so not verified.
    assert!(!db.query("SELECT public.has_verified_factor()")[0].get::<_, bool>(0));
}

/// A Supabase project's own database (Supabase Auth's migration table is there) gets
/// nothing from dbkit, even with --platform supabase: its platform is the real one.
#[test]
fn platform_supabase_never_touches_a_supabase_database() {
    let db = fresh_db();
    db.execute(
        "CREATE SCHEMA auth; CREATE TABLE auth.schema_migrations (version varchar(255) PRIMARY KEY);\n\
         CREATE TABLE auth.users (id uuid PRIMARY KEY);",
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("V1__profiles.sql"),
        "create table public.profiles (id uuid primary key references auth.users (id));",
    )
    .unwrap();
    dbkit()
        .args([
            "migrate",
            "--platform",
            "supabase",
            "--database-url",
            &db.url_string(),
        ])
        .arg("--migrations")
        .arg(dir.path())
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "this database is a Supabase project's",
        ))
        .stderr(predicate::str::contains("provided the Supabase platform").not());
    let untouched = &db.query(
        "SELECT to_regnamespace('storage') IS NULL, to_regclass('auth.identities') IS NULL, \
                to_regprocedure('auth.uid()') IS NULL",
    )[0];
    assert!(
        untouched.get::<_, bool>(0) && untouched.get::<_, bool>(1) && untouched.get::<_, bool>(2)
    );
}

/// A Supabase-layout project as `supabase db dump` writes one: Supabase's own
/// extensions created (some with COMMENT ON EXTENSION), a webhook trigger, a function
/// posting with pg_net a URL read from Vault, pgjwt tokens, a wrappers FDW, a CHECK
/// built on pg_jsonschema.
const STUBBED_PROJECT: &str = r#"CREATE EXTENSION IF NOT EXISTS "pg_net" WITH SCHEMA "extensions";
CREATE EXTENSION IF NOT EXISTS "pgsodium" WITH SCHEMA "pgsodium";
CREATE EXTENSION IF NOT EXISTS "pg_graphql" WITH SCHEMA "graphql";
COMMENT ON EXTENSION "pg_graphql" IS 'pg_graphql: GraphQL support';
CREATE EXTENSION IF NOT EXISTS "pgjwt" WITH SCHEMA "extensions";
CREATE EXTENSION IF NOT EXISTS "supabase_vault" WITH SCHEMA "vault";
create extension if not exists "wrappers" with schema "extensions";
create extension if not exists pg_jsonschema with schema extensions;

create foreign data wrapper stripe_wrapper
    handler extensions.stripe_fdw_handler validator extensions.stripe_fdw_validator;

create table public.settings (
    id bigint primary key,
    doc jsonb not null check (extensions.jsonb_matches_schema('{"type": "object"}', doc))
);

create function public.post_setting() returns trigger
    language plpgsql security definer set search_path = ''
as $$
begin
    perform net.http_post(
        url := (select decrypted_secret from vault.decrypted_secrets where name = 'hook_url'),
        body := to_jsonb(new));
    return new;
end
$$;
create trigger settings_posted after insert on public.settings
    for each row execute function public.post_setting();
create trigger settings_webhook after insert on public.settings
    for each row execute function supabase_functions.http_request(
        'https://example.com/hook', 'POST', '{"Content-type":"application/json"}', '{}', '5000');
"#;

/// Issue 21: Supabase's own extensions the server lacks are stubbed — same names and
/// signatures, said once — so such a project applies, and its triggers run.
#[test]
fn supabase_own_extensions_are_stubbed_where_the_server_lacks_them() {
    let db = fresh_db();
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("supabase").join("migrations");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("20240201090000_remote_schema.sql"),
        STUBBED_PROJECT,
    )
    .unwrap();
    // What this server lacks is stubbed; an extension it has would be the real one.
    let lacking: Vec<String> = db
        .query(
            "SELECT n FROM unnest(ARRAY['pg_graphql', 'pg_jsonschema', 'pg_net', 'pgjwt', \
             'pgsodium', 'supabase_vault', 'wrappers']) AS n \
             WHERE n NOT IN (SELECT name FROM pg_available_extensions) ORDER BY n",
        )
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(lacking.contains(&"pg_net".to_string()), "{lacking:?}");
    let out = dbkit()
        .args([
            "migrate",
            "--platform",
            "supabase",
            "--database-url",
            &db.url_string(),
        ])
        .arg("--migrations")
        .arg(&dir)
        .assert()
        .success()
        .get_output()
        .clone();
    let stderr = String::from_utf8(out.stderr).unwrap();
    let said: Vec<&str> = stderr.lines().filter(|l| l.contains("stubbed")).collect();
    assert_eq!(said.len(), 1, "{stderr}");
    let mut expected = lacking.clone();
    expected.push("database webhooks (supabase_functions)".into());
    expected.sort();
    assert!(said[0].ends_with(&expected.join(", ")), "{stderr}");

    db.execute(
        "SELECT vault.create_secret('https://example.com/posted', 'hook_url');\n\
         INSERT INTO public.settings VALUES (1, '{\"theme\": \"dark\"}');",
    );
    let posted = &db.query(
        "SELECT (SELECT count(*) FROM net.http_request_queue WHERE url = 'https://example.com/posted'), \
                (SELECT count(*) FROM supabase_functions.hooks WHERE hook_name = 'settings_webhook')",
    )[0];
    assert_eq!((posted.get::<_, i64>(0), posted.get::<_, i64>(1)), (1, 1));
    let jwt = &db.query(
        "SELECT v.valid, v.payload ->> 'sub' FROM extensions.verify(\
             extensions.sign('{\"sub\": \"u1\"}', 'secret'), 'secret') AS v",
    )[0];
    assert!(jwt.get::<_, bool>(0));
    assert_eq!(jwt.get::<_, String>(1), "u1");
    assert!(
        db.query("SELECT graphql_public.graphql(query := '{ settings { id } }') ? 'errors'")[0]
            .get::<_, bool>(0)
    );
    assert_eq!(
        db.query("SELECT count(*) FROM pg_foreign_data_wrapper WHERE fdwname = 'stripe_wrapper'")
            [0]
        .get::<_, i64>(0),
        1
    );
    // A second run has nothing to do and stubs nothing.
    dbkit()
        .args([
            "migrate",
            "--platform",
            "supabase",
            "--database-url",
            &db.url_string(),
        ])
        .arg("--migrations")
        .arg(&dir)
        .assert()
        .success()
        .stderr(predicate::str::contains("stubbed").not());
}

/// `dbkit check` on that project: the scratch databases get the stubs, the note under
/// the findings names them, nothing fails to apply.
#[test]
fn check_applies_a_project_using_supabase_own_extensions() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("supabase").join("migrations");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("20240201090000_remote_schema.sql"),
        STUBBED_PROJECT,
    )
    .unwrap();
    let target = fresh_db();
    let out = dbkit()
        .args(["--database-url", &target.url_string()])
        .args(["check", "--format", "json", "--migrations"])
        .arg(&dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let report: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{e}: {stdout} {}", String::from_utf8_lossy(&out.stderr)));
    assert!(report.get("incomplete").is_none(), "{report:#}");
    assert_eq!(report["ran"]["applied"], true, "{report:#}");
    let stubbed: Vec<&str> = report["ran"]["stubbed"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    assert!(
        stubbed.contains(&"pg_net") && stubbed.contains(&"database webhooks (supabase_functions)"),
        "{stubbed:?}"
    );
    assert!(
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["rule"] != "apply-failed" && f["rule"] != "extension-unavailable"),
        "{report:#}"
    );
}

/// The realworld pattern without its hand-written shim: `dbkit check` cannot apply a
/// Supabase project in dbkit's layout, fails closed and names `--platform supabase`;
/// with it, the project applies and is judged.
#[test]
fn check_names_platform_supabase_and_applies_with_it() {
    let root = tempfile::tempdir().unwrap();
    let dir = write_plain_layout(root.path());
    let target = fresh_db();
    let run = |extra: &[&str]| -> (i32, serde_json::Value) {
        let out = dbkit()
            .args(["--database-url", &target.url_string()])
            .args(["check", "--format", "json", "--migrations"])
            .arg(&dir)
            .args(extra)
            .output()
            .unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        (
            out.status.code().unwrap(),
            serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}")),
        )
    };
    let (code, bare) = run(&[]);
    assert_eq!(code, 1);
    assert!(
        bare["incomplete"]
            .as_str()
            .unwrap()
            .contains("V1__profiles.sql:1 could not be applied"),
        "{bare:#}"
    );
    let failed = &bare["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "apply-failed")
        .cloned()
        .unwrap();
    assert!(
        failed["message"]
            .as_str()
            .unwrap()
            .contains("`dbkit check --platform supabase` provides Supabase's platform"),
        "{failed:#}"
    );
    let (_, with) = run(&["--platform", "supabase"]);
    assert!(with.get("incomplete").is_none(), "{with:#}");
    assert_eq!(with["ran"]["applied"], true, "{with:#}");
}
