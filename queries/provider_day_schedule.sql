-- Dashboard: a provider's appointments for one day, with the contact's name.
SELECT a.id, a.scheduled_at, a.ends_at, a.status, c.first_name, c.last_name
FROM appointments a
JOIN contacts c ON c.id = a.contact_id
WHERE a.org_id = $1
  AND a.provider_id = $2
  AND a.scheduled_at >= $3
  AND a.scheduled_at < $3 + interval '1 day'
ORDER BY a.scheduled_at
