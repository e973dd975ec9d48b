-- Booking handler, step 3 (the report's "optimized" query): does the contact already
-- have an appointment that day? .eq('org_id').eq('contact_id').gte/lt('scheduled_at').limit(1)
SELECT id
FROM appointments
WHERE org_id = $1
  AND contact_id = $2
  AND scheduled_at >= $3
  AND scheduled_at < $4
LIMIT 1
