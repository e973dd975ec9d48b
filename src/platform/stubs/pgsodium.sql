-- pgsodium, stubbed: the `pgsodium` schema with its key table and key roles, and the
-- functions projects call beside Vault (`randombytes_buf`, the deterministic AEAD
-- encrypt/decrypt by key id and its nonce generator), with pgsodium's signatures.
-- Nothing is encrypted: encrypt and decrypt return the message as given.
DO $stub$
DECLARE
    role_name text;
BEGIN
    FOREACH role_name IN ARRAY ARRAY['pgsodium_keyiduser', 'pgsodium_keyholder', 'pgsodium_keymaker'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = role_name) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
            END;
        END IF;
    END LOOP;
    IF to_regnamespace('pgsodium') IS NULL THEN
        CREATE SCHEMA pgsodium;
    END IF;

    IF to_regtype('pgsodium.key_status') IS NULL THEN
        CREATE TYPE pgsodium.key_status AS ENUM ('default', 'valid', 'invalid', 'expired');
    END IF;
    IF to_regtype('pgsodium.key_type') IS NULL THEN
        CREATE TYPE pgsodium.key_type AS ENUM ('aead-ietf', 'aead-det', 'hmacsha512',
            'hmacsha256', 'auth', 'shorthash', 'generichash', 'kdf', 'secretbox',
            'secretstream', 'stream_xchacha20');
    END IF;
    IF to_regclass('pgsodium.key') IS NULL THEN
        CREATE TABLE pgsodium.key (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            status pgsodium.key_status DEFAULT 'valid',
            created timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
            expires timestamptz,
            key_type pgsodium.key_type,
            key_id bigint,
            key_context bytea DEFAULT '\x7067736f6469756d',
            name text UNIQUE,
            associated_data text DEFAULT 'associated',
            raw_key bytea,
            raw_key_nonce bytea,
            parent_key uuid REFERENCES pgsodium.key (id),
            comment text,
            user_data text
        );
    END IF;

    IF to_regprocedure('pgsodium.randombytes_buf(integer)') IS NULL THEN
        CREATE FUNCTION pgsodium.randombytes_buf(size integer) RETURNS bytea
        LANGUAGE sql VOLATILE
        AS $fn$
            SELECT coalesce(decode(string_agg(lpad(to_hex(floor(random() * 256)::int), 2, '0'), ''), 'hex'), '')
              FROM generate_series(1, size)
        $fn$;
    END IF;
    IF to_regprocedure('pgsodium.crypto_aead_det_noncegen()') IS NULL THEN
        CREATE FUNCTION pgsodium.crypto_aead_det_noncegen() RETURNS bytea
        LANGUAGE sql VOLATILE
        AS $fn$ SELECT pgsodium.randombytes_buf(16) $fn$;
    END IF;
    IF to_regprocedure('pgsodium.crypto_aead_det_encrypt(bytea, bytea, uuid, bytea)') IS NULL THEN
        CREATE FUNCTION pgsodium.crypto_aead_det_encrypt(
            message bytea, additional bytea, key_uuid uuid, nonce bytea DEFAULT NULL)
        RETURNS bytea LANGUAGE sql IMMUTABLE
        AS $fn$ SELECT message $fn$;
    END IF;
    IF to_regprocedure('pgsodium.crypto_aead_det_decrypt(bytea, bytea, uuid, bytea)') IS NULL THEN
        CREATE FUNCTION pgsodium.crypto_aead_det_decrypt(
            message bytea, additional bytea, key_uuid uuid, nonce bytea DEFAULT NULL)
        RETURNS bytea LANGUAGE sql IMMUTABLE
        AS $fn$ SELECT message $fn$;
    END IF;
END
$stub$;
