-- supabase_vault, stubbed: the `vault` schema with `vault.secrets`, the
-- `vault.decrypted_secrets` view and `vault.create_secret` / `vault.update_secret`,
-- with Supabase Vault's names, columns and signatures. Nothing is encrypted: the
-- stub keeps the secret as given and "decrypts" it to itself — a scratch database's
-- stand-in, never a place for real secrets. Only the service role may use it.
DO $stub$
BEGIN
    IF to_regnamespace('vault') IS NULL THEN
        CREATE SCHEMA vault;
    END IF;
    GRANT USAGE ON SCHEMA vault TO service_role;

    IF to_regclass('vault.secrets') IS NULL THEN
        CREATE TABLE vault.secrets (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            name text,
            description text NOT NULL DEFAULT '',
            secret text NOT NULL,
            key_id uuid,
            nonce bytea,
            created_at timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
            updated_at timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP
        );
        CREATE UNIQUE INDEX secrets_name_idx ON vault.secrets (name) WHERE name IS NOT NULL;
        GRANT ALL ON vault.secrets TO service_role;
    END IF;

    IF to_regclass('vault.decrypted_secrets') IS NULL THEN
        CREATE VIEW vault.decrypted_secrets AS
            SELECT s.id, s.name, s.description, s.secret, s.secret AS decrypted_secret,
                   s.key_id, s.nonce, s.created_at, s.updated_at
              FROM vault.secrets s;
        GRANT ALL ON vault.decrypted_secrets TO service_role;
    END IF;

    IF to_regprocedure('vault.create_secret(text, text, text, uuid)') IS NULL THEN
        CREATE FUNCTION vault.create_secret(
            new_secret text, new_name text DEFAULT NULL, new_description text DEFAULT '',
            new_key_id uuid DEFAULT NULL)
        RETURNS uuid LANGUAGE sql SET search_path = ''
        AS $fn$
            INSERT INTO vault.secrets (secret, name, description)
            VALUES (new_secret, new_name, new_description)
            RETURNING id
        $fn$;
        REVOKE ALL ON FUNCTION vault.create_secret(text, text, text, uuid) FROM PUBLIC;
        GRANT EXECUTE ON FUNCTION vault.create_secret(text, text, text, uuid) TO service_role;
    END IF;

    IF to_regprocedure('vault.update_secret(uuid, text, text, text, uuid)') IS NULL THEN
        CREATE FUNCTION vault.update_secret(
            secret_id uuid, new_secret text DEFAULT NULL, new_name text DEFAULT NULL,
            new_description text DEFAULT NULL, new_key_id uuid DEFAULT NULL)
        RETURNS void LANGUAGE sql SET search_path = ''
        AS $fn$
            UPDATE vault.secrets s
               SET secret = coalesce(new_secret, s.secret),
                   name = coalesce(new_name, s.name),
                   description = coalesce(new_description, s.description),
                   updated_at = now()
             WHERE s.id = secret_id
        $fn$;
        REVOKE ALL ON FUNCTION vault.update_secret(uuid, text, text, text, uuid) FROM PUBLIC;
        GRANT EXECUTE ON FUNCTION vault.update_secret(uuid, text, text, text, uuid) TO service_role;
    END IF;
END
$stub$;
