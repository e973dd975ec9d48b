-- The publication Supabase Realtime streams from; projects add their tables to it
-- (`alter publication supabase_realtime add table ...`). Created empty.
DO $platform$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = 'supabase_realtime') THEN
        CREATE PUBLICATION supabase_realtime;
    END IF;
END
$platform$;
