-- What Supabase grants on `public`: the API roles may use the schema, and whatever
-- the migrating role creates there is granted to them (row-level security, not
-- grants, is what keeps tenants apart). Each default is added only where the role has
-- none of its own for that kind of object.
DO $platform$
DECLARE
    kind record;
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_namespace n,
             aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) AS acl
        WHERE n.nspname = 'public' AND acl.privilege_type = 'USAGE'
          AND acl.grantee = (SELECT oid FROM pg_roles WHERE rolname = 'anon'))
    THEN
        GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role;
    END IF;
    FOR kind IN SELECT * FROM (VALUES ('r', 'TABLES'), ('S', 'SEQUENCES'), ('f', 'FUNCTIONS'))
                AS k(objtype, objects) LOOP
        IF NOT EXISTS (
            SELECT 1 FROM pg_default_acl d
            WHERE d.defaclrole = current_user::regrole
              AND d.defaclnamespace = 'public'::regnamespace
              AND d.defaclobjtype = kind.objtype::"char")
        THEN
            EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON %s TO anon, authenticated, service_role',
                           kind.objects);
        END IF;
    END LOOP;
END
$platform$;
