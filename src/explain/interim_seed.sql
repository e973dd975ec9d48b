-- INTERIM seed for `explain --before` until seed::seed_database lands on main (a copy of
-- tests/fixtures/dev_seed.sql): __ORGS__ orgs with Zipf-like skew, about __APPTS__
-- appointments, no provider overlaps (V6 holds). Deterministic: ids are md5s.
CREATE TEMP TABLE org_n AS
WITH w AS (SELECT i, 1.0 / i AS w FROM generate_series(1, __ORGS__) i)
SELECT i, md5('org' || i)::uuid AS id,
       greatest(20, (__APPTS__ * w / (SELECT sum(w) FROM w))::int) AS appts
FROM w;
ALTER TABLE org_n ADD COLUMN providers int, ADD COLUMN contacts int;
UPDATE org_n SET providers = greatest(2, appts / 2000), contacts = greatest(5, appts / 10);
INSERT INTO orgs (id, name, slug, created_at)
SELECT id, 'Org ' || i, 'org-' || i, now() - interval '400 days' FROM org_n;
INSERT INTO org_settings (org_id) SELECT id FROM org_n;
INSERT INTO members (org_id, user_id, role)
SELECT n.id, md5('member' || n.i || '-' || m)::uuid, CASE WHEN m = 1 THEN 'owner' ELSE 'staff' END
FROM org_n n, generate_series(1, 3) m;
INSERT INTO providers (id, org_id, name, email, specialty)
SELECT md5(n.id::text || 'p' || p)::uuid, n.id, 'Provider ' || p, 'p' || p || '@x.test', 'general'
FROM org_n n, generate_series(1, n.providers) p;
INSERT INTO contacts (id, org_id, first_name, last_name, email, phone)
SELECT md5(n.id::text || 'c' || c)::uuid, n.id, 'First' || c, 'Last' || c, 'c' || c || '@x.test', '555' || c
FROM org_n n, generate_series(1, n.contacts) c;
-- Appointment a of an org goes to provider a % providers, in that provider's next free
-- 30-minute slot: 16 a day from 09:00 UTC, starting 300 days ago.
INSERT INTO appointments (org_id, provider_id, contact_id, scheduled_at, ends_at, status, source)
SELECT n.id,
       md5(n.id::text || 'p' || (1 + a % n.providers))::uuid,
       md5(n.id::text || 'c' || (1 + (a * 7919) % n.contacts))::uuid,
       s.at, s.at + interval '30 minutes',
       (ARRAY['booked','confirmed','completed','completed','cancelled','no_show'])[1 + (a % 6)],
       (ARRAY['voice','web','phone'])[1 + (a % 3)]
FROM org_n n
CROSS JOIN LATERAL generate_series(0, n.appts - 1) a
CROSS JOIN LATERAL (SELECT date_trunc('day', now()) - interval '300 days'
    + ((a / n.providers) / 16) * interval '1 day' + interval '9 hours'
    + ((a / n.providers) % 16) * interval '30 minutes' AS at) s;
DROP TABLE org_n;
ANALYZE;
