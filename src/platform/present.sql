-- The platform objects present, one line each: read before and after providing, the
-- difference is what dbkit created. Tables, views, types and functions count in the
-- platform's schemas (and dbkit's stubs in `extensions`), not those of an extension.
WITH platform_schemas (nspname) AS (
    VALUES ('auth'), ('storage'), ('vault'), ('net'), ('pgsodium'), ('graphql'),
           ('graphql_public'), ('supabase_functions'), ('extensions')
)
SELECT 'role ' || rolname FROM pg_roles
 WHERE rolname IN ('anon', 'authenticated', 'service_role', 'supabase_auth_admin', 'authenticator',
                   'supabase_storage_admin', 'supabase_functions_admin', 'supabase_realtime_admin',
                   'supabase_read_only_user', 'dashboard_user', 'pgbouncer', 'postgres',
                   'pgsodium_keyiduser', 'pgsodium_keyholder', 'pgsodium_keymaker')
UNION ALL
SELECT 'schema ' || nspname FROM pg_namespace WHERE nspname IN (SELECT nspname FROM platform_schemas)
UNION ALL
SELECT CASE c.relkind WHEN 'v' THEN 'view ' ELSE 'table ' END || c.oid::regclass::text FROM pg_class c
 WHERE c.relkind IN ('r', 'v', 'p')
   AND c.relnamespace::regnamespace::text IN (SELECT nspname FROM platform_schemas)
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                   AND d.objid = c.oid AND d.deptype = 'e')
UNION ALL
SELECT 'type ' || t.oid::regtype::text FROM pg_type t
 WHERE t.typtype IN ('e', 'd')
   AND t.typnamespace::regnamespace::text IN (SELECT nspname FROM platform_schemas)
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass
                   AND d.objid = t.oid AND d.deptype = 'e')
UNION ALL
SELECT 'function ' || p.oid::regprocedure::text FROM pg_proc p
 WHERE p.pronamespace::regnamespace::text IN (SELECT nspname FROM platform_schemas)
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                   AND d.objid = p.oid AND d.deptype = 'e')
UNION ALL
SELECT 'extension ' || e.extname || ' in ' || e.extnamespace::regnamespace::text FROM pg_extension e
 WHERE e.extname IN ('uuid-ossp', 'pgcrypto')
UNION ALL
SELECT 'search_path ' || substr(cfg, length('search_path=') + 1) || ' (database)'
  FROM pg_db_role_setting s, unnest(s.setconfig) AS cfg
 WHERE s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND s.setrole = 0 AND cfg LIKE 'search\_path=%'
UNION ALL
SELECT 'grant default privileges on ' || CASE d.defaclobjtype WHEN 'r' THEN 'tables' WHEN 'S' THEN 'sequences'
                                    WHEN 'f' THEN 'functions' ELSE d.defaclobjtype::text END
       || ' in public for ' || d.defaclrole::regrole::text
  FROM pg_default_acl d
 WHERE d.defaclnamespace = 'public'::regnamespace AND d.defaclrole = current_user::regrole
UNION ALL
SELECT 'grant usage on schema public to anon' FROM pg_namespace n,
       aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) AS acl
 WHERE n.nspname = 'public' AND acl.privilege_type = 'USAGE' AND acl.grantee = (SELECT oid FROM pg_roles WHERE rolname = 'anon')
UNION ALL
SELECT 'grant ' || r.rolname || ' to authenticator' FROM pg_auth_members m
  JOIN pg_roles r ON r.oid = m.roleid
 WHERE m.member = (SELECT oid FROM pg_roles WHERE rolname = 'authenticator')
   AND r.rolname IN ('anon', 'authenticated', 'service_role')
UNION ALL
SELECT 'publication ' || pubname FROM pg_publication WHERE pubname = 'supabase_realtime'
ORDER BY 1
