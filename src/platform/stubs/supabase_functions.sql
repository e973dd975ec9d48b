-- Supabase's database webhooks, stubbed: the `supabase_functions` schema with its
-- `hooks` log and the `supabase_functions.http_request()` trigger function that
-- webhook triggers call (`EXECUTE FUNCTION supabase_functions.http_request('https://…',
-- 'POST', '{…}', '{}', '5000')`). The stub logs the call, as Supabase's does, and sends
-- nothing; the row goes on unchanged.
DO $stub$
BEGIN
    IF to_regnamespace('supabase_functions') IS NULL THEN
        CREATE SCHEMA supabase_functions;
    END IF;
    GRANT USAGE ON SCHEMA supabase_functions TO anon, authenticated, service_role;

    IF to_regclass('supabase_functions.hooks') IS NULL THEN
        CREATE TABLE supabase_functions.hooks (
            id bigserial PRIMARY KEY,
            hook_table_id integer NOT NULL,
            hook_name text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now(),
            request_id bigint
        );
        CREATE INDEX supabase_functions_hooks_request_id_idx ON supabase_functions.hooks (request_id);
        CREATE INDEX supabase_functions_hooks_h_table_id_h_name_idx
            ON supabase_functions.hooks (hook_table_id, hook_name);
    END IF;

    IF to_regprocedure('supabase_functions.http_request()') IS NULL THEN
        CREATE FUNCTION supabase_functions.http_request() RETURNS trigger
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = supabase_functions
        AS $fn$
        BEGIN
            INSERT INTO supabase_functions.hooks (hook_table_id, hook_name, request_id)
            VALUES (TG_RELID, TG_NAME, NULL);
            IF TG_OP = 'DELETE' THEN
                RETURN OLD;
            END IF;
            RETURN NEW;
        END
        $fn$;
    END IF;
END
$stub$;
