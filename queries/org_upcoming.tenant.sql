-- Dashboard, as the browser sends it: org scope from RLS only ($1 bound, unused).
SELECT id, provider_id, contact_id, scheduled_at, ends_at, status
FROM appointments
WHERE scheduled_at >= $2
  AND status IN ('booked', 'confirmed')
ORDER BY scheduled_at
LIMIT 100
