-- Supabase's search_path, `"$user", public, extensions`, so that extension functions
-- resolve unqualified (uuid_generate_v4(), crypt()). Set on the database, so every new
-- session (and `RESET ALL`, see platform::RESTORE_SEARCH_PATH) gets it. Left alone
-- where the database has a search_path of its own, or where the session's already
-- names `extensions` (Supabase sets it on its roles).
DO $platform$
BEGIN
    IF NOT EXISTS (
           SELECT 1 FROM pg_db_role_setting s, unnest(s.setconfig) AS cfg
           WHERE s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
             AND s.setrole = 0 AND cfg LIKE 'search\_path=%')
       AND NOT 'extensions' = ANY (
           SELECT btrim(part) FROM unnest(string_to_array(current_setting('search_path'), ',')) AS part)
    THEN
        EXECUTE format('ALTER DATABASE %I SET search_path = "$user", public, extensions',
                       current_database());
    END IF;
END
$platform$;
