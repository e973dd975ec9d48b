-- Dashboard, as the browser sends it with the user's JWT: the org comes from RLS,
-- not from a filter ($1 is bound but unused).
SELECT a.id, a.scheduled_at, a.ends_at, a.status, c.first_name, c.last_name
FROM appointments a
JOIN contacts c ON c.id = a.contact_id
WHERE a.provider_id = $2
  AND a.scheduled_at >= $3
  AND a.scheduled_at < $3 + interval '1 day'
ORDER BY a.scheduled_at
