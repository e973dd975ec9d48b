-- Dashboard: a contact's latest appointments with the provider's name.
SELECT a.id, a.scheduled_at, a.status, p.name AS provider
FROM appointments a
JOIN providers p ON p.id = a.provider_id
WHERE a.org_id = $1
  AND a.contact_id = $2
ORDER BY a.scheduled_at DESC
LIMIT 50
