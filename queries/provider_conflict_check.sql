-- Booking handler, step 2: does the provider already have a non-cancelled appointment
-- overlapping the requested slot [$3, $4)? (PostgREST: .eq('org_id').eq('provider_id')
-- .neq('status','cancelled').lt('scheduled_at', end).gt('ends_at', start).limit(1))
SELECT id
FROM appointments
WHERE org_id = $1
  AND provider_id = $2
  AND status <> 'cancelled'
  AND scheduled_at < $4
  AND ends_at > $3
LIMIT 1
