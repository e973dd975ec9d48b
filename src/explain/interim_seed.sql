-- INTERIM seed for `explain --before` until the seed module (seed::seed_database) lands
-- on main: __ORGS__ orgs with Zipf-like skew, about __APPTS__ appointments, no provider
-- overlaps (V6 holds). Deterministic (setseed).
SELECT setseed(0.42);
INSERT INTO orgs (id, name, slug, created_at)
SELECT md5('org' || i)::uuid, 'Org ' || i, 'org-' || i, now() - interval '400 days'
FROM generate_series(1, __ORGS__) i;
INSERT INTO org_settings (org_id) SELECT id FROM orgs;
INSERT INTO members (org_id, user_id, role)
SELECT o.id, md5('member' || o.slug || m)::uuid, CASE WHEN m = 1 THEN 'owner' ELSE 'staff' END
FROM orgs o, generate_series(1, 3) m;
CREATE TEMP TABLE org_w AS
SELECT id, row_number() OVER (ORDER BY slug COLLATE "C") AS rk FROM orgs;
CREATE TEMP TABLE org_n AS
SELECT o.id, greatest(20, (__APPTS__ * (1.0 / rk) / (SELECT sum(1.0 / rk) FROM org_w))::int) AS appts
FROM org_w o;
INSERT INTO providers (id, org_id, name, email, specialty)
SELECT md5(n.id::text || 'p' || p)::uuid, n.id, 'Provider ' || p, 'p' || p || '@x.test', 'general'
FROM org_n n, generate_series(1, greatest(2, n.appts / 2000)) p;
INSERT INTO contacts (id, org_id, first_name, last_name, email, phone)
SELECT md5(n.id::text || 'c' || c)::uuid, n.id, 'First' || c, 'Last' || c, 'c' || c || '@x.test', '555' || c
FROM org_n n, generate_series(1, greatest(5, n.appts / 10)) c;
CREATE TEMP TABLE prov AS SELECT org_id, id, row_number() OVER (PARTITION BY org_id ORDER BY id) - 1 AS k,
  count(*) OVER (PARTITION BY org_id) AS n FROM providers;
CREATE TEMP TABLE cont AS SELECT org_id, id, row_number() OVER (PARTITION BY org_id ORDER BY id) - 1 AS k,
  count(*) OVER (PARTITION BY org_id) AS n FROM contacts;
CREATE INDEX ON prov (org_id, k); CREATE INDEX ON cont (org_id, k);
ANALYZE prov; ANALYZE cont;
-- Each provider gets consecutive 30-minute slots (no overlaps): slot index a spread over
-- providers, 16 slots a day from 09:00 UTC, starting 300 days ago.
INSERT INTO appointments (org_id, provider_id, contact_id, scheduled_at, ends_at, status, source)
SELECT n.id, p.id, c.id, s.at, s.at + interval '30 minutes',
       (ARRAY['booked','confirmed','completed','completed','cancelled','no_show'])[1 + (a % 6)],
       (ARRAY['voice','web','phone'])[1 + (a % 3)]
FROM org_n n
CROSS JOIN LATERAL generate_series(0, n.appts - 1) a
JOIN prov p ON p.org_id = n.id AND p.k = a % p.n
JOIN cont c ON c.org_id = n.id AND c.k = (a * 7919) % c.n
CROSS JOIN LATERAL (SELECT date_trunc('day', now()) - interval '300 days'
    + ((a / p.n) / 16) * interval '1 day' + interval '9 hours' + ((a / p.n) % 16) * interval '30 minutes' AS at) s;
ANALYZE;
