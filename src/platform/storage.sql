-- The `storage` schema: buckets, the objects in them (row-level security on, so a
-- project's storage policies decide who sees what), and the path helpers those
-- policies call, e.g. `(storage.foldername(name))[1] = auth.uid()::text`.
DO $platform$
BEGIN
    IF to_regnamespace('storage') IS NULL THEN
        CREATE SCHEMA storage;
        GRANT USAGE ON SCHEMA storage TO anon, authenticated, service_role;
    END IF;

    IF to_regclass('storage.buckets') IS NULL THEN
        CREATE TABLE storage.buckets (
            id text PRIMARY KEY,
            name text NOT NULL UNIQUE,
            owner uuid,
            owner_id text,
            public boolean NOT NULL DEFAULT false,
            file_size_limit bigint,
            allowed_mime_types text[],
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

    -- The folders of an object's path: 'a/b/c.png' -> {a,b}.
    IF to_regprocedure('storage.foldername(text)') IS NULL THEN
        CREATE FUNCTION storage.foldername(name text) RETURNS text[]
            LANGUAGE sql IMMUTABLE
            AS $fn$
                SELECT parts[1 : cardinality(parts) - 1]
                FROM string_to_array(name, '/') AS parts
            $fn$;
        GRANT EXECUTE ON FUNCTION storage.foldername(text) TO anon, authenticated, service_role;
    END IF;

    -- The last part of an object's path: 'a/b/c.png' -> 'c.png'.
    IF to_regprocedure('storage.filename(text)') IS NULL THEN
        CREATE FUNCTION storage.filename(name text) RETURNS text
            LANGUAGE sql IMMUTABLE
            AS $fn$
                SELECT parts[cardinality(parts)]
                FROM string_to_array(name, '/') AS parts
            $fn$;
        GRANT EXECUTE ON FUNCTION storage.filename(text) TO anon, authenticated, service_role;
    END IF;

    -- What follows the file name's last dot: 'a/b/c.tar.gz' -> 'gz'. Like Supabase's,
    -- a name without a dot is its own extension.
    IF to_regprocedure('storage.extension(text)') IS NULL THEN
        CREATE FUNCTION storage.extension(name text) RETURNS text
            LANGUAGE sql IMMUTABLE
            AS $fn$
                SELECT reverse(split_part(reverse(parts[cardinality(parts)]), '.', 1))
                FROM string_to_array(name, '/') AS parts
            $fn$;
        GRANT EXECUTE ON FUNCTION storage.extension(text) TO anon, authenticated, service_role;
    END IF;
END
$platform$;
