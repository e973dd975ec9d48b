-- Booking handler ("what is free on Tuesday?"): the org's slot grid for one day in its
-- timezone, minus the slots that overlap the provider's non-cancelled appointments.
WITH settings AS (
    SELECT timezone, opens_at, closes_at, make_interval(mins => slot_minutes) AS slot
    FROM org_settings
    WHERE org_id = $1
), grid AS (
    SELECT g.slot_start, g.slot_start + s.slot AS slot_end
    FROM settings s,
         generate_series(($3::date + s.opens_at) AT TIME ZONE s.timezone,
                         ($3::date + s.closes_at) AT TIME ZONE s.timezone - s.slot,
                         s.slot) AS g (slot_start)
)
SELECT grid.slot_start, grid.slot_end
FROM grid
WHERE NOT EXISTS (
    SELECT 1
    FROM appointments a
    WHERE a.org_id = $1
      AND a.provider_id = $2
      AND a.status <> 'cancelled'
      AND a.scheduled_at < grid.slot_end
      AND a.ends_at > grid.slot_start
)
ORDER BY grid.slot_start
