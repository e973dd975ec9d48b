-- Booking handler, step 4: the booking itself (PostgREST: .insert(...).select('id')).
-- dbkit runs it inside a transaction it rolls back.
INSERT INTO appointments (org_id, provider_id, contact_id, scheduled_at, ends_at, status, source)
VALUES ($1, $2, $3, $4, $5, 'booked', 'voice')
RETURNING id
