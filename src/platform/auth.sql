-- The `auth` schema as projects use it: the users table their foreign keys and
-- triggers point at, the tables Supabase Auth keeps beside it (identities, sessions,
-- MFA factors and challenges, refresh and one-time tokens, SSO and SAML providers, the
-- audit log, PKCE flow state) with their enum types, keys and foreign keys, and the
-- helpers their policies call. The helpers read the JWT claims PostgREST puts in
-- `request.jwt.claims` for each request (and the older one-setting-per-claim form,
-- `request.jwt.claim.sub`, that Supabase still honours). Columns and types follow
-- Supabase Auth's current schema; nothing here runs Auth's logic.
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
            is_anonymous boolean NOT NULL DEFAULT false,
            confirmation_token varchar(255),
            recovery_token varchar(255),
            email_change_token_new varchar(255),
            email_change varchar(255),
            email_change_sent_at timestamptz,
            email_change_token_current varchar(255) DEFAULT '',
            email_change_confirm_status smallint DEFAULT 0
                CHECK (email_change_confirm_status BETWEEN 0 AND 2),
            phone_change text DEFAULT '',
            phone_change_token varchar(255) DEFAULT '',
            phone_change_sent_at timestamptz,
            reauthentication_token varchar(255) DEFAULT '',
            reauthentication_sent_at timestamptz
        );
        CREATE INDEX users_instance_id_email_idx ON auth.users (instance_id, lower(email::text));
        GRANT ALL ON auth.users TO supabase_auth_admin, service_role;
    END IF;

    -- Supabase Auth's enum types.
    DECLARE
        kind record;
    BEGIN
        FOR kind IN SELECT * FROM (VALUES
            ('aal_level', ARRAY['aal1', 'aal2', 'aal3']),
            ('code_challenge_method', ARRAY['s256', 'plain']),
            ('factor_status', ARRAY['unverified', 'verified']),
            ('factor_type', ARRAY['totp', 'webauthn', 'phone']),
            ('one_time_token_type', ARRAY['confirmation_token', 'reauthentication_token',
                'recovery_token', 'email_change_token_new', 'email_change_token_current',
                'phone_change_token'])
        ) AS k (name, labels)
        LOOP
            CONTINUE WHEN to_regtype(format('auth.%I', kind.name)) IS NOT NULL;
            EXECUTE format('CREATE TYPE auth.%I AS ENUM (%s)', kind.name,
                           (SELECT string_agg(quote_literal(l), ', ') FROM unnest(kind.labels) AS l));
        END LOOP;
    END;

    -- The tables Supabase Auth keeps beside auth.users, each created where missing.
    IF to_regclass('auth.identities') IS NULL THEN
        CREATE TABLE auth.identities (
            provider_id text NOT NULL,
            user_id uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
            identity_data jsonb NOT NULL,
            provider text NOT NULL,
            last_sign_in_at timestamptz,
            created_at timestamptz,
            updated_at timestamptz,
            email text GENERATED ALWAYS AS (lower(identity_data ->> 'email')) STORED,
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            UNIQUE (provider_id, provider)
        );
        GRANT ALL ON auth.identities TO supabase_auth_admin;
        CREATE INDEX identities_user_id_idx ON auth.identities (user_id);
    END IF;

    IF to_regclass('auth.mfa_factors') IS NULL THEN
        CREATE TABLE auth.mfa_factors (
            id uuid PRIMARY KEY,
            user_id uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
            friendly_name text,
            factor_type auth.factor_type NOT NULL,
            status auth.factor_status NOT NULL,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            secret text,
            phone text,
            last_challenged_at timestamptz,
            web_authn_credential jsonb,
            web_authn_aaguid uuid
        );
        GRANT ALL ON auth.mfa_factors TO supabase_auth_admin;
        CREATE INDEX factor_id_created_at_idx ON auth.mfa_factors (user_id, created_at);
    END IF;

    IF to_regclass('auth.sessions') IS NULL THEN
        CREATE TABLE auth.sessions (
            id uuid PRIMARY KEY,
            user_id uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
            created_at timestamptz,
            updated_at timestamptz,
            factor_id uuid,
            aal auth.aal_level,
            not_after timestamptz,
            refreshed_at timestamp,
            user_agent text,
            ip inet,
            tag text
        );
        GRANT ALL ON auth.sessions TO supabase_auth_admin;
        CREATE INDEX sessions_user_id_idx ON auth.sessions (user_id);
    END IF;

    IF to_regclass('auth.mfa_challenges') IS NULL THEN
        CREATE TABLE auth.mfa_challenges (
            id uuid PRIMARY KEY,
            factor_id uuid NOT NULL REFERENCES auth.mfa_factors (id) ON DELETE CASCADE,
            created_at timestamptz NOT NULL,
            verified_at timestamptz,
            ip_address inet NOT NULL,
            otp_code text,
            web_authn_session_data jsonb
        );
        GRANT ALL ON auth.mfa_challenges TO supabase_auth_admin;
    END IF;

    IF to_regclass('auth.mfa_amr_claims') IS NULL THEN
        CREATE TABLE auth.mfa_amr_claims (
            session_id uuid NOT NULL REFERENCES auth.sessions (id) ON DELETE CASCADE,
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            authentication_method text NOT NULL,
            id uuid PRIMARY KEY,
            UNIQUE (session_id, authentication_method)
        );
        GRANT ALL ON auth.mfa_amr_claims TO supabase_auth_admin;
    END IF;

    IF to_regclass('auth.refresh_tokens') IS NULL THEN
        CREATE TABLE auth.refresh_tokens (
            instance_id uuid,
            id bigserial PRIMARY KEY,
            token varchar(255) UNIQUE,
            user_id varchar(255),
            revoked boolean,
            created_at timestamptz,
            updated_at timestamptz,
            parent varchar(255),
            session_id uuid REFERENCES auth.sessions (id) ON DELETE CASCADE
        );
        GRANT ALL ON auth.refresh_tokens TO supabase_auth_admin;
        GRANT ALL ON SEQUENCE auth.refresh_tokens_id_seq TO supabase_auth_admin;
    END IF;

    IF to_regclass('auth.one_time_tokens') IS NULL THEN
        CREATE TABLE auth.one_time_tokens (
            id uuid PRIMARY KEY,
            user_id uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
            token_type auth.one_time_token_type NOT NULL,
            token_hash text NOT NULL CHECK (char_length(token_hash) > 0),
            relates_to text NOT NULL,
            created_at timestamp NOT NULL DEFAULT now(),
            updated_at timestamp NOT NULL DEFAULT now(),
            UNIQUE (user_id, token_type)
        );
        GRANT ALL ON auth.one_time_tokens TO supabase_auth_admin;
    END IF;

    IF to_regclass('auth.audit_log_entries') IS NULL THEN
        CREATE TABLE auth.audit_log_entries (
            instance_id uuid,
            id uuid PRIMARY KEY,
            payload json,
            created_at timestamptz,
            ip_address varchar(64) NOT NULL DEFAULT ''
        );
        GRANT ALL ON auth.audit_log_entries TO supabase_auth_admin;
    END IF;

    IF to_regclass('auth.instances') IS NULL THEN
        CREATE TABLE auth.instances (
            id uuid PRIMARY KEY,
            uuid uuid,
            raw_base_config text,
            created_at timestamptz,
            updated_at timestamptz
        );
        GRANT ALL ON auth.instances TO supabase_auth_admin;
    END IF;

    IF to_regclass('auth.flow_state') IS NULL THEN
        CREATE TABLE auth.flow_state (
            id uuid PRIMARY KEY,
            user_id uuid,
            auth_code text,
            code_challenge_method auth.code_challenge_method,
            code_challenge text,
            provider_type text NOT NULL,
            provider_access_token text,
            provider_refresh_token text,
            created_at timestamptz,
            updated_at timestamptz,
            authentication_method text NOT NULL,
            auth_code_issued_at timestamptz
        );
        GRANT ALL ON auth.flow_state TO supabase_auth_admin;
    END IF;

    IF to_regclass('auth.sso_providers') IS NULL THEN
        CREATE TABLE auth.sso_providers (
            id uuid PRIMARY KEY,
            resource_id text CHECK (resource_id IS NULL OR char_length(resource_id) > 0),
            created_at timestamptz,
            updated_at timestamptz,
            disabled boolean
        );
        GRANT ALL ON auth.sso_providers TO supabase_auth_admin;
    END IF;

    IF to_regclass('auth.sso_domains') IS NULL THEN
        CREATE TABLE auth.sso_domains (
            id uuid PRIMARY KEY,
            sso_provider_id uuid NOT NULL REFERENCES auth.sso_providers (id) ON DELETE CASCADE,
            domain text NOT NULL CHECK (char_length(domain) > 0),
            created_at timestamptz,
            updated_at timestamptz
        );
        GRANT ALL ON auth.sso_domains TO supabase_auth_admin;
    END IF;

    IF to_regclass('auth.saml_providers') IS NULL THEN
        CREATE TABLE auth.saml_providers (
            id uuid PRIMARY KEY,
            sso_provider_id uuid NOT NULL REFERENCES auth.sso_providers (id) ON DELETE CASCADE,
            entity_id text NOT NULL UNIQUE CHECK (char_length(entity_id) > 0),
            metadata_xml text NOT NULL CHECK (char_length(metadata_xml) > 0),
            metadata_url text CHECK (metadata_url IS NULL OR char_length(metadata_url) > 0),
            attribute_mapping jsonb,
            created_at timestamptz,
            updated_at timestamptz,
            name_id_format text
        );
        GRANT ALL ON auth.saml_providers TO supabase_auth_admin;
    END IF;

    IF to_regclass('auth.saml_relay_states') IS NULL THEN
        CREATE TABLE auth.saml_relay_states (
            id uuid PRIMARY KEY,
            sso_provider_id uuid NOT NULL REFERENCES auth.sso_providers (id) ON DELETE CASCADE,
            request_id text NOT NULL CHECK (char_length(request_id) > 0),
            for_email text,
            redirect_to text,
            created_at timestamptz,
            updated_at timestamptz,
            flow_state_id uuid REFERENCES auth.flow_state (id) ON DELETE CASCADE
        );
        GRANT ALL ON auth.saml_relay_states TO supabase_auth_admin;
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
