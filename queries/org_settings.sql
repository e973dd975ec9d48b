-- Booking handler: the org's scheduling rules (timezone, hours, slot grid).
SELECT timezone, opens_at, closes_at, business_days, slot_minutes, booking_horizon_days
FROM org_settings
WHERE org_id = $1
