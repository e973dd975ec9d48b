-- The `storage` schema: buckets, the objects in them (row-level security on, so a
-- project's storage policies decide who sees what), the multipart-upload and
-- analytics-bucket tables Supabase Storage keeps beside them, and the path helpers
-- those policies call, e.g. `(storage.foldername(name))[1] = auth.uid()::text`.
-- Columns follow Supabase Storage's current schema (`avif_autodetection`, `type`).
DO $platform$
BEGIN
    IF to_regnamespace('storage') IS NULL THEN
        CREATE SCHEMA storage;
        GRANT USAGE ON SCHEMA storage TO anon, authenticated, service_role;
    END IF;

    IF to_regtype('storage.buckettype') IS NULL THEN
        CREATE TYPE storage.buckettype AS ENUM ('STANDARD', 'ANALYTICS', 'VECTOR');
    END IF;

    IF to_regclass('storage.buckets') IS NULL THEN
        CREATE TABLE storage.buckets (
            id text PRIMARY KEY,
            name text NOT NULL UNIQUE,
            owner uuid,
            owner_id text,
            public boolean DEFAULT false,
            avif_autodetection boolean DEFAULT false,
            file_size_limit bigint,
            allowed_mime_types text[],
            type storage.buckettype NOT NULL DEFAULT 'STANDARD',
            created_at timestamptz DEFAULT now(),
            updated_at timestamptz DEFAULT now()
        );
        ALTER TABLE storage.buckets ENABLE ROW LEVEL SECURITY;
        GRANT ALL ON storage.buckets TO anon, authenticated, service_role;
    END IF;

    IF to_regclass('storage.objects') IS NULL THEN
        CREATE TABLE storage.objects (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            bucket_id text REFERENCES storage.buckets (id),
            name text,
            owner uuid,
            owner_id text,
            metadata jsonb,
            user_metadata jsonb,
            path_tokens text[] GENERATED ALWAYS AS (string_to_array(name, '/')) STORED,
            version text,
            created_at timestamptz DEFAULT now(),
            updated_at timestamptz DEFAULT now(),
            last_accessed_at timestamptz DEFAULT now(),
            UNIQUE (bucket_id, name)
        );
        ALTER TABLE storage.objects ENABLE ROW LEVEL SECURITY;
        GRANT ALL ON storage.objects TO anon, authenticated, service_role;
    END IF;

    IF to_regclass('storage.s3_multipart_uploads') IS NULL THEN
        CREATE TABLE storage.s3_multipart_uploads (
            id text PRIMARY KEY,
            in_progress_size bigint NOT NULL DEFAULT 0,
            upload_signature text NOT NULL,
            bucket_id text NOT NULL REFERENCES storage.buckets (id),
            key text COLLATE "C" NOT NULL,
            version text NOT NULL,
            owner_id text,
            created_at timestamptz NOT NULL DEFAULT now(),
            user_metadata jsonb
        );
        ALTER TABLE storage.s3_multipart_uploads ENABLE ROW LEVEL SECURITY;
        GRANT ALL ON storage.s3_multipart_uploads TO service_role;
    END IF;

    IF to_regclass('storage.s3_multipart_uploads_parts') IS NULL THEN
        CREATE TABLE storage.s3_multipart_uploads_parts (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            upload_id text NOT NULL REFERENCES storage.s3_multipart_uploads (id) ON DELETE CASCADE,
            size bigint NOT NULL DEFAULT 0,
            part_number integer NOT NULL,
            bucket_id text NOT NULL REFERENCES storage.buckets (id),
            key text COLLATE "C" NOT NULL,
            etag text NOT NULL,
            owner_id text,
            version text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT now()
        );
        ALTER TABLE storage.s3_multipart_uploads_parts ENABLE ROW LEVEL SECURITY;
        GRANT ALL ON storage.s3_multipart_uploads_parts TO service_role;
    END IF;

    IF to_regclass('storage.buckets_analytics') IS NULL THEN
        CREATE TABLE storage.buckets_analytics (
            id text PRIMARY KEY,
            type storage.buckettype NOT NULL DEFAULT 'ANALYTICS',
            format text NOT NULL DEFAULT 'ICEBERG',
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        ALTER TABLE storage.buckets_analytics ENABLE ROW LEVEL SECURITY;
        GRANT ALL ON storage.buckets_analytics TO service_role;
    END IF;

    -- The parts of an object's path, e.g. 'a/b/c.tar.gz': storage.foldername, its
    -- folders ({a,b}); storage.filename, its last part ('c.tar.gz'); storage.extension,
    -- what follows the file name's last dot ('gz'; like Supabase's, a name without a
    -- dot is its own extension).
    DECLARE
        helper record;
    BEGIN
        FOR helper IN SELECT * FROM (VALUES
            ('foldername', 'text[]', 'parts[1 : cardinality(parts) - 1]'),
            ('filename', 'text', 'parts[cardinality(parts)]'),
            ('extension', 'text', $$reverse(split_part(reverse(parts[cardinality(parts)]), '.', 1))$$)
        ) AS h (name, result_type, part)
        LOOP
            CONTINUE WHEN to_regprocedure(format('storage.%I(text)', helper.name)) IS NOT NULL;
            -- (The body keeps the indentation of the former one-per-helper definitions.)
            EXECUTE format($create$
            CREATE FUNCTION storage.%I(name text) RETURNS %s
            LANGUAGE sql IMMUTABLE
            AS $fn$
                SELECT %s
                FROM string_to_array(name, '/') AS parts
            $fn$
            $create$, helper.name, helper.result_type, helper.part);
            EXECUTE format('GRANT EXECUTE ON FUNCTION storage.%I(text) TO anon, authenticated, service_role',
                           helper.name);
        END LOOP;
    END;
END
$platform$;
