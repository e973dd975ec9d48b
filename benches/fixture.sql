-- A deterministic booking data set made with generate_series, for the bench benchmark
-- and for developing `dbkit bench` before `dbkit seed` existed. Usage:
--   psql "$URL" -v orgs=50 -v ON_ERROR_STOP=1 -f benches/fixture.sql
-- Tenant sizes are Zipf-like (org i has weight 1/i^0.9: at 50 orgs the largest has ~17x
-- the providers of the median one); appointments fill each provider's slot grid in the
-- org's business hours and timezone from 120 days ago to 60 days ahead, about half the
-- slots taken, one appointment per slot, so no two non-cancelled appointments of a
-- provider overlap. At -v orgs=50 that is about a million appointments.
-- Every id derives from md5 of a name, and random() follows setseed(), so two loads give
-- identical tables.
\set ON_ERROR_STOP 1
SELECT setseed(0.42);

INSERT INTO orgs (id, name, slug, created_at)
SELECT md5('org' || i)::uuid, 'Org ' || i, 'org-' || i, '2025-01-01'::timestamptz
FROM generate_series(1, :orgs) i;

INSERT INTO org_settings (org_id, timezone, opens_at, closes_at, business_days, slot_minutes, booking_horizon_days)
SELECT md5('org' || i)::uuid,
       (ARRAY['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Tokyo', 'Australia/Sydney'])[1 + i % 5],
       (ARRAY['08:00', '09:00'])[1 + i % 2]::time,
       (ARRAY['17:00', '18:00', '16:00'])[1 + i % 3]::time,
       CASE WHEN i % 4 = 0 THEN '{1,2,3,4,5,6}'::smallint[] ELSE '{1,2,3,4,5}'::smallint[] END,
       (ARRAY[30, 15, 30, 60])[1 + i % 4],
       60
FROM generate_series(1, :orgs) i;

INSERT INTO members (org_id, user_id, role)
SELECT md5('org' || i)::uuid, md5('member' || i || '-' || m)::uuid,
       CASE WHEN m = 1 THEN 'owner' WHEN m = 2 THEN 'admin' ELSE 'staff' END
FROM generate_series(1, :orgs) i,
     generate_series(1, greatest(2, round(10 / i ^ 0.9))::int) m;

INSERT INTO providers (id, org_id, name, email, specialty, active)
SELECT md5('provider' || i || '-' || p)::uuid, md5('org' || i)::uuid,
       'Provider ' || i || '-' || p, 'provider' || p || '@org' || i || '.example',
       (ARRAY['dental', 'physio', 'hair', 'vet', 'massage'])[1 + p % 5], true
FROM generate_series(1, :orgs) i,
     generate_series(1, greatest(2, round(100 / i ^ 0.9))::int) p;

INSERT INTO contacts (id, org_id, first_name, last_name, email, phone)
SELECT md5('contact' || i || '-' || c)::uuid, md5('org' || i)::uuid,
       (ARRAY['Ada', 'Ben', 'Chloe', 'Dan', 'Eva', 'Finn', 'Gia', 'Hugo'])[1 + c % 8],
       (ARRAY['Meyer', 'Smith', 'Garcia', 'Tanaka', 'Okafor', 'Rossi', 'Nguyen'])[1 + c % 7],
       'contact' || c || '@org' || i || '.example', '+1555' || lpad((i * 100000 + c)::text, 7, '0')
FROM generate_series(1, :orgs) i,
     generate_series(1, greatest(50, round(20000 / i ^ 0.9))::int) c;

-- One row per (provider, business day, slot), kept with probability 1/2.
INSERT INTO appointments (org_id, provider_id, contact_id, scheduled_at, ends_at, status, source, notes, created_at, updated_at)
SELECT g.org_id, g.provider_id,
       md5('contact' || g.i || '-' || (1 + floor(random() * g.ncontacts))::int)::uuid,
       g.starts, g.starts + make_interval(mins => g.slot_minutes),
       CASE WHEN g.starts < current_date
            THEN (ARRAY['completed', 'completed', 'completed', 'no_show', 'cancelled'])[1 + floor(random() * 5)::int]
            ELSE (ARRAY['booked', 'booked', 'confirmed', 'cancelled'])[1 + floor(random() * 4)::int] END,
       (ARRAY['voice', 'web', 'web', 'phone'])[1 + floor(random() * 4)::int],
       CASE WHEN random() < 0.1 THEN 'first visit' END,
       '2025-01-01'::timestamptz, '2025-01-01'::timestamptz
FROM (
    SELECT i, md5('org' || i)::uuid AS org_id, md5('provider' || i || '-' || p)::uuid AS provider_id,
           greatest(50, round(20000 / i ^ 0.9))::int AS ncontacts, s.slot_minutes,
           ((d::date + s.opens_at + make_interval(mins => k * s.slot_minutes))::timestamp AT TIME ZONE s.timezone) AS starts
    FROM generate_series(1, :orgs) i
    JOIN org_settings s ON s.org_id = md5('org' || i)::uuid
    CROSS JOIN LATERAL generate_series(1, greatest(2, round(100 / i ^ 0.9))::int) p
    CROSS JOIN LATERAL generate_series(current_date - 120, current_date + 60, interval '1 day') d
    CROSS JOIN LATERAL generate_series(0, (extract(epoch FROM s.closes_at - s.opens_at) / 60 / s.slot_minutes)::int - 1) k
    WHERE extract(isodow FROM d) = ANY (s.business_days)
) g
WHERE random() < 0.5;

ANALYZE;
