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

    -- The signed-in user: the `sub` claim.
    IF to_regprocedure('auth.uid()') IS NULL THEN
        CREATE FUNCTION auth.uid() RETURNS uuid
            LANGUAGE sql STABLE
            AS $fn$
                SELECT coalesce(
                    nullif(current_setting('request.jwt.claim.sub', true), ''),
                    nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'
                )::uuid
            $fn$;
        GRANT EXECUTE ON FUNCTION auth.uid() TO anon, authenticated, service_role;
    END IF;

    -- The API role the request runs as (anon, authenticated, service_role).
    IF to_regprocedure('auth.role()') IS NULL THEN
        CREATE FUNCTION auth.role() RETURNS text
            LANGUAGE sql STABLE
            AS $fn$
                SELECT coalesce(
                    nullif(current_setting('request.jwt.claim.role', true), ''),
                    nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role'
                )::text
            $fn$;
        GRANT EXECUTE ON FUNCTION auth.role() TO anon, authenticated, service_role;
    END IF;

    -- The signed-in user's e-mail address.
    IF to_regprocedure('auth.email()') IS NULL THEN
        CREATE FUNCTION auth.email() RETURNS text
            LANGUAGE sql STABLE
            AS $fn$
                SELECT coalesce(
                    nullif(current_setting('request.jwt.claim.email', true), ''),
                    nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email'
                )::text
            $fn$;
        GRANT EXECUTE ON FUNCTION auth.email() TO anon, authenticated, service_role;
    END IF;
END
$platform$;
