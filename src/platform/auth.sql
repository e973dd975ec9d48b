-- The `auth` schema as projects use it: the users table their foreign keys and
-- triggers point at, and the helpers their policies call. The helpers read the JWT
-- claims PostgREST puts in `request.jwt.claims` for each request (and the older
-- one-setting-per-claim form, `request.jwt.claim.sub`, that Supabase still honours).
DO $platform$
BEGIN
    IF to_regnamespace('auth') IS NULL THEN
        CREATE SCHEMA auth;
        GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;
        GRANT ALL ON SCHEMA auth TO supabase_auth_admin;
    END IF;

    IF to_regclass('auth.users') IS NULL THEN
        CREATE TABLE auth.users (
            instance_id uuid,
            id uuid PRIMARY KEY,
            aud varchar(255),
            role varchar(255),
            email varchar(255),
            encrypted_password varchar(255),
            email_confirmed_at timestamptz,
            invited_at timestamptz,
            confirmation_sent_at timestamptz,
            recovery_sent_at timestamptz,
            last_sign_in_at timestamptz,
            raw_app_meta_data jsonb,
            raw_user_meta_data jsonb,
            is_super_admin boolean,
            created_at timestamptz,
            updated_at timestamptz,
            phone text UNIQUE,
            phone_confirmed_at timestamptz,
            confirmed_at timestamptz GENERATED ALWAYS AS (least(email_confirmed_at, phone_confirmed_at)) STORED,
            banned_until timestamptz,
            deleted_at timestamptz,
            is_sso_user boolean NOT NULL DEFAULT false,
            is_anonymous boolean NOT NULL DEFAULT false
        );
        CREATE INDEX users_instance_id_email_idx ON auth.users (instance_id, lower(email::text));
        GRANT ALL ON auth.users TO supabase_auth_admin, service_role;
    END IF;

    -- Every claim of the request, as one jsonb (NULL outside a request).
    IF to_regprocedure('auth.jwt()') IS NULL THEN
        CREATE FUNCTION auth.jwt() RETURNS jsonb
            LANGUAGE sql STABLE
            AS $fn$
                SELECT coalesce(
                    nullif(current_setting('request.jwt.claim', true), ''),
                    nullif(current_setting('request.jwt.claims', true), '')
                )::jsonb
            $fn$;
        GRANT EXECUTE ON FUNCTION auth.jwt() TO anon, authenticated, service_role;
    END IF;

    -- One claim of the request, from its own setting or from `request.jwt.claims`:
    -- auth.uid(), the signed-in user (the `sub` claim); auth.role(), the API role the
    -- request runs as (anon, authenticated, service_role); auth.email(), the signed-in
    -- user's e-mail address.
    DECLARE
        helper record;
    BEGIN
        FOR helper IN SELECT * FROM (VALUES
            ('uid', 'sub', 'uuid'), ('role', 'role', 'text'), ('email', 'email', 'text')
        ) AS h (name, claim, result_type)
        LOOP
            CONTINUE WHEN to_regprocedure(format('auth.%I()', helper.name)) IS NOT NULL;
            -- (The body keeps the indentation of the former one-per-helper definitions.)
            EXECUTE format($create$
            CREATE FUNCTION auth.%1$I() RETURNS %3$s
            LANGUAGE sql STABLE
            AS $fn$
                SELECT coalesce(
                    nullif(current_setting('request.jwt.claim.%2$s', true), ''),
                    nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> %2$L
                )::%3$s
            $fn$
            $create$, helper.name, helper.claim, helper.result_type);
            EXECUTE format('GRANT EXECUTE ON FUNCTION auth.%I() TO anon, authenticated, service_role',
                           helper.name);
        END LOOP;
    END;
END
$platform$;
