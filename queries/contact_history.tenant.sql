-- Dashboard, as the browser sends it: org scope from RLS only ($1 bound, unused).
SELECT a.id, a.scheduled_at, a.status, p.name AS provider
FROM appointments a
JOIN providers p ON p.id = a.provider_id
WHERE a.contact_id = $2
ORDER BY a.scheduled_at DESC
LIMIT 50
