-- The roles a Supabase project's grants and policies name. PostgREST signs in as
-- authenticator and switches to anon or authenticated per request (so authenticator is
-- a member of the API roles); service_role bypasses row-level security; Supabase's
-- services own their schemas as supabase_auth_admin, supabase_storage_admin,
-- supabase_functions_admin, supabase_realtime_admin; dashboard_user, pgbouncer and
-- supabase_read_only_user are the platform's own; postgres owns what the dashboard
-- creates (missing only on a cluster whose superuser has another name). All are
-- NOLOGIN here, without the platform's privileged attributes: nothing signs in as them
-- on a dbkit server, and a login role without a password would be a way in on a
-- trust-authenticated cluster.
-- Roles belong to the cluster, not the database: two databases provided at once may
-- both see a role missing, hence the duplicate_object / unique_violation handlers.
DO $platform$
DECLARE
    wanted CONSTANT text[][] := ARRAY[
        ['anon', 'NOLOGIN NOINHERIT'],
        ['authenticated', 'NOLOGIN NOINHERIT'],
        ['service_role', 'NOLOGIN NOINHERIT BYPASSRLS'],
        ['supabase_auth_admin', 'NOLOGIN NOINHERIT CREATEROLE'],
        ['authenticator', 'NOLOGIN NOINHERIT'],
        ['supabase_storage_admin', 'NOLOGIN NOINHERIT CREATEROLE'],
        ['supabase_functions_admin', 'NOLOGIN NOINHERIT CREATEROLE'],
        ['supabase_realtime_admin', 'NOLOGIN NOINHERIT'],
        ['supabase_read_only_user', 'NOLOGIN'],
        ['dashboard_user', 'NOLOGIN'],
        ['pgbouncer', 'NOLOGIN'],
        ['postgres', 'NOLOGIN']
    ];
    api text;
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
    FOREACH api IN ARRAY ARRAY['anon', 'authenticated', 'service_role'] LOOP
        IF NOT pg_has_role('authenticator', api, 'MEMBER') THEN
            BEGIN
                EXECUTE format('GRANT %I TO authenticator', api);
            -- Another database granting it at the same moment ("tuple concurrently
            -- updated" is XX000).
            EXCEPTION WHEN duplicate_object OR unique_violation OR internal_error THEN NULL;
            END;
        END IF;
    END LOOP;
END
$platform$;
