-- wrappers (Supabase's foreign data wrappers), stubbed in the schema its CREATE
-- EXTENSION names (@extschema@): `wrappers_fdw_stats` and, per wrapper, the
-- `<name>_fdw_handler`, `<name>_fdw_validator` and `<name>_fdw_meta` functions that
-- `CREATE FOREIGN DATA WRAPPER … HANDLER … VALIDATOR …` names. A handler must be C:
-- the stub's is postgres_fdw's (so the wrapper, its servers and foreign tables can be
-- created; reading a foreign table fails, as nothing is behind it); where postgres_fdw
-- is missing or C functions may not be created, the handlers are left out.
CREATE TABLE IF NOT EXISTS @extschema@.wrappers_fdw_stats (
    fdw_name text PRIMARY KEY,
    create_times bigint,
    rows_in bigint,
    rows_out bigint,
    bytes_in bigint,
    bytes_out bigint,
    metadata jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

DO $stub$
DECLARE
    fdw text;
BEGIN
    FOREACH fdw IN ARRAY ARRAY['airtable', 'auth0', 'big_query', 'click_house', 'cognito',
        'duckdb', 'firebase', 'iceberg', 'logflare', 'mssql', 'redis', 's3', 'stripe', 'wasm'] LOOP
        EXECUTE format('CREATE OR REPLACE FUNCTION @extschema@.%I(options text[], catalog oid) '
                       'RETURNS void LANGUAGE plpgsql AS $fn$ BEGIN END $fn$', fdw || '_fdw_validator');
        EXECUTE format('CREATE OR REPLACE FUNCTION @extschema@.%I() '
                       'RETURNS TABLE (name text, version text, author text, website text) '
                       'LANGUAGE sql AS $fn$ SELECT %L, %L, %L, %L $fn$',
                       fdw || '_fdw_meta', fdw, 'stub', 'dbkit', 'https://github.com/supabase/wrappers');
        BEGIN
            EXECUTE format('CREATE OR REPLACE FUNCTION @extschema@.%I() RETURNS fdw_handler '
                           'LANGUAGE c AS %L, %L', fdw || '_fdw_handler',
                           '$libdir/postgres_fdw', 'postgres_fdw_handler');
        EXCEPTION WHEN insufficient_privilege OR undefined_file OR undefined_function THEN
            NULL;
        END;
    END LOOP;
END
$stub$;
