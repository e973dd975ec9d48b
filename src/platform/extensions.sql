-- The `extensions` schema, where Supabase installs extensions (`create extension ...
-- with schema extensions`), with the two every project gets: uuid-ossp and pgcrypto,
-- installed there unless the server lacks them or they are installed already.
DO $platform$
DECLARE
    ext text;
BEGIN
    IF to_regnamespace('extensions') IS NULL THEN
        CREATE SCHEMA extensions;
        GRANT USAGE ON SCHEMA extensions TO anon, authenticated, service_role;
    END IF;
    FOREACH ext IN ARRAY ARRAY['uuid-ossp', 'pgcrypto'] LOOP
        IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = ext)
           AND EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = ext) THEN
            EXECUTE format('CREATE EXTENSION %I WITH SCHEMA extensions', ext);
        END IF;
    END LOOP;
END
$platform$;
