-- The roles a Supabase project's grants and policies name. PostgREST switches to anon
-- or authenticated per request; service_role bypasses row-level security; GoTrue owns
-- the auth tables as supabase_auth_admin. All are NOLOGIN here: nothing signs in as
-- them on a dbkit server, and a login role without a password would be a way in on a
-- trust-authenticated cluster.
-- Roles belong to the cluster, not the database: two databases provided at once may
-- both see a role missing, hence the duplicate_object / unique_violation handlers.
DO $platform$
DECLARE
    wanted CONSTANT text[][] := ARRAY[
        ['anon', 'NOLOGIN NOINHERIT'],
        ['authenticated', 'NOLOGIN NOINHERIT'],
        ['service_role', 'NOLOGIN NOINHERIT BYPASSRLS'],
        ['supabase_auth_admin', 'NOLOGIN NOINHERIT CREATEROLE']
    ];
    i int;
BEGIN
    FOR i IN 1 .. array_length(wanted, 1) LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = wanted[i][1]) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I %s', wanted[i][1], wanted[i][2]);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
            END;
        END IF;
    END LOOP;
END
$platform$;
