-- Dashboard: the org's next 100 open appointments from a point in time.
SELECT id, provider_id, contact_id, scheduled_at, ends_at, status
FROM appointments
WHERE org_id = $1
  AND scheduled_at >= $2
  AND status IN ('booked', 'confirmed')
ORDER BY scheduled_at
LIMIT 100
