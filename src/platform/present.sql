-- The platform objects present, one line each: read before and after providing, the
-- difference is what dbkit created.
SELECT 'role ' || rolname FROM pg_roles
 WHERE rolname IN ('anon', 'authenticated', 'service_role', 'supabase_auth_admin')
UNION ALL
SELECT 'schema ' || nspname FROM pg_namespace
 WHERE nspname IN ('auth', 'storage', 'extensions')
UNION ALL
SELECT 'table ' || c.oid::regclass::text FROM pg_class c
 WHERE c.oid IN (to_regclass('auth.users'), to_regclass('storage.buckets'), to_regclass('storage.objects'))
UNION ALL
SELECT 'function ' || p.oid::regprocedure::text FROM pg_proc p
 WHERE p.oid IN (to_regprocedure('auth.uid()'), to_regprocedure('auth.role()'),
                 to_regprocedure('auth.email()'), to_regprocedure('auth.jwt()'),
                 to_regprocedure('storage.foldername(text)'), to_regprocedure('storage.filename(text)'),
                 to_regprocedure('storage.extension(text)'))
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
SELECT 'publication ' || pubname FROM pg_publication WHERE pubname = 'supabase_realtime'
ORDER BY 1
